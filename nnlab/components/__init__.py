"""The catalogue: initializers, activations, layers, losses, optimizers, schedules, regularizers.

One registry per kind, filled explicitly at the bottom of its module; one function or
class per component, its keyword-only parameters being its YAML options, forward beside
backward.
"""
