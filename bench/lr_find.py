"""Where the range test's suggestions land against the stable step size of softmax regression.

For softmax regression trained by full-batch gradient descent, the largest stable rate at the start
is 2/L, L the largest eigenvalue of the Hessian of the mean cross-entropy at the initial weights
(tests/test_lr_find.py checks this Hessian against finite differences of nnlab's gradient).  This
script runs the range test (nnlab.train.range_test, 1e-4 to 1e3) on blobs data sets of several shapes
and seeds and prints each rule's rate as a multiple of 2/L (and the rate of the lowest unsmoothed loss),
then the range of each over all of them; with --steps it repeats one data set for several test lengths.

    python bench/lr_find.py                  # 36 data sets, 100 steps
    python bench/lr_find.py --steps 100,300,1000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nnlab.config import validate  # noqa: E402
from nnlab.data import load_dataset  # noqa: E402
from nnlab.train.range_test import range_test, softmax_hessian, suggest, sweep_rates  # noqa: E402

RULES = ("valley", "steepest", "min_over_10")
COLUMNS = (*RULES, "lowest_loss")  # lowest_loss: the rate of the lowest (unsmoothed) loss recorded


def config(seed: int, features: int, classes: int, noise: float):
    return validate({
        "name": "softmax", "seed": seed, "dtype": "float64",
        "data": {"name": "blobs", "n_samples": 200, "classes": classes, "n_features": features, "noise": noise,
                 "seed": seed, "val_fraction": 0.0, "preprocess": "standardize"},
        "model": {"hidden": [], "init": "he_normal"},
        "train": {"epochs": 1, "batch_size": "full", "optimizer": {"name": "sgd", "lr": 0.1}}})


def stable_rate(cfg, ds) -> float:
    """2/L: L the largest eigenvalue of the cross-entropy's Hessian at the initial weights."""
    return 2 / np.linalg.eigvalsh(softmax_hessian(cfg, ds))[-1]


def ratios(cfg, steps: int) -> tuple[float, dict, int]:
    ds = load_dataset(cfg.data, dtype=cfg.dtype)
    limit = stable_rate(cfg, ds)
    lrs = sweep_rates(1e-4, 1e3, steps)
    res = range_test(cfg, ds, lrs)
    found, _ = suggest(lrs[:res.steps_done], np.array(res.smoothed), steps)
    out = {k: found[k].lr / limit for k in RULES if k in found}
    out["lowest_loss"] = lrs[int(np.nanargmin(res.losses))] / limit
    return limit, out, res.steps_done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="100", help="test lengths, comma-separated (more than one: one data set)")
    args = ap.parse_args()
    lengths = [int(s) for s in args.steps.split(",")]
    if len(lengths) > 1:
        cfg = config(0, 5, 4, 3.0)
        for steps in lengths:
            limit, r, done = ratios(cfg, steps)
            print(f"{steps:>5} steps ({done} done)  2/L {limit:.4g}  "
                  + "  ".join(f"{k} {v:.3g}" for k, v in r.items()))
        return
    seen: dict = {k: [] for k in COLUMNS}
    print("seed features classes noise   2/L    " + "  ".join(f"{k:>11}" for k in COLUMNS) + "   (x 2/L)")
    for seed in range(6):
        for features, classes in ((2, 3), (5, 4), (10, 2)):
            for noise in (3.0, 5.0):
                limit, r, _ = ratios(config(seed, features, classes, noise), lengths[0])
                for k, v in r.items():
                    seen[k].append(v)
                print(f"{seed:>4} {features:>8} {classes:>7} {noise:>5} {limit:>6.3g}    "
                      + "  ".join(f"{r.get(k, float('nan')):>11.3g}" for k in COLUMNS))
    for k, v in seen.items():
        print(f"{k}: {min(v):.3g} to {max(v):.3g} x 2/L over {len(v)} data sets (median {np.median(v):.3g})")


if __name__ == "__main__":
    main()
