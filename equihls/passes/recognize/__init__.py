"""Passes that recognise equivariant patterns (Gram matrices, psi, tensor products) in imported ONNX graphs."""
