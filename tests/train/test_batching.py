"""Mini-batches (nnlab.train.batching): bounds, and the rows each batch holds in the three modes.

Modes of ``Batches``: no shuffle (contiguous slices of x), shuffle with one gather per epoch
(contiguous slices of the permuted copy), shuffle without gather (a training set above
GATHER_LIMIT bytes: each batch gathered from x by the epoch's order).  One full batch is never
permuted or copied, but its permutation is still drawn from the shuffle stream.
"""

from __future__ import annotations

import numpy as np

from nnlab.train import batching
from nnlab.train.batching import Batches, batch_bounds, batch_size_for

N, D = 10, 3
X = np.arange(N * D, dtype=np.float32).reshape(N, D)  # row r is [3r, 3r+1, 3r+2]
Y = np.arange(N, dtype=np.int64) * 10


def rows(batches, i):
    xb, yb = batches.get(i)
    return xb.copy(), yb.copy()


# -- bounds ---------------------------------------------------------------------------------

def test_batch_bounds_hand_computed():
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(10, 10) == [(0, 10)]
    assert batch_bounds(10, 5, merge_single=True) == [(0, 5), (5, 10)]


def test_two_batches_with_a_lone_last_row_merge_into_one():
    # 3 rows in batches of 2: (0, 2), (2, 3); the lone row joins the only other batch
    assert batch_bounds(3, 2) == [(0, 2), (2, 3)]
    assert batch_bounds(3, 2, merge_single=True) == [(0, 3)]


def test_batch_size_for():
    assert batch_size_for("full", 7) == 7
    assert batch_size_for(3, 7) == 3
    assert batch_size_for(100, 7) == 7


# -- the mode each Batches takes ------------------------------------------------------------

def test_no_shuffle_returns_slices_of_x_in_order_and_draws_nothing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    b = Batches(X, Y, batch_bounds(N, 4), shuffle=False, rng=rng)
    assert b.order is None
    assert b.start_epoch() is None
    assert rng.bit_generator.state == state
    assert b.gather is False and not hasattr(b, "xs")  # no copy of the training set
    for i, (s, e) in enumerate([(0, 4), (4, 8), (8, 10)]):
        xb, yb = b.get(i)
        assert np.shares_memory(xb, X) and np.shares_memory(yb, Y)  # views, not copies
        np.testing.assert_array_equal(xb, X[s:e])
        np.testing.assert_array_equal(yb, Y[s:e])


def test_shuffle_gathers_once_and_batches_are_slices_of_the_permuted_copy():
    b = Batches(X, Y, batch_bounds(N, 4), shuffle=True, rng=np.random.default_rng(5))
    assert b.whole is False and b.gather is True
    assert b.order is None
    order = b.start_epoch()
    np.testing.assert_array_equal(order, np.random.default_rng(5).permutation(N))
    assert b.order is order
    assert sorted(order.tolist()) == list(range(N)) and order.tolist() != list(range(N))
    np.testing.assert_array_equal(b.xs, X[order])
    np.testing.assert_array_equal(b.ys, Y[order])
    for i, (s, e) in enumerate(b.bounds):
        xb, yb = b.get(i)
        assert np.shares_memory(xb, b.xs) and np.shares_memory(yb, b.ys)  # contiguous views
        np.testing.assert_array_equal(xb, X[order[s:e]])
        np.testing.assert_array_equal(yb, Y[order[s:e]])


def test_shuffle_above_the_gather_limit_takes_each_batch_from_x(monkeypatch):
    gathered = Batches(X, Y, batch_bounds(N, 4), shuffle=True, rng=np.random.default_rng(5))
    gathered.start_epoch()
    monkeypatch.setattr(batching, "GATHER_LIMIT", 0)
    b = Batches(X, Y, batch_bounds(N, 4), shuffle=True, rng=np.random.default_rng(5))
    assert b.gather is False and not hasattr(b, "xs")
    order = b.start_epoch()
    np.testing.assert_array_equal(order, gathered.order)
    for i, (s, e) in enumerate(b.bounds):
        xb, yb = rows(b, i)
        assert xb.shape == (e - s, D) and yb.shape == (e - s,)
        np.testing.assert_array_equal(xb, X[order[s:e]])
        np.testing.assert_array_equal(yb, Y[order[s:e]])
        gx, gy = rows(gathered, i)
        np.testing.assert_array_equal(xb, gx)
        np.testing.assert_array_equal(yb, gy)


def test_gather_limit_is_inclusive(monkeypatch):
    monkeypatch.setattr(batching, "GATHER_LIMIT", X.nbytes)
    assert Batches(X, Y, batch_bounds(N, 4), True, np.random.default_rng(0)).gather is True
    monkeypatch.setattr(batching, "GATHER_LIMIT", X.nbytes - 1)
    assert Batches(X, Y, batch_bounds(N, 4), True, np.random.default_rng(0)).gather is False


def test_a_reused_order_is_gathered_without_drawing():
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    b = Batches(X, Y, batch_bounds(N, 5), shuffle=True, rng=rng)
    order = np.arange(N)[::-1].copy()
    assert b.start_epoch(order) is order
    assert rng.bit_generator.state == state
    np.testing.assert_array_equal(b.get(0)[0], X[[9, 8, 7, 6, 5]])
    np.testing.assert_array_equal(b.get(1)[1], Y[[4, 3, 2, 1, 0]])


def test_one_full_batch_is_x_itself_but_the_permutation_is_still_drawn():
    rng = np.random.default_rng(3)
    b = Batches(X, Y, batch_bounds(N, N), shuffle=True, rng=rng)
    assert b.whole is True and b.gather is False and not hasattr(b, "xs")
    order = b.start_epoch()
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(order, ref.permutation(N))
    assert rng.bit_generator.state == ref.bit_generator.state  # the stream moved by one permutation
    xb, yb = b.get(0)
    assert np.shares_memory(xb, X) and np.shares_memory(yb, Y)
    np.testing.assert_array_equal(xb, X)  # unpermuted: the order does not matter to the gradient
    np.testing.assert_array_equal(yb, Y)


def test_two_batches_are_not_whole():
    b = Batches(X, Y, batch_bounds(N, 5), shuffle=True, rng=np.random.default_rng(2))
    assert b.whole is False and b.gather is True
    order = b.start_epoch()
    np.testing.assert_array_equal(b.get(0)[0], X[order[:5]])
    np.testing.assert_array_equal(b.get(1)[0], X[order[5:]])


def test_sets_larger_than_the_caches_are_gathered_batch_by_batch():
    # MNIST-1D's 4,000 x 40 float32 (640 kB) is copied once per epoch; the benchmark's 20,000 x 784
    # (63 MB, twice the L3 cache of the machine it was measured on) is gathered per batch
    small, large = np.empty((4000, 40), np.float32), np.empty((20000, 784), np.float32)
    assert Batches(small, np.zeros(4000, int), batch_bounds(4000, 100), True, np.random.default_rng(0)).gather
    b = Batches(large, np.zeros(20000, int), batch_bounds(20000, 128), True, np.random.default_rng(0))
    assert b.gather is False and not hasattr(b, "xs")
