"""LorentzNet-lite: one Lorentz group equivariant block on Minkowski products (Pythia top tagger)."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "lorentznet_lite.onnx")   # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")         # bundled test jets (x, y)
