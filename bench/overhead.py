"""What per-epoch validation and the diagnostics cost, from per-call timings.

    python bench/overhead.py

Whole-run wall times on a shared 2-core machine vary by +-25% between runs, more than
the few percent being measured.  This script times the pieces instead, each over many
calls in one warm process: one training step (forward, loss, backward, Adam), the
diagnostics' per-step hook, the validation pass and the diagnostics' epoch-end work,
with the shapes of bench/run.py's workloads and a 10% validation split.  It reports
overhead = (steps x hook + validation + epoch end) / (steps x step).
"""

from __future__ import annotations

import time

import numpy as np

from nnlab.components.losses import SoftmaxCrossEntropy
from nnlab.components.optimizers import optimizers
from nnlab.config import validate
from nnlab.train.diagnostics import Diagnostics
from nnlab.train.model import build_model
from nnlab.train.trainer import evaluate

# name: (training samples before the split, features, hidden, batch)
WORKLOADS = {"a": (20000, 784, [256, 256], 128), "b": (4000, 40, [100, 100], 100), "c": (2000, 64, [64], 32)}


def per_call(f, seconds: float = 0.5) -> float:
    """Microseconds per call: the best of 5 rounds of repeated calls."""
    f()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        if time.perf_counter() - t0 > seconds / 5:
            break
        n *= 2
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def measure(n: int, d: int, hidden: list, bs: int) -> dict:
    rng = np.random.default_rng(0)
    cfg = validate({"model": {"hidden": hidden, "activation": "relu"}})
    model = build_model(cfg.model, d, 10, "float32", rng, rng)
    n_val = n // 10
    steps = -(-(n - n_val) // bs)
    x = rng.standard_normal((bs, d)).astype(np.float32)
    y = rng.integers(0, 10, bs)
    xv = rng.standard_normal((n_val, d)).astype(np.float32)
    yv = rng.integers(0, 10, n_val)
    loss, opt = SoftmaxCrossEntropy(), optimizers.build({"name": "adam"})
    diag = Diagnostics(model, steps)

    def step():
        out = model.forward_buffered(x, train=True)
        loss.correct(out, y)
        _, dout = loss(out, y)
        model.backward(dout)
        opt.step(model.params, model.grads, 1e-3, model.n_decay)

    def epoch_end():
        diag.before_last_step()
        diag.end_epoch(1)

    s = per_call(step)
    hook = per_call(lambda: diag.after_backward(model.grads))
    val = per_call(lambda: evaluate(model, xv, yv, loss))
    end = per_call(epoch_end)
    extra = steps * hook + val + end
    return {"steps": steps, "step_us": s, "hook_us": hook, "val_us": val, "end_us": end,
            "overhead": extra / (steps * s)}


def main() -> None:
    print(f"{'workload':<9}{'steps/epoch':>12}{'step us':>9}{'hook us':>9}{'val us':>9}{'end us':>9}{'overhead':>10}")
    for key, (n, d, hidden, bs) in WORKLOADS.items():
        r = measure(n, d, hidden, bs)
        print(f"{key:<9}{r['steps']:>12}{r['step_us']:>9.1f}{r['hook_us']:>9.1f}{r['val_us']:>9.1f}"
              f"{r['end_us']:>9.1f}{100 * r['overhead']:>9.1f}%")


if __name__ == "__main__":
    main()
