"""nnlab: a command-line lab for deep-learning training tricks, in pure numpy."""

__version__ = "0.1.0"
