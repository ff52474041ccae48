"""L-BFGS against Adam on MNIST-1D: time, gradient evaluations and the loss each reaches.

    python bench/lbfgs.py [--repeat 3] [--threads 1] [--quick]

Trains, in one process and interleaved, each case `--repeat` times (the median time is shown):
softmax regression (``model.hidden=[]``) and adam_relu.yaml's [100, 100] ReLU net, both with L2
2e-3, by L-BFGS on the full batch (configs/lbfgs_full_batch.yaml), Adam on the full batch
(configs/adam_full_batch.yaml) and, for the net, Adam on mini-batches of 100 (configs/adam_relu.yaml).
Prints per case the epochs, the loss and gradient evaluations (L-BFGS: its own count; Adam: one
per step), the training time (the Trainer's train_seconds), the final weights' training loss and
objective (loss + L2 penalty, what both minimise) and the validation and test accuracy.  BLAS is
held at ``--threads`` threads for every run (default 1: the same for all, and steady when other
processes share the machine).  ``--quick`` trains a few epochs only (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
# (problem, optimizer label, config, overrides, quick overrides)
CASES = [
    ("softmax regression", "L-BFGS, full batch", "lbfgs_full_batch.yaml", ["model.hidden=[]", "train.epochs=5"],
     ["train.epochs=1"]),
    ("softmax regression", "Adam 1e-2, full batch", "adam_full_batch.yaml", ["model.hidden=[]"],
     ["train.epochs=10"]),
    ("[100, 100] ReLU", "L-BFGS, full batch", "lbfgs_full_batch.yaml", [], ["train.epochs=1"]),
    ("[100, 100] ReLU", "Adam 1e-2, full batch", "adam_full_batch.yaml", [], ["train.epochs=10"]),
    ("[100, 100] ReLU", "Adam 1e-3, batches of 100", "adam_relu.yaml", [], ["train.epochs=1"]),
]


def run_once(cfg, data):
    """(train seconds, evaluations, final train loss, objective, val acc, test acc, epochs) of one run."""
    from nnlab.components.regularizers import penalty
    from nnlab.train.trainer import Trainer, evaluate

    trainer = Trainer(cfg, data)
    result = trainer.run()
    m = trainer.model
    loss, _ = evaluate(m, data.x_train, data.y_train, trainer.loss_fn)
    reg = cfg.train["regularization"]
    objective = loss + penalty(m.params[:m.n_decay], reg["l1"], reg["l2"])
    steps = len(result.history) * len(trainer.batches.bounds)
    evals = getattr(trainer.opt, "func_evals", steps)
    return (result.train_seconds, evals, loss, objective, result.history[-1]["val_acc"], result.test["acc"],
            len(result.history))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from nnlab.config import load_config
    from nnlab.experiment import load_data

    cfgs = [load_config(CONFIGS / name, sets + (quick if args.quick else [])) for _, _, name, sets, quick in CASES]
    data = {}
    for cfg in cfgs:
        key = repr(cfg.data) + cfg.dtype
        data[key] = data.get(key) or load_data(cfg)
    runs: list[list] = [[] for _ in CASES]
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for _ in range(args.repeat):  # interleaved, so that a slow spell of the machine hits every case
            for i, cfg in enumerate(cfgs):
                runs[i].append(run_once(cfg, data[repr(cfg.data) + cfg.dtype]))
    print(f"MNIST-1D, L2 2e-3, float32, {args.threads} BLAS thread(s), median of {args.repeat} runs\n")
    head = (f"{'problem':<19} {'optimizer':<26} {'epochs':>6} {'evals':>6} {'seconds':>8} {'train loss':>10} "
            f"{'objective':>9} {'val acc':>7} {'test acc':>8}")
    print(head)
    print("-" * len(head))
    for (problem, label, *_), rs in zip(CASES, runs):
        seconds = statistics.median(r[0] for r in rs)
        _, evals, loss, objective, val, test, epochs = rs[0]  # the same numbers every run (same config and seed)
        print(f"{problem:<19} {label:<26} {epochs:>6} {evals:>6} {seconds:>8.2f} {loss:>10.4f} {objective:>9.4f} "
              f"{100 * val:>6.1f}% {100 * test:>7.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])
