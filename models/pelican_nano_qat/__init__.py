"""PELICAN-nano-QAT: pelican_nano with Brevitas-quantised channel mixing, shipped as QONNX."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "pelican_nano_qat.onnx")   # the exported QONNX model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")          # bundled test jets (x, y)
