"""Passes that rewrite lowered graphs into cheaper, bit-identical ones."""
