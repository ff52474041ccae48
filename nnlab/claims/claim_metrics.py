"""What a claim can be judged by: one function per metric, in the ``metrics`` registry.

A metric is a function of one finished run (a ``RunData``: its summary.json, metrics.csv and diagnostics.csv
rows, and on demand its trained network with its data) returning a number, or None when the run has nothing
to score.  Its keyword-only parameters are options a check gives next to ``metric`` (epochs_to_target's
``target``): the signature is the schema, as for every component.  Attributes set by ``@metric``:

- ``higher``: True when a larger value is better (a check's "better" is in that direction);
- ``percent``: shown in percent, its differences in percentage points (an accuracy);
- ``label(options)``: the name a table column and a check show (default: the metric's name);
- ``never``: an infinite value means the run never got there (the table counts those runs).

Values are measured once, when ``nnlab claims run`` finishes a claim, into the claim folder's values.csv;
``nnlab claims report`` reads only that file (and the curves).  Adding a metric is one function here, one
line in ``metrics``, and one test (docs/contributing.md).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml

from nnlab.components.losses import loss_for_task
from nnlab.config import load_config
from nnlab.options import Ge, Gt, Le, Registry
from nnlab.runs import load_model
from nnlab.sweep.task import dataset_for, run_value
from nnlab.text import percent
from nnlab.train import probe

DROPOUT_SAMPLES = 100  # forward passes averaged for the dropout ensemble


@dataclass
class RunData:
    """One run of a claim (or, for a search variant, one whole sweep), as its folder holds it."""

    summary: dict
    history: list = field(default_factory=list)  # metrics.csv rows
    diagnostics: list = field(default_factory=list)  # diagnostics.csv rows
    folder: Path | None = None
    _loaded: tuple | None = None

    @property
    def status(self) -> str:
        return self.summary.get("status", "failed")

    @property
    def scored(self) -> bool:
        """A run whose curves count: it completed or diverged (a diverged run scores the worst value)."""
        return self.status in ("completed", "diverged")

    def planned_epochs(self) -> int | None:
        """train.epochs of the run's config.yaml (None when unreadable)."""
        if self.folder is None:
            return None
        try:
            return int(load_config(self.folder / "config.yaml").train["epochs"])
        except Exception:  # noqa: BLE001 - a damaged config: the epochs done stand in
            return None

    def network(self):
        """(model, loss function, dataset) of a completed run: its config's network with model.npz's weights."""
        if self._loaded is None:
            cfg = load_config(self.folder / "config.yaml")
            data = dataset_for(cfg)
            self._loaded = (load_model(self.folder, data, cfg), loss_for_task(data.task), data)
        return self._loaded


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
    """The run's own test result (a claim's judging runs are all tested); 0 or +inf when it diverged untested."""
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


@metric(higher=True, percent=True)
def train_acc(run: RunData):
    """Accuracy on the training set of the kept weights, measured cleanly after training (no dropout noise, no
    augmentation); 0 when the run diverged."""
    if run.status == "diverged":
        return 0.0
    if run.status != "completed":
        return None
    model, loss_fn, data = run.network()
    return probe.accuracy_and_loss(model, loss_fn, data.x_train, data.y_train)[0]


@metric(higher=False, percent=True)
def gap(run: RunData):
    """The generalization gap: training accuracy (measured cleanly) minus test accuracy, in points."""
    tr, te = train_acc(run), test_acc(run)
    return None if tr is None or te is None else tr - te


@metric(higher=True)
def first_layer_grad_ratio(run: RunData):
    """In epoch 1, the first Dense layer's mean gradient norm over the last's: far below 1 when the gradient
    vanishes on its way back (diagnostics.csv)."""
    rows = [r for r in run.diagnostics if r.get("epoch") == 1 and r.get("grad_norm") is not None]
    if len(rows) < 2 or not rows[-1]["grad_norm"]:
        return None
    return rows[0]["grad_norm"] / rows[-1]["grad_norm"]


