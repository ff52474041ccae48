"""Training: the model (one flat parameter buffer), the trainer (the only loop), checkpoints,
gradient checks and per-layer diagnostics."""
