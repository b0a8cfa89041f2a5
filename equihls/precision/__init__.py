"""Stage 3, types: interval inference of every tensor's ap_fixed type, constant quantisation and calibration
(`infer`)."""
