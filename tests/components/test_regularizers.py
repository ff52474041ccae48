"""Regularizer edge cases and decoupled decay (the formulas in training are in test_trainer.py and test_loop.py)."""

from __future__ import annotations

import numpy as np

from nnlab.components.regularizers import apply_max_norm, decay_weights


def test_max_norm_leaves_short_columns_and_zero_columns_alone():
    # columns of norm 0.5 and 0 under c = 0.8: untouched (the 1e-12 floor only guards 0 / 0)
    W = np.array([[0.3, 0.0, 3.0], [0.4, 0.0, 4.0]])
    apply_max_norm([W], 0.8)
    np.testing.assert_array_equal(W[:, :2], [[0.3, 0.0], [0.4, 0.0]])
    np.testing.assert_allclose(W[:, 2], [0.48, 0.64], rtol=1e-15)


def test_decay_weights_by_hand_in_place_and_in_the_arrays_dtype():
    w = np.array([2.0, -1.0, 0.0])
    decay_weights(w, 0.1, 0.5)  # w <- (1 - 0.1 * 0.5) w
    np.testing.assert_array_equal(w, [1.9, -0.95, 0.0])
    w32 = np.array([2.0, -1.0], dtype=np.float32)
    decay_weights(w32, 0.1, 0.5)
    assert w32.dtype == np.float32
    np.testing.assert_array_equal(w32, np.array([2.0, -1.0], dtype=np.float32) * np.float32(0.95))


def test_adamw_decays_through_decay_weights():
    # one function for both, so that adam with train.regularization.decay is adamw to the bit
    import nnlab.components.optimizers as optimizers

    assert optimizers.decay_weights is decay_weights
