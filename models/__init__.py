"""Bundled reference models and toy data generators for ``equihls``."""
