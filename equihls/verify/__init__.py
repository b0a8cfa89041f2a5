"""Stage 6, checks: the compile-time self-check (`selfcheck`), overflow accounting (`overflow`), the symmetry
declaration and certificate (`check`) and the post-quantisation probe (`probe`)."""
