"""Event generators used to train the bundled reference models."""
