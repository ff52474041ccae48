"""The kinds of component: each kind's registry and the config key it fills, in one map.

Validation, ``nnlab list``, ``compare`` (a component's defaults), sweeps (switching a component by
name) and the docs' component tables all read it; adding a kind is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnlab import data
from nnlab.components import activations, averaging, initializers, optimizers, schedules
from nnlab.options import Registry


@dataclass(frozen=True)
class Kind:
    """One kind of component: its name, its registry, the config path of its mapping, how it is named there."""

    name: str  # 'optimizer'
    registry: Registry
    path: str  # the config key of the component's mapping: 'train.optimizer' ('data' for a dataset)
    by: str = "name"  # the key that picks the component in that mapping

    @property
    def key(self) -> str:
        """How the config names it, for people: 'train.optimizer', 'data.name (options under data:)'."""
        if self.path == "data":
            return "data.name (options under data:)"
        return self.path if self.by == "name" else f"{self.path} (picked by {self.by}:)"


KINDS = (
    Kind("dataset", data.datasets, "data"),
    Kind("preprocessor", data.preprocessors, "data.preprocess"),
    Kind("initializer", initializers.initializers, "model.init"),
    Kind("activation", activations.activations, "model.activation"),
    Kind("optimizer", optimizers.optimizers, "train.optimizer"),
    Kind("schedule", schedules.schedules, "train.schedule"),
    Kind("averaging", averaging.methods, "train.averaging", by="method"),
)


def kind_named(name: str) -> Kind | None:
    """The kind called ``name`` (singular or plural: 'optimizer', 'optimizers'), or None."""
    stem = name[:-1] if name.endswith("s") and name[:-1] in {k.name for k in KINDS} else name
    return next((k for k in KINDS if k.name == stem), None)


def registry_for_key(path: str) -> Registry | None:
    """The registry of the component whose mapping sits at config path ``path`` (train.optimizer), or None."""
    return next((k.registry for k in KINDS if k.path == path), None)
