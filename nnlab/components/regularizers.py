"""Regularization and gradient clipping, applied to the model's flat buffers in place.

All act on Dense weights only (``params[:n_decay]``); batch-norm and PReLU
parameters are never penalised, and the Dense biases only with
train.regularization.biases (CS224n notes 2.2: the bias need not be regularized;
``MLP.regularized`` gives the parts).  Conventions follow Hung-yi Lee's notes:

    L2:     L' = L + (l2 / 2) sum w^2,   dL'/dw = dL/dw + l2 w      (so w <- (1 - lr l2) w - lr dL/dw for SGD)
    L1:     L' = L + l1 sum |w|,         dL'/dw = dL/dw + l1 sign(w)
    decay:  w <- (1 - lr decay) w before the optimizer's update (decoupled weight decay, torch.optim.AdamW's
            rule, Loshchilov & Hutter 2019): no loss term, so an adaptive optimizer does not rescale it
"""

from __future__ import annotations

import numpy as np


def penalty(w: np.ndarray, l1: float, l2: float) -> float:
    """The value l1 sum|w| + (l2/2) sum w^2 added to the loss."""
    return l1 * float(np.abs(w).sum()) + 0.5 * l2 * float(np.dot(w, w))


def add_penalty_grad(gw: np.ndarray, w: np.ndarray, l1: float, l2: float) -> None:
    """gw += l2 w + l1 sign(w), in place."""
    if l2:
        gw += gw.dtype.type(l2) * w
    if l1:
        gw += gw.dtype.type(l1) * np.sign(w)


def decay_weights(w: np.ndarray, lr: float, decay: float) -> None:
    """w *= 1 - lr decay, in place: decoupled weight decay with this step's learning rate (AdamW's arithmetic,
    shared with it, so adam with train.regularization.decay is adamw to the bit)."""
    f = w.dtype.type
    w *= f(1 - f(lr) * decay)


def clip_by_norm(g: np.ndarray, max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most max_norm; return the norm before."""
    total = float(np.sqrt(np.dot(g, g)))
    if total > max_norm:
        g *= g.dtype.type(max_norm / total)
    return total


def clip_by_value(g: np.ndarray, value: float) -> None:
    """Clamp every gradient entry to [-value, value]."""
    np.clip(g, -value, value, out=g)


def apply_max_norm(weights: list[np.ndarray], c: float) -> None:
    """Max-norm constraint (Srivastava et al. 2014): rescale each unit's incoming weight vector to norm <= c.

    W has shape (fan_in, fan_out): unit j's incoming weights are column j.
    """
    for W in weights:
        norms = np.sqrt(np.einsum("ij,ij->j", W, W))
        np.minimum(W.dtype.type(c) / np.maximum(norms, W.dtype.type(1e-12)), 1, out=norms)
        W *= norms
