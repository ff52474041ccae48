"""Data parallelism over two Python threads against two BLAS threads, on workload (a).

    python bench/two_threads.py [--epochs 6]

An experiment, not a feature: can nnlab use the second core for its elementwise work (which numpy
runs on one core) by splitting each mini-batch over two Python threads instead of letting
OpenBLAS split each matrix product?  numpy releases the GIL inside matrix products and ufunc
loops, so two threads can run at once.

- "2 BLAS threads": nnlab's training step as it is (Trainer.step), OpenBLAS with 2 threads.
- "2 Python threads": OpenBLAS with 1 thread; a helper thread runs forward and backward on the
  second half of the batch (its own copy of the layers and loss, the same parameters, its own
  gradient buffer) while the main thread runs the first half; then each thread adds the helper's
  gradient into half of the parameter vector and takes Adam's step on that half.  Two handovers
  per step (threading.Semaphore).  The same update up to float rounding (checked at the start).

Both run in one process on bench/run.py's data and config, alternating epoch by epoch, and the
median time per step of each is printed, with the pieces that decide it (one thread, wall clock):
half a batch's forward and backward alone, both halves at once on two threads, one handover
(the helper wakes, does nothing, and the main thread wakes), Adam on all and on half of the
parameters.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Helper:
    """A thread that runs one function at a time for the main thread."""

    def __init__(self, limit):
        self.job, self.result = None, None
        self.go, self.done = threading.Semaphore(0), threading.Semaphore(0)
        self.limit = limit
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        with self.limit(1, user_api="blas"):
            while True:
                self.go.acquire()
                self.result = self.job()
                self.done.release()

    def start(self, job):
        self.job = job
        self.go.release()

    def wait(self):
        self.done.acquire()
        return self.result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=6, help="epochs of each mode (alternating)")
    args = ap.parse_args()
    import numpy as np
    import run as bench
    from threadpoolctl import threadpool_limits

    from nnlab.config import validate
    from nnlab.data import load_dataset
    from nnlab.train.trainer import Trainer, build

    w = bench.WORKLOADS["a"]
    tmp = tempfile.mkdtemp()
    cfg = validate(bench.nnlab_config(w, bench.make_data("a", Path(tmp)), w["epochs"], monitored=False))
    ds = load_dataset(cfg.data, cfg.dtype)
    tr = Trainer(cfg, ds)
    m, opt, loss_a = tr.model, tr.opt, tr.loss_fn
    mb, loss_b, _ = build(cfg, ds)  # the helper's layers and loss, bound to the same parameters
    mb.params = m.params
    mb._bind()
    n_params, half = m.n_params, m.n_params // 2
    helper = Helper(threadpool_limits)

    def half_step(model, loss_fn, xb, yb, n):
        out = model.forward_buffered(xb, train=True)
        c = loss_fn.correct(out, yb)
        loss, dout = loss_fn(out, yb)
        dout *= dout.dtype.type(len(xb) / n)  # the half's share of the batch mean
        model.backward(dout)
        return loss * len(xb), c

    parts = []

    def adam_half(i, lr):
        lo, hi, o = parts[i]
        g = m.grads[lo:hi]
        g += mb.grads[lo:hi]
        o.t = opt.t
        o._update(m.params[lo:hi], g, np.float32(lr), max(0, min(m.n_decay - lo, hi - lo)))

    def parallel_step(xb, yb, lr=1e-3):
        n, h = len(xb), len(xb) // 2
        helper.start(lambda: half_step(mb, loss_b, xb[h:], yb[h:], n))
        la, ca = half_step(m, loss_a, xb[:h], yb[:h], n)
        lb, cb = helper.wait()
        opt.t += 1
        helper.start(lambda: adam_half(1, lr))
        adam_half(0, lr)
        helper.wait()
        return (la + lb) / n, ca + cb

    b = tr.batches
    b.start_epoch()
    xb, yb = b.get(0)
    with threadpool_limits(1, user_api="blas"):
        tr.step(xb, yb, 0, False)  # allocates Adam's state; then each half gets views into it
        for lo, hi in ((0, half), (half, n_params)):
            o = copy.copy(opt)
            o.state = {k: v[lo:hi] for k, v in opt.state.items()}
            parts.append((lo, hi, o))
        # the same update up to rounding: one step each way from the same state
        saved = (m.params.copy(), copy.deepcopy(opt.state), opt.t)
        tr.step(xb, yb, 0, False)
        serial = m.params.copy()
        m.params[...] = saved[0]
        for k, v in saved[1].items():
            opt.state[k][...] = v
        opt.t = saved[2]
        parallel_step(xb, yb)
        diff = float(np.max(np.abs(m.params - serial)))
    print(f"one step from the same state, the two ways: parameters differ by at most {diff:.1e}")

    def clock(f, reps=300):
        for _ in range(20):
            f()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return 1e6 * statistics.median(ts)

    nb = len(b.bounds)
    per_step = {"2 BLAS threads": [], "2 Python threads": []}
    for _ in range(args.epochs):
        for mode in per_step:
            serial_mode = mode == "2 BLAS threads"
            with threadpool_limits(2 if serial_mode else 1, user_api="blas"):
                b.start_epoch()
                t0 = time.perf_counter()
                for i in range(nb):
                    xb, yb = b.get(i)
                    if serial_mode:
                        tr.step(xb, yb, 0, False)
                    else:
                        parallel_step(xb, yb)
                per_step[mode].append(1e6 * (time.perf_counter() - t0) / nb)
    print(f"workload (a), {nb} steps per epoch, {args.epochs} epochs of each mode, alternating")
    print(f"{'whole step':<44}{'median us':>10}   per epoch")
    for mode, ts in per_step.items():
        print(f"  {mode:<42}{statistics.median(ts):10.0f}   " + " ".join(f"{t:.0f}" for t in ts))
    xb, yb = b.get(0)  # a whole batch of 128 rows (the epoch's last one is smaller)
    n = len(xb)
    h = n // 2
    with threadpool_limits(1, user_api="blas"):
        pieces = {
            "half a batch forward + backward, alone": lambda: half_step(m, loss_a, xb[:h], yb[:h], n),
            "whole batch forward + backward, alone": lambda: half_step(m, loss_a, xb, yb, n),
            "both halves at once on two threads": lambda: (
                helper.start(lambda: half_step(mb, loss_b, xb[h:], yb[h:], n)),
                half_step(m, loss_a, xb[:h], yb[:h], n), helper.wait()),
            "one handover (helper wakes, main wakes)": lambda: (helper.start(lambda: None), helper.wait()),
            "Adam, all parameters": lambda: opt._update(m.params, m.grads, np.float32(1e-9), m.n_decay),
            "Adam, half of them": lambda: parts[0][2]._update(m.params[:half], m.grads[:half], np.float32(1e-9),
                                                             m.n_decay),
        }
        print(f"{'piece (1 BLAS thread, wall clock)':<44}{'median us':>10}")
        for name, f in pieces.items():
            print(f"  {name:<42}{clock(f):10.0f}")


if __name__ == "__main__":
    main()
