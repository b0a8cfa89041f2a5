"""Deep Sets over pairwise Minkowski products (reference top tagger)."""
