"""Authoring helpers: the equihls custom ONNX ops (`onnx_ops`) and their PyTorch front (`torch_ops`)."""
