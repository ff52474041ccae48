"""Where one training step's time goes: nnlab on benchmark workload (a), piece by piece.

    python bench/profile_step.py [--workload a] [--threads 1] [--steps 200] [--cprofile]

Builds the benchmark's run (bench/run.py's data and config), warms it up, then times each
piece of the step in one warm process: every Dense forward and backward (the matrix
products plus the bias), each activation forward and backward, the loss, the optimizer
step, the per-epoch shuffle (spread over its epoch's steps) and the rest of the loop
(bookkeeping: Trainer.step's own work, batching, loss sums).  The pieces are timed one
at a time with perf_counter around each call, so their sum is a little above the real
step; "whole step" is Trainer.run_epoch's own time per step.  The GEMM floor is the same
matrix products alone (np.matmul into preallocated float32 arrays).  ``--cprofile`` adds
the cProfile listing of a whole run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="a")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--wall", action="store_true", help="wall-clock time (default with 1 thread: the process's "
                    "CPU time, which a busy machine disturbs less)")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import numpy as np
    import run as bench
    from threadpoolctl import threadpool_limits

    from nnlab.config import validate
    from nnlab.data import load_dataset
    from nnlab.train.trainer import Trainer

    w = bench.WORKLOADS[args.workload]
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(args.threads, user_api="blas"):
        path = bench.make_data(args.workload, Path(tmp))
        cfg = validate(bench.nnlab_config(w, path, w["epochs"], monitored=False))
        ds = load_dataset(cfg.data, cfg.dtype)
        tr = Trainer(cfg, ds)
        m, opt, loss_fn, b = tr.model, tr.opt, tr.loss_fn, tr.batches
        nb = len(b.bounds)
        times: dict[str, list[float]] = {}

        now = time.perf_counter if (args.wall or args.threads > 1) else time.process_time

        def clock(name, f, *a):
            t0 = now()
            r = f(*a)
            times.setdefault(name, []).append(now() - t0)
            return r

        # whole steps first (warm-up, then the measured epochs)
        whole = []
        for ep in range(max(4, args.steps // nb + 2)):
            t0 = now()
            tr.run_epoch(ep)
            whole.append((now() - t0) / nb)
        step_us = 1e6 * statistics.median(whole[1:])  # the first epoch warms up
        b.start_epoch()
        for k in range(args.steps):
            i = k % nb
            if i == 0:
                clock("shuffle (per epoch)", b.start_epoch)
            # a slice of the epoch's shuffled copy, or a gather of the batch's rows (nnlab/train/batching.py)
            xb, yb = clock("batch (gather)" if not b.gather else "batch (slice of the copy)", b.get, i)
            x = xb
            for name, layer in zip(m.names, m.layers):
                x = clock(f"{name} forward", layer.forward, x, True)
            loss, dout = clock("softmax cross-entropy", loss_fn, x, yb)
            clock("accuracy (argmax)", loss_fn.correct, x, yb)
            for j in range(len(m.layers) - 1, -1, -1):
                dout = clock(f"{m.names[j]} backward", m.layers[j].backward, dout, j > 0)
            clock(f"{type(opt).__name__} step ({m.n_params:,} params)", opt.step, m.params, m.grads,
                  1e-3, m.n_decay)
        rows = [(k, 1e6 * statistics.median(v) * (len(v) / args.steps)) for k, v in times.items()]
        rows[0] = (rows[0][0], 1e6 * statistics.median(times[rows[0][0]]) / nb)
        rows.append(("rest: whole step - pieces (<0: noise)", step_us - sum(r[1] for r in rows)))

        # the GEMM floor: the same products alone
        bs = w["batch"]
        dims = [ds.n_features, *w["hidden"], ds.n_outputs]
        rng = np.random.default_rng(0)
        mats = []  # the operands of every product of one step, laid out as in bench/run.py's floor
        for i, (a_, b_) in enumerate(zip(dims[:-1], dims[1:])):
            x = rng.standard_normal((bs, a_), dtype=np.float32)
            W = rng.standard_normal((a_, b_), dtype=np.float32)
            dout = rng.standard_normal((bs, b_), dtype=np.float32)
            mats.append((x, W, np.empty((bs, b_), np.float32)))
            mats.append((x.T, dout, np.empty((a_, b_), np.float32)))
            if i > 0:
                mats.append((dout, W.T, np.empty((bs, a_), np.float32)))
        floors = []
        for _ in range(args.steps):
            t0 = now()
            for a_, b_, o in mats:
                np.matmul(a_, b_, out=o)
            floors.append(now() - t0)
        floor_us = 1e6 * statistics.median(floors)
    kind = "wall-clock" if now is time.perf_counter else "CPU"
    print(f"workload {args.workload} ({w['desc']}), {args.threads} BLAS thread(s), {kind} time, "
          f"median of {args.steps} steps per piece, whole step: median over epochs")
    print(f"{'piece':<40}{'us/step':>10}{'share':>8}")
    print("-" * 58)
    for k, us in rows:
        print(f"{k:<40}{us:10.1f}{100 * us / step_us:7.1f}%")
    print("-" * 58)
    print(f"{'whole step (Trainer.run_epoch)':<40}{step_us:10.1f}")
    print(f"{'GEMM floor (the matrix products alone)':<40}{floor_us:10.1f}   step/floor {step_us / floor_us:.2f}")
    if args.cprofile:
        import cProfile
        import pstats

        with tempfile.TemporaryDirectory() as tmp, threadpool_limits(args.threads, user_api="blas"):
            path = bench.make_data(args.workload, Path(tmp))
            cfg = validate(bench.nnlab_config(w, path, w["epochs"], monitored=False))
            ds = load_dataset(cfg.data, cfg.dtype)
            prof = cProfile.Profile()
            prof.enable()
            Trainer(cfg, ds).run()
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