@metric(higher=True)
def first_layer_update_ratio(run: RunData):
    """In epoch 1, the first Dense layer's relative weight change over the last's (diagnostics.csv's
    update_ratio): far below 1 when the layers near the input barely change."""
    rows = [r for r in run.diagnostics if r.get("epoch") == 1 and r.get("update_ratio") is not None]
    if len(rows) < 2 or not rows[-1]["update_ratio"]:
        return None
    return rows[0]["update_ratio"] / rows[-1]["update_ratio"]


def _update(run: RunData, epoch: int):
    rows = [r["update_ratio"] for r in run.diagnostics if r.get("epoch") == epoch and r.get("update_ratio") is not None]
    return sum(rows) / len(rows) if rows else None


@metric(higher=False)
def update_ratio(run: RunData, *, epoch: Annotated[int, Ge(1)] = 1):
    """The size of one update: ||ΔW|| / ||W|| on the last step of ``epoch``, mean over the Dense layers
    (diagnostics.csv; CS231n suggests about 1e-3)."""
    return _update(run, epoch) if run.status in ("completed", "diverged") else None


@metric(higher=True)
def update_shrink(run: RunData):
    """The last epoch's update size over the first's (update_ratio, mean over layers): far below 1 when the
    steps keep shrinking (AdaGrad), about 1 when they do not."""
    if not run.diagnostics or run.status != "completed":
        return None
    last = max(r["epoch"] for r in run.diagnostics)
    a, b = _update(run, 1), _update(run, last)
    return None if not a or b is None else b / a


@metric(higher=False)
def loss_rises(run: RunData):
    """How much the training loss goes back up: the sum of its rises from one epoch to the next, over the first
    epoch's loss (0 for a curve that only falls); inf when the run diverged.  With full-batch training an epoch
    is one step, so this is the overshoot-and-correct of CS231n's momentum figure."""
    if run.status == "diverged":
        return math.inf
    losses = [r.get("train_loss") for r in run.history]
    if run.status != "completed" or len(losses) < 2 or any(x is None for x in losses) or not losses[0]:
        return None
    return sum(max(0.0, b - a) for a, b in zip(losses, losses[1:])) / losses[0]


@metric(higher=True)
def diverged(run: RunData):
    """1 for a run whose loss became NaN or infinite, else 0 (its mean over seeds: the divergence rate)."""
    return 1.0 if run.status == "diverged" else 0.0 if run.status == "completed" else None


@metric(higher=True, percent=True)
def ensemble_test_acc(run: RunData):
    """The test accuracy of the run's ensemble (members or snapshots); the run's own without one."""
    e = ((run.summary.get("ensemble") or {}).get("ensemble") or {}).get("test_acc")
    return e if e is not None else test_acc(run)


@metric(higher=True, percent=True, label=lambda options: "mean val_acc over the epochs")
def mean_val_acc(run: RunData):
    """The validation accuracy averaged over every epoch (the area under the learning curve over its length): a
    measure of speed that needs no target; a diverged run's epochs after it diverged count 0."""
    if not run.scored:
        return None
    v = [r.get("val_acc") for r in run.history]
    if not v or any(x is None for x in v):
        return None
    planned = run.planned_epochs() if run.status == "diverged" else len(v)
    return sum(0.0 if x != x else x for x in v) / max(planned or 0, len(v))


@metric(higher=False, label=lambda options: f"epochs to val_acc ≥ {percent(options['target'])}", never=True)
def epochs_to_target(run: RunData, *, target: Annotated[float, Gt(0), Le(1)]):
    """The first epoch whose validation accuracy reaches ``target``; inf when none does, None without
    validation data."""
    return _first_epoch(run, "val_acc", lambda v: v >= target)


@metric(higher=False, label=lambda options: f"epochs to train_loss ≤ {options['target']:g}", never=True)
def epochs_to_loss(run: RunData, *, target: Annotated[float, Gt(0)]):
    """The first epoch whose training loss is at most ``target``; inf when none does (or the run diverged)."""
    if run.status == "diverged":
        return math.inf
    return _first_epoch(run, "train_loss", lambda v: v <= target)


