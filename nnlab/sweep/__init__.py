"""Sweeps: grid, random or TPE search over configs, one lifecycle for nnlab sweep, the claims and members
ensembles.  The package is also the Python API's function: nnlab.sweep(file_or_config, params=...) runs a
sweep and returns an nnlab.Sweep (nnlab.api.sweep)."""

from nnlab.modules import callable_module

callable_module(__name__)
