"""PELICAN-nano: one permutation-equivariant 2->2 layer on Minkowski products (Pythia top tagger)."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "pelican_nano.onnx")   # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")      # bundled test jets (x, y)
