"""How many BLAS threads one run uses, chosen from the sizes of its matrix products.

On this project's 2-core machine a float32 product of 2 million flops or fewer (a batch of
100 through a 100 x 100 layer) is no faster with 2 OpenBLAS threads than with one (19 us
either way: OpenBLAS runs products that small on one thread anyway), while one of 17 million
flops or more is 1.7-1.9x faster (128 x 256 x 256: 166 vs 97 us; 128 x 784 x 256: 500 vs
276 us; measured with ``python bench/gemm_threads.py``, see README "Threads").  Two threads
are not free: when several runs share the cores, their spinning BLAS threads fight, and small
runs side by side became 25-30x slower.  So a run whose largest product per step is under
THRESHOLD flops trains with one BLAS thread; a larger one keeps the library's default.
NNLAB_THREADS=N sets the count for every run.
"""

from __future__ import annotations

import contextlib
import os

from nnlab.errors import ConfigError

THRESHOLD = 3e6  # flops of the largest matrix product of one training step


def largest_product_flops(cfg, n_features: int, n_outputs: int, n_train: int) -> float:
    """2 * batch * fan_in * fan_out of the widest Dense layer's forward product."""
    # imported here: the CLI reads NNLAB_THREADS through this module before every command, numpy-free
    from nnlab.components.activations import activations
    from nnlab.train.batching import batch_size_for

    m = cfg.model
    pieces = activations.build(m["activation"]).width_factor  # maxout: k pieces per unit
    outs = [*(h * pieces for h in m["hidden"]), n_outputs]
    ins = [n_features, *m["hidden"]]
    batch = batch_size_for(cfg.train["batch_size"], n_train)
    return max(2.0 * batch * a * b for a, b in zip(ins, outs))


def cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


MAX_THREADS = 256  # OpenBLAS builds cap their pools at 64 to 512; more is a typo


def env_threads() -> int | None:
    """NNLAB_THREADS as a thread count, None when it is unset or empty.  Anything but a whole number
    from 1 to MAX_THREADS is a ConfigError (the CLI checks it before any command runs)."""
    text = os.environ.get("NNLAB_THREADS", "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_THREADS:
        raise ConfigError(f"NNLAB_THREADS: must be a whole number from 1 to {MAX_THREADS} (BLAS threads per run), "
                          f"got {text!r}; unset it to let nnlab choose from the matrix sizes")
    return n


def blas_threads(cfg, n_features: int, n_outputs: int, n_train: int) -> int | None:
    """The thread count for a run: NNLAB_THREADS if set, 1 for small products, else None (the default)."""
    n = env_threads()
    if n is not None:
        return n
    return 1 if largest_product_flops(cfg, n_features, n_outputs, n_train) < THRESHOLD else None


@contextlib.contextmanager
def limited(threads: int | None):
    """Run the block with at most ``threads`` BLAS threads (no change for None)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # lazy: only runs that train need it

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
