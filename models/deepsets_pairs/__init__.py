"""Deep Sets over pairwise Minkowski products (reference top tagger)."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "deepsets_pairs.onnx")   # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")        # bundled test jets (x, y)
