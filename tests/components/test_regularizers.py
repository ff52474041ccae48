"""Regularizer edge cases (the formulas themselves are in test_trainer.py and test_loop.py)."""

from __future__ import annotations

import numpy as np

from nnlab.components.regularizers import apply_max_norm


def test_max_norm_leaves_short_columns_and_zero_columns_alone():
    # columns of norm 0.5 and 0 under c = 0.8: untouched (the 1e-12 floor only guards 0 / 0)
    W = np.array([[0.3, 0.0, 3.0], [0.4, 0.0, 4.0]])
    apply_max_norm([W], 0.8)
    np.testing.assert_array_equal(W[:, :2], [[0.3, 0.0], [0.4, 0.0]])
    np.testing.assert_allclose(W[:, 2], [0.48, 0.64], rtol=1e-15)
