"""equihls: compile symmetry-equivariant neural networks (ONNX) into fixed-point HLS firmware."""

__version__ = "0.1.0"
