"""Lowering of the typed equihls graph through hls4ml's extension API into a Vitis HLS project."""
