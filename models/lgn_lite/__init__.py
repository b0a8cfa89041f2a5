"""LGN-lite: one Lorentz Clebsch-Gordan layer on four-vectors, invariant readout (Pythia top tagger)."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "lgn_lite.onnx")     # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")    # bundled test jets (x, y)
