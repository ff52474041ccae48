"""One or two BLAS threads for each matrix product the benchmark workloads make.

    python bench/gemm_threads.py

Times np.matmul (float32, preallocated output) for every product shape of workloads (a),
(b), (c) of bench/run.py with 1 and 2 OpenBLAS threads (threadpoolctl), 300 calls each,
twice in alternation; prints the 10th percentile (the busy-machine-robust figure) and the
median of the better pass.  nnlab/train/threads.py's threshold comes from this table.
"""

from __future__ import annotations

import statistics
import time

SHAPES = [  # (m, k, n): batch x fan_in x fan_out and the backward products
    (32, 64, 64), (32, 64, 10),                                # (c)
    (100, 40, 100), (100, 100, 100), (100, 100, 10),           # (b)
    (128, 256, 256), (128, 784, 256), (256, 128, 256), (784, 128, 256),  # (a)
]


def run(threads: int, reps: int = 300) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out = {}
    with threadpool_limits(threads, user_api="blas"):
        for m, k, n in SHAPES:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            o = np.empty((m, n), np.float32)
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                np.matmul(a, b, out=o)
                ts.append(time.perf_counter() - t0)
            ts.sort()
            out[(m, k, n)] = (1e6 * ts[len(ts) // 10], 1e6 * statistics.median(ts))
    return out


def main() -> None:
    passes = {1: [], 2: []}
    for _ in range(2):
        for t in (1, 2):
            passes[t].append(run(t))
    print(f"{'m x k x n':<16}{'Mflop':>7}{'1t p10 us':>11}{'2t p10 us':>11}{'1t med':>9}{'2t med':>9}{'1t/2t':>8}")
    print("-" * 71)
    for s in SHAPES:
        f = 2 * s[0] * s[1] * s[2] / 1e6
        one = min(p[s][0] for p in passes[1])
        two = min(p[s][0] for p in passes[2])
        om, tm = min(p[s][1] for p in passes[1]), min(p[s][1] for p in passes[2])
        print(f"{'x'.join(map(str, s)):<16}{f:7.2f}{one:11.1f}{two:11.1f}{om:9.1f}{tm:9.1f}{one / two:8.2f}")


if __name__ == "__main__":
    main()
