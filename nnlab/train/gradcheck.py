"""Numerical gradient checks: backprop against centred differences (CS224n notes 2.1, CS231n).

    centered (default)  dJ/dtheta_i ~ (J(theta + h e_i) - J(theta - h e_i)) / (2 h),   h = 1e-5
    forward             dJ/dtheta_i ~ (J(theta + h e_i) - J(theta)) / h

The error of the centred difference is O(h^2) (the h^2 J'''/6 term of its Taylor expansion; CS224n 2.1: "of
the order of eps^2"), the forward difference's O(h) (h J''/2): halving h divides the first by about 4, the
second by about 2 (nnlab.train.probe.gradient_error_order measures it).  For each parameter tensor the
relative error ||g_backprop - g_numeric|| / (||g_backprop|| + ||g_numeric||) is
reported over the checked entries (it must be below 1e-6; a tensor whose gradient
is zero passes when every entry agrees within 1e-8) (all of them, or a random sample for big
tensors).  Done in float64 with every random draw (dropout masks, RReLU slopes)
frozen.  An entry whose evaluations (+h and -h, or +h for the forward formula) put some unit on
another side of a kink (ReLU at 0, a maxout tie, hard_tanh at +-1) than at theta has no derivative
there; it is counted as a kink and left out instead of failing the check.

Shared by ``nnlab gradcheck`` and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from nnlab.components.losses import loss_for_task
from nnlab.components.regularizers import add_penalty_grad, penalty
from nnlab.train.model import build_model
from nnlab.train.trainer import rng_streams

TOLERANCE = 1e-6
# A tensor whose true gradient is 0 (a Dense bias right before batch norm) has no
# meaningful relative error: it passes when every entry agrees to this absolute level,
# far above float64 round-off in a centred difference (~1e-16 |J| / h ~ 1e-11).
ABS_TOLERANCE = 1e-8
FORMULAS = ("centered", "forward")
Formula = Literal["centered", "forward"]


@dataclass
class TensorCheck:
    name: str
    shape: tuple
    checked: int
    kinks: int
    rel_error: float
    max_abs_error: float

    @property
    def passed(self) -> bool:
        return self.rel_error < TOLERANCE or self.max_abs_error < ABS_TOLERANCE


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), 0 when both are 0."""
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if den == 0 else float(np.linalg.norm(a - b) / den)


def check_formula(formula: str) -> None:
    """ValueError naming the choices unless ``formula`` is one of FORMULAS."""
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {', '.join(FORMULAS)}, got {formula!r}")


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, formula: Formula = "centered") -> np.ndarray:
    """Finite-difference gradient of scalar f() with respect to array x (perturbed in place, restored):
    centred (J(x + h) - J(x - h)) / 2h or forward (J(x + h) - J(x)) / h."""
    check_formula(formula)
    f0 = f() if formula == "forward" else None
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):  # index x itself: reshape(-1) of a non-contiguous view is a copy
        old = x[i]
        x[i] = old + h
        fp = f()
        if formula == "forward":
            x[i] = old
            grad[i] = (fp - f0) / h
            continue
        x[i] = old - h
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


class Objective:
    """J(theta) = mean loss of the model on (x, y) + l1 sum|W| + (l2/2) sum W^2, in training mode
    (W the Dense weights, and the Dense biases with ``biases``: MLP.regularized)."""

    def __init__(self, model, loss_fn, x, y, l1=0.0, l2=0.0, biases=False):
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y
        self.l1, self.l2 = l1, l2
        self.parts = model.regularized(biases)
        for layer in model.layers:  # draw dropout masks / RReLU slopes once, then reuse them
            if hasattr(layer, "frozen"):
                layer.frozen = True
        self.kinky = [l for l in model.layers if getattr(l, "kink_state", None) is not None]

    def value(self) -> float:
        out = self.model.forward(self.x, train=True)
        loss, _ = self.loss_fn(out, self.y)
        p = self.model.params
        return loss + sum(penalty(p[s], self.l1, self.l2) for s in self.parts)

    def kinks(self) -> list:
        states = []
        for layer in self.kinky:
            s = layer.kink_state(layer.z)
            if s is not None:
                states.append(np.asarray(s).copy())
        return states

    def gradient(self) -> np.ndarray:
        out = self.model.forward(self.x, train=True)
        _, dout = self.loss_fn(out, self.y)
        self.model.backward(dout)
        g = self.model.grads.copy()
        for s in self.parts:
            add_penalty_grad(g[s], self.model.params[s], self.l1, self.l2)
        return g


def check_model(model, loss_fn, x, y, *, l1=0.0, l2=0.0, biases=False, h=1e-5, max_entries=64,
                rng: np.random.Generator | None = None, formula: Formula = "centered") -> list[TensorCheck]:
    """Compare backprop with finite differences (``formula``: centered or forward) for every parameter tensor
    of a float64 model."""
    if model.params.dtype != np.float64:
        raise ValueError("gradient checks need a float64 model (dtype: float64)")
    check_formula(formula)
    rng = rng or np.random.default_rng(0)
    obj = Objective(model, loss_fn, x, y, l1, l2, biases)
    f0 = obj.value()  # draws the frozen masks
    analytic = obj.gradient()
    base_kinks = obj.kinks()
    p = model.params
    results = []
    for t in model.tensors:
        idx = np.arange(t.start, t.start + t.size)
        if t.size > max_entries:
            idx = np.sort(rng.choice(idx, size=max_entries, replace=False))
        num, ana, kinks = [], [], 0
        for i in idx:
            old = p[i]
            p[i] = old + h
            fp = obj.value()
            kp = obj.kinks()
            if formula == "forward":
                fm, km = f0, base_kinks
            else:
                p[i] = old - h
                fm = obj.value()
                km = obj.kinks()
            p[i] = old
            if any(not np.array_equal(a, b) for a, b in zip(kp, km)) or \
                    any(not np.array_equal(a, b) for a, b in zip(kp, base_kinks)):
                kinks += 1
                continue
            num.append((fp - fm) / h if formula == "forward" else (fp - fm) / (2 * h))
            ana.append(analytic[i])
        num, ana = np.array(num), np.array(ana)
        results.append(TensorCheck(
            name=t.name, shape=t.shape, checked=len(num), kinks=kinks,
            rel_error=relative_error(ana, num) if len(num) else 0.0,
            max_abs_error=float(np.max(np.abs(ana - num))) if len(num) else 0.0,
        ))
    obj.value()
    return results


def check_config(cfg, dataset, n_samples: int = 16, max_entries: int = 64, seed: int = 0):
    """Build the configured network in float64 and gradient-check it on a few training samples."""
    import copy

    cfg = copy.deepcopy(cfg)
    cfg.dtype = "float64"
    rngs = rng_streams(cfg.seed)
    model = build_model(cfg.model, dataset.n_features, dataset.n_outputs, "float64", rngs["init"], rngs["noise"])
    pick = np.random.default_rng(seed).choice(len(dataset.x_train), size=min(n_samples, len(dataset.x_train)),
                                              replace=False)
    x = dataset.x_train[pick].astype(np.float64)
    y = dataset.y_train[pick]
    if dataset.task == "regression":
        y = y.astype(np.float64)
    reg = cfg.train["regularization"]
    return check_model(model, loss_for_task(dataset.task), x, y, l1=reg["l1"], l2=reg["l2"], biases=reg["biases"],
                       max_entries=max_entries, rng=np.random.default_rng(seed))
