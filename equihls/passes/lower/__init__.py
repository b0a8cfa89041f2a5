"""Passes that lower the remaining ONNX ops onto equihls blocks."""
