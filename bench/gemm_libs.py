"""The same matrix products in numpy (OpenBLAS) and in PyTorch (MKL), with 1 and 2 threads.

    python bench/gemm_libs.py [--reps 400]

For workload (a)'s product shapes (bench/run.py), float32 into a preallocated output: np.matmul
against torch.mm(out=).  Each library and thread count runs in its own process (two thread
pools in one process spin against each other and make both several times slower), twice in
alternation; the median of ``--reps`` calls of the better pass is shown, in microseconds.  It
answers whether PyTorch's lead on a workload comes from its matrix products or from the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = [(128, 784, 256), (784, 128, 256), (128, 256, 256), (256, 128, 256), (128, 256, 10)]


def worker(lib: str, reps: int) -> dict:
    import numpy as np

    threads = int(os.environ["OMP_NUM_THREADS"])
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    out = {}
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        if lib == "torch":
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)

            def f():
                torch.mm(ta, tb, out=tc)
        else:
            def f():
                np.matmul(a, b, out=c)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        out["x".join(map(str, (m, k, n)))] = 1e6 * statistics.median(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.reps)))
        return
    import importlib.util

    libs = ["numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    best: dict = {}
    for _ in range(2):
        for t in (1, 2):
            for lib in libs:
                env = {**os.environ, **{v: str(t) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                             "MKL_NUM_THREADS")}}
                res = json.loads(subprocess.run([sys.executable, __file__, "--worker", lib, "--reps",
                                                 str(args.reps)], env=env, capture_output=True, text=True,
                                                check=True).stdout)
                for shape, us in res.items():
                    key = (shape, t, lib)
                    best[key] = min(best.get(key, us), us)
    head = f"{'m x k x n':<14}" + "".join(f"{f'{lib} {t}t':>12}" for t in (1, 2) for lib in libs)
    print(head)
    print("-" * len(head))
    for m, k, n in SHAPES:
        shape = "x".join(map(str, (m, k, n)))
        print(f"{shape:<14}" + "".join(f"{best[(shape, t, lib)]:12.1f}" for t in (1, 2) for lib in libs))


if __name__ == "__main__":
    main()
