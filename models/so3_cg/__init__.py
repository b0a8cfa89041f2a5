"""SO(3)/O(3)-equivariant Clebsch-Gordan reference model on constituent 3-momenta."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "so3_cg.onnx")     # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")  # bundled test events (x)