def _first_epoch(run: RunData, key: str, reached):
    if not run.scored:
        return None
    seen = False
    for row in run.history:
        v = row.get(key)
        if v is None:
            continue
        seen = True
        if reached(v):
            return float(row["epoch"])
    return math.inf if seen else None


def _network_metric(fn_name: str, *args, on="x_train"):
    def measure(run: RunData):
        if run.status != "completed" or run.folder is None:
            return None
        model, loss_fn, data = run.network()
        return getattr(probe, fn_name)(model, *([getattr(data, on)] if on else []), *args)
    return measure


@metric(higher=False)
def dead_fraction(run: RunData):
    """The fraction of hidden units never active on any training sample ("dying ReLU"); 0 for activations that
    cannot die."""
    return _network_metric("dead_fraction")(run)


@metric(higher=False)
def zero_fraction(run: RunData):
    """The fraction of hidden activation outputs that are exactly 0 on the training data (after ReLU, about half
    of each layer's neurons are 0: Hung-yi Lee)."""
    return _network_metric("zero_fraction")(run)


@metric(higher=True, label=lambda options: f"weights with |w| < {options['threshold']:g}")
def weight_sparsity(run: RunData, *, threshold: Annotated[float, Gt(0)] = 1e-3):
    """The fraction of Dense weights (not biases) with |w| below ``threshold``: how sparse the network is."""
    if run.status != "completed" or run.folder is None:
        return None
    return probe.weight_sparsity(run.network()[0], threshold)


@metric(higher=True, label=lambda options: f"weight spread of Dense layer {options['layer']}")
def weight_spread(run: RunData, *, layer: Annotated[int, Ge(1)] = 2):
    """How evenly the units of Dense layer ``layer`` spread their weights over their inputs (the participation
    ratio, 1 = all equal, 1/n_in = one input), mean over the units.  Layer 2 by default: its inputs are the
    first hidden layer's units, the ones dropout drops."""
    if run.status != "completed" or run.folder is None:
        return None
    return probe.weight_spread(run.network()[0], layer)


@metric(higher=False)
def weight_norm(run: RunData):
    """The L2 norm of all Dense weights."""
    return _network_metric("weight_norm", on=None)(run)


@metric(higher=False)
def max_unit_norm(run: RunData):
    """The largest L2 norm of one unit's incoming weights (what max-norm bounds)."""
    return _network_metric("max_unit_norm", on=None)(run)


@metric(higher=False)
def flat_fraction(run: RunData):
    """The fraction of hidden activations on the training data where the activation's slope is below 0.05
    (the gradient passes at most 5% through them: a unit sitting on a flat part)."""
    return _network_metric("flat_fraction")(run)


@metric(higher=False)
def dropout_ensemble_gap(run: RunData):
    """How far the weight-scaled network's predictions on the test set lie from the average over
    DROPOUT_SAMPLES random dropout masks: the mean total-variation distance between the two class
    distributions (0: the same predictions)."""
    if run.status != "completed" or run.folder is None:
        return None
    model, _, data = run.network()
    rng = np.random.default_rng(int(run.summary.get("seed", 0)))
    mc = probe.mc_dropout_probs(model, data.x_test, DROPOUT_SAMPLES, rng)
    return float(0.5 * np.abs(mc - probe.softmax_probs(model, data.x_test)).sum(axis=1).mean())


@metric(higher=True, percent=True)
def dropout_ensemble_diff(run: RunData):
    """The explicit ensemble's test accuracy (dropout_ensemble_acc) minus the weight-scaled network's: 0 when
    weight scaling gives what averaging the dropout networks gives."""
    a, b = dropout_ensemble_acc(run), test_acc(run)
    return None if a is None or b is None else a - b


