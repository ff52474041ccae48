"""Learning-rate schedules (``train.schedule``): pure functions t -> lr.

A schedule is built as ``schedule(base_lr, total, *, options)`` where base_lr is
the optimizer's ``lr`` and total the number of units in the run; calling it with
t (0-based) gives the rate.  ``unit: epoch`` (default) holds the rate constant
within an epoch and t is the epoch index; ``unit: step`` counts optimizer steps.
Schedules never touch the optimizer (unlike torch.optim.lr_scheduler).

``warmup: N`` multiplies any schedule by (t + 1) / (N + 1) for t < N: N units
ramp linearly up to the schedule's own value, which applies from t = N on.

Where PyTorch has the same schedule the numbers are the same (closed forms of
StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
CyclicLR, OneCycleLR, ReduceLROnPlateau).  The 1/t and exponential forms are the
CS224n notes' (2.7): alpha0 tau / max(t, tau) and alpha0 e^(-k t).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Literal, Optional

from nnlab.metrics import METRICS
from nnlab.options import NonNegative, NonNegativeInt, Positive, Registry

Unit = Literal["epoch", "step"]
Metric = Literal[METRICS]  # the four recorded metrics (nnlab.metrics)


class Schedule:
    """Base: warm-up and the unit; subclasses define f(t).

    Capabilities other stages ask (never a schedule's name):
      stateful   the rate reacts to the epochs' metrics (observe), to the one its ``metric`` option names
      cyclic     cycle_index(t) is defined: the rate runs in cycles (a snapshot ensemble takes their ends)
      peak       the option holding the rate it peaks at, when that is not the optimizer's lr
      decays     the rate changes over the run without looking at the metrics
    """

    stateful = False
    cyclic = False
    peak: str | None = None
    decays = True

    def __init__(self, base_lr: float, total: int, unit: str, warmup: int):
        self.base_lr, self.total, self.unit, self.warmup = base_lr, total, unit, warmup

    def __call__(self, t: int) -> float:
        lr = self.f(t)
        if t < self.warmup:
            lr *= (t + 1) / (self.warmup + 1)
        return float(lr)

    def observe(self, metrics: dict) -> None:
        """Called after every epoch with its metrics (only plateau uses them)."""

    def state_dict(self) -> dict:
        """What a checkpoint must keep (only plateau has state: the rate is a pure function of t)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def f(self, t):  # pragma: no cover - abstract
        raise NotImplementedError


class Constant(Schedule):
    """lr(t) = lr."""

    decays = False

    def __init__(self, base_lr, total, *, unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)

    def f(self, t):
        return self.base_lr


class Step(Schedule):
    """Step decay: lr(t) = lr * gamma^floor(t / step_size) (torch StepLR)."""

    def __init__(self, base_lr, total, *, step_size: Positive, gamma: NonNegative = 0.1,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.step_size, self.gamma = step_size, gamma

    def f(self, t):
        return self.base_lr * self.gamma ** math.floor(t / self.step_size)


class MultiStep(Schedule):
    """lr(t) = lr * gamma^(number of milestones <= t) (torch MultiStepLR)."""

    def __init__(self, base_lr, total, *, milestones: list[NonNegativeInt], gamma: NonNegative = 0.1,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.milestones, self.gamma = sorted(milestones), gamma

    def f(self, t):
        return self.base_lr * self.gamma ** bisect_right(self.milestones, t)


class Exponential(Schedule):
    """Exponential decay: lr(t) = lr * e^(-k t) (CS224n 2.7), or lr * gamma^t (torch ExponentialLR).

    Give exactly one of k or gamma (gamma = e^-k).
    """

    def __init__(self, base_lr, total, *, k: Optional[NonNegative] = None, gamma: Optional[Positive] = None,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.k = k if k is not None else -math.log(gamma)

    @staticmethod
    def check(options):
        if (options["k"] is None) == (options["gamma"] is None):
            raise ValueError("give exactly one of k (lr e^(-k t)) or gamma (lr gamma^t)")

    def f(self, t):
        return self.base_lr * math.exp(-self.k * t)


class InverseTime(Schedule):
    """1/t decay: lr / (1 + k t) with k, or lr * tau / max(t, tau) with tau (CS224n 2.7).

    Give exactly one of k or tau; with tau the rate is constant until t = tau.
    """

    def __init__(self, base_lr, total, *, k: Optional[NonNegative] = None, tau: Optional[Positive] = None,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.k, self.tau = k, tau

    @staticmethod
    def check(options):
        if (options["k"] is None) == (options["tau"] is None):
            raise ValueError("give exactly one of k (lr / (1 + k t)) or tau (lr tau / max(t, tau))")

    def f(self, t):
        if self.k is not None:
            return self.base_lr / (1 + self.k * t)
        return self.base_lr * self.tau / max(t, self.tau)


def _cos(start, end, frac):
    return end + (start - end) * (1 + math.cos(math.pi * frac)) / 2


class Cosine(Schedule):
    """Cosine annealing: lr(t) = eta_min + (lr - eta_min)(1 + cos(pi t / t_max)) / 2 (torch CosineAnnealingLR).

    Stays at eta_min after t_max (torch's closed form would rise again).
    """

    def __init__(self, base_lr, total, *, t_max: Positive, eta_min: NonNegative = 0.0,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.t_max, self.eta_min = t_max, eta_min

    def f(self, t):
        return _cos(self.base_lr, self.eta_min, min(t, self.t_max) / self.t_max)


class WarmRestart(Schedule):
    """SGDR (Loshchilov & Hutter 2017; torch CosineAnnealingWarmRestarts): cosine cycles that restart.

    Cycle i lasts T_i = t_0 * t_mult^i units; within it, with t_cur the units since
    the restart, lr = eta_min + (lr - eta_min)(1 + cos(pi t_cur / T_i)) / 2.
    A float t_mult >= 1 is allowed.
    """

    cyclic = True

    def __init__(self, base_lr, total, *, t_0: Positive, t_mult: float = 1.0, eta_min: NonNegative = 0.0,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.t_0, self.t_mult, self.eta_min = t_0, t_mult, eta_min

    @staticmethod
    def check(options):
        if options["t_mult"] < 1:
            raise ValueError(f"t_mult must be >= 1 (each cycle as long or longer), got {options['t_mult']}")

    def cycle(self, t):
        """(cycle index, units since its restart, its length) at t."""
        t0, m = self.t_0, self.t_mult
        if m == 1:
            n = math.floor(t / t0)
            return n, t - n * t0, t0
        n = math.floor(math.log(t / t0 * (m - 1) + 1, m)) if t > 0 else 0
        # guard the float log at exact cycle boundaries
        start = lambda k: t0 * (m ** k - 1) / (m - 1)  # noqa: E731
        while start(n + 1) <= t + 1e-9:
            n += 1
        while n > 0 and start(n) > t + 1e-9:
            n -= 1
        return n, t - start(n), t0 * m ** n

    def f(self, t):
        _, t_cur, t_i = self.cycle(t)
        return _cos(self.base_lr, self.eta_min, t_cur / t_i)

    def cycle_index(self, t) -> int:
        """The cycle unit t belongs to: a cycle ends at t when t + 1 starts the next (a snapshot point)."""
        return self.cycle(t)[0]


class Cyclic(Schedule):
    """Cyclical learning rate (Smith 2017; torch CyclicLR) between lr and max_lr.

    cycle = floor(1 + t / (2 step_size)), x = |t / step_size - 2 cycle + 1|,
    lr(t) = lr + (max_lr - lr) max(0, 1 - x) * scale, scale 1 (triangular) or
    1 / 2^(cycle - 1) (triangular2: the amplitude halves every cycle).
    """

    cyclic = True
    peak = "max_lr"

    def __init__(self, base_lr, total, *, max_lr: Positive, step_size: Positive,
                 mode: Literal["triangular", "triangular2"] = "triangular",
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.max_lr, self.step_size, self.mode = max_lr, step_size, mode

    def cycle_index(self, t) -> int:
        """The cycle unit t belongs to: one cycle is 2 step_size units, from the base rate back to it."""
        return math.floor(1 + t / (2 * self.step_size))

    def f(self, t):
        cycle = math.floor(1 + t / (2 * self.step_size))
        x = abs(t / self.step_size - 2 * cycle + 1)
        scale = 1.0 if self.mode == "triangular" else 1 / 2 ** (cycle - 1)
        return self.base_lr + (self.max_lr - self.base_lr) * max(0.0, 1 - x) * scale


class OneCycle(Schedule):
    """One-cycle policy (Smith & Topin 2019; torch OneCycleLR, cosine, two phases).

    Starts at max_lr / div_factor, rises by a cosine to max_lr over the first
    pct_start of the run, then anneals by a cosine to start / final_div_factor at
    the last unit.  It ignores the optimizer's lr; momentum is not cycled.
    """

    peak = "max_lr"

    def __init__(self, base_lr, total, *, max_lr: Positive, pct_start: Positive = 0.3,
                 div_factor: Positive = 25.0, final_div_factor: Positive = 1e4,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.max_lr, self.pct_start = max_lr, pct_start
        self.initial = max_lr / div_factor
        self.final = self.initial / final_div_factor

    @staticmethod
    def check(options):
        if not options["pct_start"] < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {options['pct_start']}")

    def f(self, t):
        up_end = float(self.pct_start * self.total) - 1
        down_end = self.total - 1
        if t <= up_end:
            return _cos(self.initial, self.max_lr, t / up_end if up_end > 0 else 1.0)
        span = down_end - up_end
        return _cos(self.max_lr, self.final, min(1.0, (t - up_end) / span) if span > 0 else 1.0)


class Plateau(Schedule):
    """Reduce on plateau (torch ReduceLROnPlateau, threshold 1e-4 relative, cooldown 0).

    After each epoch: if the metric did not improve on its best by the threshold
    for more than `patience` epochs in a row, lr <- max(lr * factor, min_lr),
    unless that cut is smaller than 1e-8 (torch's eps), when lr stays.
    Losses must go down, accuracies up; a missing or NaN metric is skipped (torch
    would count NaN as a bad epoch).  Epoch unit only.
    """

    stateful = True
    EPS = 1e-8

    def __init__(self, base_lr, total, *, factor: Positive = 0.1, patience: NonNegativeInt = 10,
                 metric: Metric = "val_loss", min_lr: NonNegative = 0.0, threshold: NonNegative = 1e-4,
                 unit: Unit = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)
        self.factor, self.patience, self.metric = factor, patience, metric
        self.min_lr, self.threshold = min_lr, threshold
        self.lr, self.best, self.bad = base_lr, None, 0
        self.maximize = metric.endswith("acc")

    @staticmethod
    def check(options):
        if options["factor"] >= 1:
            raise ValueError(f"factor must be < 1 (the rate is multiplied by it), got {options['factor']}")
        if options["unit"] != "epoch":
            raise ValueError("plateau reacts to epoch metrics: unit must be epoch")

    def observe(self, metrics):
        value = metrics.get(self.metric)
        if value is None or value != value:  # missing or NaN
            return
        if self.best is None:
            better = True
        elif self.maximize:
            better = value > self.best * (1 + self.threshold)
        else:
            better = value < self.best * (1 - self.threshold)
        if better:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
            if self.bad > self.patience:
                new_lr = max(self.lr * self.factor, self.min_lr)
                if self.lr - new_lr > self.EPS:  # torch ignores a cut smaller than eps (1e-8)
                    self.lr = new_lr
                self.bad = 0

    def f(self, t):
        return self.lr

    def state_dict(self):
        return {"lr": self.lr, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state):
        self.lr, self.best, self.bad = state["lr"], state["best"], state["bad"]


# The registry, filled explicitly: adding a schedule is its class or function above plus one line here.
schedules = Registry("schedule", {
    "constant": Constant,
    "step": Step,
    "multistep": MultiStep,
    "exponential": Exponential,
    "inverse_time": InverseTime,
    "cosine": Cosine,
    "warm_restart": WarmRestart,
    "cyclic": Cyclic,
    "one_cycle": OneCycle,
    "plateau": Plateau,
})
