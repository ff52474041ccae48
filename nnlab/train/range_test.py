"""The learning-rate range test: train briefly while the rate grows, and read a rate off the loss curve.

Leslie Smith's range test ("Cyclical Learning Rates for Training Neural Networks", 2017, section
3.3) as fastai's ``Learner.lr_find`` runs it, and as course note 004 (learning-rate choice) describes
it: start with a tiny rate, raise it after every mini-batch, record the loss; where the loss falls
fastest is a good rate, and where it blows up the rate is too large.

``range_test`` trains a fresh copy of the configured model from its initialization, reusing the
trainer's own pieces (``Trainer.step``: forward, loss, backward, L1/L2, clipping, the optimizer's
``step(p, g, lr, n_decay)``, max-norm; ``Batches``: the config's batching and shuffling, epoch after
epoch).  Only the rate differs from ``nnlab train``: the swept rate replaces the config's schedule,
which is ignored during the test.  It writes no files (nnlab.lr_find does).

Rates (``sweep_rates``), for step i = 0 .. n-1 of n steps:
    exponential  lr_i = start * (end / start) ** (i / (n - 1))
    linear       lr_i = start + (end - start) * i / (n - 1)
so the first step uses ``start`` and the last ``end`` (fastai evaluates i / n and never reaches end).
The loss of step i is the mini-batch loss before its update, paired with lr_i (as fastai records it).

Smoothing (``Smoother``), fastai's AvgSmoothLoss, beta = 0.98, bias-corrected like Adam's moments:
    avg_i = beta * avg_{i-1} + (1 - beta) * loss_i,  avg_{-1} = 0;   smoothed_i = avg_i / (1 - beta ** (i + 1))
The test stops after step i when smoothed_i > 4 * min(smoothed_0..i) or is not finite (fastai's stop_div).

Suggestions (``suggest``), on fastai's window: the points from index ``steps // 10`` (steps as
requested) to the fifth-last recorded point (fastai's ``[num_it//10:-5]``), cut before the first
non-finite value.  The early points are excluded because the rate is still far too small to move the
loss and the smoothed curve rests on a few mini-batches; the last five because the loss is exploding
there.  On the smoothed losses of the window:
    steepest      the rate where d smoothed / d log lr is most negative; the slope is np.gradient over
                  log lr (central differences inside the window, one-sided at its two ends).  fastai's
                  ``steep`` takes forward differences and returns the left rate of the steepest segment;
                  the central difference at a point is the mean of the two segments beside it.
    min_over_10   the rate of the smallest smoothed loss, divided by 10 (fastai's ``minimum``): one
                  decade below the point where the loss stops falling (Smith's and Howard's rule).
    valley        fastai's default (ESRI's rule): the longest strictly decreasing subsequence of the
                  smoothed losses (its length lds[i] ending at each i), taken as ending at the first i
                  with the largest lds and starting lds[i] points earlier; the rate
                  start + int(len / 3) + int(len / 6) points in, about halfway along that valley.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from nnlab.train.trainer import Trainer, build

BETA = 0.98  # fastai's AvgSmoothLoss
STOP_FACTOR = 4.0  # fastai's LRFinder: stop when the smoothed loss exceeds 4x its minimum
SKIP_END = 5  # fastai's lr_find: the last five recorded points are left out of the suggestions
MIN_POINTS = 3  # fewer points in the window give no suggestion

RULES = {
    "steepest": "steepest descent: min of d(smoothed loss)/d(log lr), np.gradient",
    "min_over_10": "the rate of the smallest smoothed loss, divided by 10",
    "valley": "fastai's valley: about halfway along the longest falling stretch",
}


def sweep_rates(start: float, end: float, steps: int, linear: bool = False) -> np.ndarray:
    """The rate of each step, from ``start`` (first step) to ``end`` (last step), float64."""
    if not (0 < start < end and math.isfinite(end)) or steps < 2:
        raise ValueError(f"need 0 < start < end < inf and steps >= 2, got {start}, {end}, {steps}")
    if linear:
        return np.linspace(start, end, steps)
    return np.geomspace(start, end, steps)


class Smoother:
    """fastai's smoothed loss: a bias-corrected exponential moving average (see the module docstring)."""

    def __init__(self, beta: float = BETA):
        self.beta, self.avg, self.count = beta, 0.0, 0

    def __call__(self, loss: float) -> float:
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        self.count += 1
        return self.avg / (1 - self.beta ** self.count)


