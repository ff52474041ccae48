"""Weight initializers (``model.init``); biases always start at 0.

Every initializer is called as ``init(fan_in, fan_out, rng, dtype)`` and returns a
``(fan_in, fan_out)`` weight matrix W (a layer computes ``x @ W + b``).  Options
are the keyword-only parameters.

Why it matters (CS224n notes 2.6, 003 blog post): the variance of W decides
whether activations and gradients keep their scale through depth; Xavier keeps
Var(W) = 2 / (fan_in + fan_out) for tanh/sigmoid nets, He keeps 2 / fan_in
for ReLU nets.
"""

from __future__ import annotations

import numpy as np

from nnlab.options import NonNegative, Positive, Registry


def zeros(fan_in, fan_out, rng, dtype):
    """All weights 0: every unit of a layer stays identical (symmetry is never broken)."""
    return np.zeros((fan_in, fan_out), dtype=dtype)


def constant(fan_in, fan_out, rng, dtype, *, value: float = 0.0):
    """All weights equal to `value` (as zeros, symmetry is never broken)."""
    return np.full((fan_in, fan_out), value, dtype=dtype)


def normal(fan_in, fan_out, rng, dtype, *, std: Positive = 0.01):
    """W ~ N(0, std^2): the 'small random numbers' of CS231n/CS224n notes."""
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def uniform(fan_in, fan_out, rng, dtype, *, limit: Positive = 0.05):
    """W ~ U[-limit, limit]."""
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def xavier_uniform(fan_in, fan_out, rng, dtype):
    """Glorot & Bengio 2010: W ~ U[-sqrt(6/(fan_in+fan_out)), +sqrt(6/(fan_in+fan_out))] (CS224n 2.6)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def xavier_normal(fan_in, fan_out, rng, dtype):
    """Glorot & Bengio 2010: W ~ N(0, 2/(fan_in+fan_out))."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_uniform(fan_in, fan_out, rng, dtype):
    """He et al. 2015: W ~ U[-sqrt(6/fan_in), +sqrt(6/fan_in)], variance 2/fan_in (for ReLU)."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def he_normal(fan_in, fan_out, rng, dtype):
    """He et al. 2015: W ~ N(0, 2/fan_in), which keeps ReLU activations' variance through depth."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)


def lecun_uniform(fan_in, fan_out, rng, dtype):
    """LeCun 1998: W ~ U[-sqrt(3/fan_in), +sqrt(3/fan_in)], variance 1/fan_in (the SELU init)."""
    limit = np.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def lecun_normal(fan_in, fan_out, rng, dtype):
    """LeCun 1998: W ~ N(0, 1/fan_in)."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)).astype(dtype)


def orthogonal(fan_in, fan_out, rng, dtype, *, gain: NonNegative = 1.0):
    """Saxe et al. 2014: W = gain * Q, Q with orthonormal rows or columns (QR of a Gaussian matrix).

    As torch.nn.init.orthogonal_: the sign of R's diagonal is folded into Q so that
    Q is uniformly distributed.
    """
    rows, cols = fan_in, fan_out
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q[:rows, :cols]).astype(dtype)


# The registry, filled explicitly: adding a initializer is its class or function above plus one line here.
initializers = Registry("initializer", {
    "zeros": zeros,
    "constant": constant,
    "normal": normal,
    "uniform": uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
})
