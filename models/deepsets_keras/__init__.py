"""Deep Sets over pairwise Minkowski products, built in Keras 3 (TensorFlow backend) and exported
to ONNX with tf2onnx: the reference for the Keras route into equihls."""

import os as _os

HERE = _os.path.dirname(_os.path.abspath(__file__))
ONNX_PATH = _os.path.join(HERE, "deepsets_keras.onnx")   # the exported model
SAMPLES_PATH = _os.path.join(HERE, "samples.npz")        # bundled test jets (x, y)
