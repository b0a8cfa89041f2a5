"""Stage 7, numbers: resource and latency estimates (`estimate`), vendor synthesis reports (`synth`) and the project
report (`summary`)."""
