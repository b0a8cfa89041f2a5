"""Stage 1, ONNX in: the source model and its external data (`source`), QONNX Quant nodes (`qonnx_quant`), and the
import into the equihls graph (`onnx_import`)."""
