"""Stage 7, numbers: resource and latency estimates (`estimate`), their fit on the target (`fit`), vendor
synthesis reports (`synth`) and the project report (`summary`)."""
