"""Mini-batches: where each batch of an epoch starts and ends, and the shuffled rows it holds.

The bounds are computed once per run.  With batch normalization a last batch of a
single row would give a batch variance of 0, which the running variance would then
blend in (evaluation activations measurably too large), so that row is merged into
the previous batch: 1001 rows in batches of 100 are nine batches of 100 and one of 101.

Shuffling draws one permutation per epoch from the run's shuffle stream.  A training set
of up to GATHER_LIMIT bytes is then gathered once into a shuffled copy, so that every batch
is a contiguous view: one numpy call per epoch instead of one per batch.  A larger set is
gathered batch by batch: a copy larger than the caches is written to memory and read back
from it, while a gathered batch is still in the cache when the first layer's matrix product
reads it (bench/profile_step.py's workload (a), 20,000 x 784 float32 in batches of 128, one
thread: 62 us of gather per step against 134 us of epoch copy per step).  The batches are the
same either way.
"""

from __future__ import annotations

import numpy as np

GATHER_LIMIT = 8 << 20  # shuffle by copying the training set once per epoch up to 8 MiB


def batch_size_for(batch_size, n: int) -> int:
    """The configured batch size ('full' or an int) as a number of rows, at most n."""
    return n if batch_size == "full" else min(int(batch_size), n)


def batch_bounds(n: int, batch_size: int, merge_single: bool = False) -> list[tuple[int, int]]:
    """(start, stop) of every batch of an epoch over n rows; a lone last row joins the batch before it
    when ``merge_single`` (batch normalization is on)."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    if merge_single and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def steps_per_epoch(cfg, n_train: int) -> int:
    """Optimizer steps in one epoch of a config over n_train training rows."""
    bs = batch_size_for(cfg.train["batch_size"], n_train)
    return len(batch_bounds(n_train, bs, bool(cfg.model.get("batch_norm"))))


class Batches:
    """The batches of each epoch: ``order = start_epoch()`` then ``get(i)`` for each bound i."""

    def __init__(self, x: np.ndarray, y: np.ndarray, bounds: list[tuple[int, int]], shuffle: bool,
                 rng: np.random.Generator):
        self.x, self.y, self.bounds, self.shuffle, self.rng = x, y, bounds, shuffle, rng
        self.whole = len(bounds) == 1  # one batch of everything: order does not matter to the gradient
        self.gather = shuffle and not self.whole and x.nbytes <= GATHER_LIMIT
        if self.gather:
            self.xs, self.ys = np.empty_like(x), np.empty_like(y)
        self.order = None

    def start_epoch(self, order: np.ndarray | None = None) -> np.ndarray | None:
        """Draw this epoch's permutation (or reuse ``order``, e.g. on resume) and gather the rows."""
        if not self.shuffle:
            return None
        # drawn even for a single full batch, so the shuffle stream does not depend on the batch size
        self.order = self.rng.permutation(len(self.x)) if order is None else order
        if self.gather:
            np.take(self.x, self.order, axis=0, out=self.xs)
            np.take(self.y, self.order, axis=0, out=self.ys)
        return self.order

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, e = self.bounds[i]
        if not self.shuffle or self.whole:
            return self.x[s:e], self.y[s:e]
        if self.gather:
            return self.xs[s:e], self.ys[s:e]
        idx = self.order[s:e]  # a training set larger than GATHER_LIMIT: gather each batch
        return np.take(self.x, idx, axis=0), self.y[idx]
