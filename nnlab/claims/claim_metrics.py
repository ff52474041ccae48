"""What a claim can be judged by: one function per metric, in the ``metrics`` registry.

A metric is a function of one finished run (a ``RunData``: its summary.json, metrics.csv rows and
diagnostics.csv rows) returning a number, or None when the run has nothing to score.  Its keyword-only
parameters are options a claim's ``expect`` gives next to ``metric`` (epochs_to_target's ``target``):
the signature is the schema, as for every component.  Three attributes say how it is read:

- ``higher``: True when a larger value is better (a claim's "better" is in that direction);
- ``percent``: shown in percent, its differences in percentage points (an accuracy);
- ``label(options)``: the name a table column and the expectation show (default: the metric's name);
- ``never``: an infinite value means the run never got there (the table counts those runs).

Adding a metric is one function here, one line in ``metrics``, and one test (docs/contributing.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated

from nnlab.options import Gt, Le, Registry
from nnlab.sweep.task import run_value
from nnlab.text import percent


@dataclass
class RunData:
    """One run of a claim's sweep, as its folder holds it."""

    summary: dict
    history: list = field(default_factory=list)  # metrics.csv rows
    diagnostics: list = field(default_factory=list)  # diagnostics.csv rows

    @property
    def status(self) -> str:
        return self.summary.get("status", "failed")

    @property
    def scored(self) -> bool:
        """A run whose curves count: it completed or diverged (a diverged run scores the worst value)."""
        return self.status in ("completed", "diverged")


def metric(higher: bool, percent: bool = False, label=None, never: bool = False):
    """Mark a function as a claim metric: which direction is better, whether it is an accuracy, its label,
    whether inf means 'never reached'."""
    def mark(fn):
        fn.higher, fn.percent, fn.never = higher, percent, never
        fn.label = label or (lambda options: fn.__name__)
        return fn
    return mark


def _kept(run: RunData, key: str, higher: bool):
    """The metric at the epoch whose weights the run kept (as a sweep scores it); 0 or +inf when it diverged."""
    if not run.scored:
        return None
    return run_value(run.status, run.history, run.summary.get("restored_epoch"), key, 0.0 if higher else math.inf)


def _tested(run: RunData, key: str, higher: bool):
    """The run's own test result (a claim's sweep tests every run); 0 or +inf when it diverged untested."""
    v = (run.summary.get("test") or {}).get(key)
    if v is None and run.status == "diverged":
        return 0.0 if higher else math.inf
    return v


@metric(higher=True, percent=True)
def val_acc(run: RunData):
    """Validation accuracy at the epoch whose weights the run kept."""
    return _kept(run, "val_acc", True)


@metric(higher=False)
def val_loss(run: RunData):
    """Validation loss at the epoch whose weights the run kept."""
    return _kept(run, "val_loss", False)


@metric(higher=False)
def train_loss(run: RunData):
    """Training loss at the epoch whose weights the run kept (an optimization claim's measure)."""
    return _kept(run, "train_loss", False)


@metric(higher=True, percent=True)
def test_acc(run: RunData):
    """The run's test accuracy."""
    return _tested(run, "acc", True)


@metric(higher=False)
def test_loss(run: RunData):
    """The run's test loss."""
    return _tested(run, "loss", False)


@metric(higher=True)
def first_layer_grad_ratio(run: RunData):
    """In epoch 1, the first Dense layer's mean gradient norm over the last's: far below 1 when the gradient
    vanishes on its way back (diagnostics.csv)."""
    rows = [r for r in run.diagnostics if r.get("epoch") == 1 and r.get("grad_norm") is not None]
    if len(rows) < 2 or not rows[-1]["grad_norm"]:
        return None
    return rows[0]["grad_norm"] / rows[-1]["grad_norm"]


@metric(higher=True, percent=True)
def ensemble_test_acc(run: RunData):
    """The test accuracy of the run's ensemble (members or snapshots); the run's own without one."""
    e = ((run.summary.get("ensemble") or {}).get("ensemble") or {}).get("test_acc")
    return e if e is not None else test_acc(run)


@metric(higher=False, label=lambda options: f"epochs to val_acc ≥ {percent(options['target'])}", never=True)
def epochs_to_target(run: RunData, *, target: Annotated[float, Gt(0), Le(1)]):
    """The first epoch whose validation accuracy reaches ``target``; inf when none does (the variant's spread
    is then undefined), None without validation data."""
    if not run.scored:
        return None
    seen = False
    for row in run.history:
        v = row.get("val_acc")
        if v is None:
            continue
        seen = True
        if v >= target:
            return float(row["epoch"])
    return math.inf if seen else None


# The registry, filled explicitly: adding a metric is its function above plus one line here.
metrics = Registry("claim metric", {
    "val_acc": val_acc, "val_loss": val_loss, "test_acc": test_acc, "test_loss": test_loss,
    "train_loss": train_loss, "first_layer_grad_ratio": first_layer_grad_ratio,
    "ensemble_test_acc": ensemble_test_acc, "epochs_to_target": epochs_to_target,
})


def higher_is_better(name: str) -> bool:
    return metrics.get(name).obj.higher


def is_percent(name: str) -> bool:
    return metrics.get(name).obj.percent


def counts_never(name: str) -> bool:
    return metrics.get(name).obj.never


def value(name: str, run: RunData, options: dict | None = None):
    """The metric ``name`` of one run with the claim's options for it (those its signature names)."""
    comp = metrics.get(name)
    opts = {k: v for k, v in (options or {}).items() if k in comp.options}
    return comp.obj(run, **opts)


def label(name: str, options: dict | None = None) -> str:
    comp = metrics.get(name)
    return comp.obj.label({k: v for k, v in (options or {}).items() if k in comp.options})