@dataclass
class Suggestion:
    """One rule's rate; ``index`` is the recorded point it stands on (valley, steepest) or comes from
    (min_over_10: the minimum's point, whose rate it divides by 10)."""

    name: str
    lr: float
    index: int
    rule: str

    def as_dict(self) -> dict:
        return {"lr": self.lr, "step": self.index + 1, "rule": self.rule}


@dataclass
class Window:
    """The recorded points the suggestions look at: ``first`` <= index < ``stop``."""

    first: int
    stop: int

    @property
    def size(self) -> int:
        return max(0, self.stop - self.first)


def window(smoothed: np.ndarray, steps: int) -> Window:
    """fastai's window ``[steps // 10 : -5]`` of the recorded points, cut before the first non-finite one."""
    n = len(smoothed)
    bad = np.flatnonzero(~np.isfinite(smoothed))
    stop = min(n - SKIP_END, int(bad[0]) if bad.size else n)
    return Window(steps // 10, max(stop, steps // 10))


def longest_decrease(losses: np.ndarray) -> np.ndarray:
    """lds[i]: the length of the longest strictly decreasing subsequence ending at i (O(n log n)).

    The same numbers as fastai's double loop; tails[k] holds the smallest -loss that ends an
    increasing run of -losses of length k + 1 (patience sorting).
    """
    tails: list[float] = []
    lds = np.empty(len(losses), dtype=np.int64)
    for i, x in enumerate(-np.asarray(losses, dtype=np.float64)):
        k = bisect_left(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
        lds[i] = k + 1
    return lds


def valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley`` index into ``losses`` (clamped at 0 where fastai's index would be -1)."""
    lds = longest_decrease(losses)
    max_end = int(np.argmax(lds))  # the first i with the largest lds (fastai updates on a strict <)
    max_start = max_end - int(lds[max_end]) if max_end > 0 else 0
    sections = (max_end - max_start) / 3
    return max(0, max_start + int(sections) + int(sections / 2))


def suggest(lrs: np.ndarray, smoothed: np.ndarray, steps: int) -> tuple[dict[str, Suggestion], Window]:
    """The three suggestions (see the module docstring) from the recorded rates and smoothed losses;
    an empty dict when the window holds fewer than MIN_POINTS points."""
    lrs, smoothed = np.asarray(lrs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64)
    w = window(smoothed, steps)
    if w.size < MIN_POINTS:
        return {}, w
    x, y = np.log(lrs[w.first:w.stop]), smoothed[w.first:w.stop]
    slope = np.gradient(y, x)
    steep = w.first + int(np.argmin(slope))
    low = w.first + int(np.argmin(y))
    valley = w.first + valley_index(y)
    out = {
        "steepest": Suggestion("steepest", float(lrs[steep]), steep, RULES["steepest"]),
        "min_over_10": Suggestion("min_over_10", float(lrs[low]) / 10, low, RULES["min_over_10"]),
        "valley": Suggestion("valley", float(lrs[valley]), valley, RULES["valley"]),
    }
    return out, w


RECOMMENDED = "valley"
WHY = ("fastai's default; it lies on the falling stretch of the curve, while steepest rests on one noisy slope "
       "and min_over_10 on a smoothed minimum that lags behind the loss")


@dataclass
class RangeTestResult:
    lrs: np.ndarray  # the planned rates, one per requested step
    losses: list = field(default_factory=list)  # per recorded step: the mini-batch loss before its update
    smoothed: list = field(default_factory=list)
    status: str = "completed"  # completed | interrupted
    stopped: str = "end"  # end | exploded (smoothed > 4x its minimum) | not_finite | interrupted
    message: str = ""
    signal: Optional[str] = None
    seconds: float = 0.0

    @property
    def steps_done(self) -> int:
        return len(self.losses)


class RangeSchedule:
    """The swept rates in the place of the trainer's schedule: step t uses lrs[t]."""

    unit = "step"
    stateful = False

    def __init__(self, lrs: np.ndarray):
        self.lrs = lrs

    def __call__(self, t: int) -> float:
        return float(self.lrs[t])

    def observe(self, row) -> None:  # pragma: no cover - the range test feeds no metrics
        pass


def range_test(cfg, dataset, lrs: np.ndarray,
               on_step: Callable[[int, float, float, float], None] | None = None) -> RangeTestResult:
    """Train a fresh copy of the configured model for len(lrs) mini-batches, step i with rate lrs[i].

    Calls ``on_step(i, lr, loss, smoothed)`` after every recorded step.  Ctrl-C (or a signal made
    into KeyboardInterrupt by nnlab.interrupt) ends the test with status interrupted, keeping what
    was recorded.
    """
    import time

    trainer = Trainer(cfg, dataset)
    trainer.sched, trainer.step_unit = RangeSchedule(lrs), True  # the swept rate replaces the schedule
    batches = trainer.batches
    n_batches = len(batches.bounds)
    res = RangeTestResult(lrs=lrs)
    smooth = Smoother()
    best = math.inf
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            for i in range(len(lrs)):
                epoch, pos = divmod(i, n_batches)
                if pos == 0:
                    batches.start_epoch()
                xb, yb = batches.get(pos)
                loss, _ = trainer.step(xb, yb, epoch, last=pos == n_batches - 1)
                loss = float(loss)
                s = smooth(loss)
                res.losses.append(loss)
                res.smoothed.append(s)
                if on_step:
                    on_step(i, float(lrs[i]), loss, s)
                if not (math.isfinite(loss) and math.isfinite(s)):
                    res.stopped = "not_finite"
                    res.message = f"the loss became {loss} at step {i + 1}, lr {lrs[i]:.3g}"
                    break
                best = min(best, s)
                if s > STOP_FACTOR * best:
                    res.stopped = "exploded"
                    res.message = (f"the smoothed loss {s:.4g} exceeded {STOP_FACTOR:g}x its minimum "
                                   f"{best:.4g} at step {i + 1}, lr {lrs[i]:.3g}")
                    break
            else:
                res.message = f"reached the end of the range after {len(lrs)} steps"
        except KeyboardInterrupt as exc:
            n = min(len(res.losses), len(res.smoothed))  # a signal between the two appends
            del res.losses[n:], res.smoothed[n:]
            res.status, res.stopped = "interrupted", "interrupted"
            res.signal = getattr(exc, "name", "SIGINT")
            how = "the user (Ctrl-C)" if res.signal == "SIGINT" else res.signal
            res.message = f"interrupted by {how} after {res.steps_done} steps"
    res.seconds = time.perf_counter() - t0
    return res


__all__ = ["BETA", "STOP_FACTOR", "SKIP_END", "RULES", "RECOMMENDED", "RangeTestResult", "Smoother", "Suggestion",
           "Window", "longest_decrease", "range_test", "suggest", "sweep_rates", "valley_index", "window"]


def softmax_hessian(cfg, dataset) -> np.ndarray:
    """The Hessian of the mean softmax cross-entropy of softmax regression (model.hidden: []) at its initial
    weights, in the model's parameter order (W row-major, then b).

    Per sample, with x~ = [x, 1] and p = softmax(x W + b): d2 loss / d(W, b)2 = (x~ x~^T) kron (diag p - p p^T).
    Gradient descent on it is stable below 2/L, L its largest eigenvalue: what the range test's suggestions
    are measured against (tests/test_lr_find.py, bench/lr_find.py).
    """
    model, _, _ = build(cfg, dataset)
    W, b = model.view("dense1.W"), model.view("dense1.b")
    x = dataset.x_train
    z = x @ W + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    xt = np.hstack([x, np.ones((len(x), 1))])
    S = p[:, :, None] * np.eye(p.shape[1]) - p[:, :, None] * p[:, None, :]  # (n, k, k)
    H = np.einsum("ni,nj,nab->iajb", xt, xt, S) / len(xt)
    d, k = xt.shape[1], p.shape[1]
    return H.reshape(d * k, d * k)
