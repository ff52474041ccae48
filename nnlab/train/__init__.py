"""Training: the model (one flat parameter buffer), the trainer (the only loop), checkpoints,
gradient checks and per-layer diagnostics.

The package is also the Python API's function: nnlab.train(config, overrides=...) trains a config into a run
folder and returns an nnlab.Run (nnlab.api.train)."""

from nnlab.modules import callable_module

callable_module(__name__)