@metric(higher=True, percent=True)
def dropout_ensemble_acc(run: RunData):
    """The test accuracy of the average over DROPOUT_SAMPLES random dropout masks (the explicit ensemble that
    weight scaling approximates)."""
    if run.status != "completed" or run.folder is None:
        return None
    model, _, data = run.network()
    rng = np.random.default_rng(int(run.summary.get("seed", 0)))
    return float((probe.mc_dropout_probs(model, data.x_test, DROPOUT_SAMPLES, rng).argmax(axis=1) == data.y_test).mean())


@metric(higher=True, label=lambda options: f"order of the {options['formula']} difference's error")
def gradient_error_order(run: RunData, *, formula: Literal["centered", "forward"] = "centered",
                         h: Annotated[float, Gt(0)] = 1e-4):
    """log2(err(h) / err(h/2)) of the numerical gradient (``formula``: centered or forward) against backprop on
    the trained network, in float64: about 2 when the error is O(h²), about 1 when it is O(h)."""
    if run.status != "completed" or run.folder is None:
        return None
    model, loss_fn, data = run.network()
    return probe.gradient_error_order(model, loss_fn, data.x_train[:64], data.y_train[:64], formula, h)


@metric(higher=True, percent=True)
def search_test_acc(run: RunData):
    """For a search (a whole sweep per seed): the test accuracy of the configuration it chose."""
    best = run.summary.get("best") or {}
    return (best.get("test") or {}).get("acc") if run.summary.get("kind") == "sweep" else None


@metric(higher=True, percent=True)
def search_val_acc(run: RunData):
    """For a search: the validation accuracy of the configuration it chose (its best trial's mean)."""
    best = run.summary.get("best") or {}
    return best.get("value") if run.summary.get("kind") == "sweep" else None


# The registry, filled explicitly: adding a metric is its function above plus one line here.
metrics = Registry("claim metric", {f.__name__: f for f in (
    val_acc, val_loss, test_acc, test_loss, train_loss, train_acc, gap, first_layer_grad_ratio,
    first_layer_update_ratio, update_ratio, update_shrink, loss_rises, diverged, ensemble_test_acc, mean_val_acc,
    epochs_to_target,
    epochs_to_loss, dead_fraction, zero_fraction, weight_sparsity, weight_spread, weight_norm, max_unit_norm,
    flat_fraction, dropout_ensemble_gap, dropout_ensemble_diff, dropout_ensemble_acc, gradient_error_order, search_test_acc, search_val_acc)})


def higher_is_better(name: str) -> bool:
    return metrics.get(name).obj.higher


def is_percent(name: str) -> bool:
    return metrics.get(name).obj.percent


def counts_never(name: str) -> bool:
    return metrics.get(name).obj.never


def value(name: str, run: RunData, options: dict | None = None):
    """The metric ``name`` of one run with the check's options for it (those its signature names)."""
    comp = metrics.get(name)
    opts = {k: v for k, v in (options or {}).items() if k in comp.options}
    return comp.obj(run, **opts)


def label(name: str, options: dict | None = None) -> str:
    comp = metrics.get(name)
    return comp.obj.label({**_defaults(name), **{k: v for k, v in (options or {}).items() if k in comp.options}})


def _defaults(name: str) -> dict:
    sig = inspect.signature(metrics.get(name).obj)
    return {k: p.default for k, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY
            and p.default is not inspect.Parameter.empty}


def column_key(name: str, options: dict | None = None) -> str:
    """The values.csv column of a metric with its options: ``epochs_to_target[target=0.6]``."""
    opts = {k: v for k, v in sorted((options or {}).items()) if k in metrics.get(name).options}
    return name + ("[" + ",".join(f"{k}={v}" for k, v in opts.items()) + "]" if opts else "")


def parse_key(key: str) -> tuple[str, dict]:
    """(metric, options) of a values.csv column written by column_key."""
    if "[" not in key:
        return key, {}
    name, rest = key.split("[", 1)
    opts = {}
    for part in rest.rstrip("]").split(","):
        k, v = part.split("=", 1)
        opts[k] = yaml.safe_load(v)
    return name, opts
