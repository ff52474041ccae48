"""Activation functions (``model.activation``): forward beside backward.

Each activation is a Layer: ``forward(z, train)`` -> a, ``backward(da)`` -> dz
(computed in place in ``da``).  Shapes: z (N, D) -> a (N, D), except maxout
(N, D*k) -> (N, D).  Options are the keyword-only parameters of ``__init__``.

Formulas follow the CS224n notes (2.4), Hung-yi Lee's notes (ReLU variants,
maxout) and the 003 blog post (ELU > leaky ReLU > ReLU > tanh > sigmoid).

``kink_state(z)`` (where defined) returns an array that changes exactly when z
crosses a point where the function is not differentiable (ReLU at 0, a maxout
tie); the gradient check uses it to flag such points instead of failing on them.
"""

from __future__ import annotations

import math

import numpy as np

from nnlab.components.layers import Layer, ParamSpec
from nnlab.options import NonNegative, Positive, PositiveInt, Registry


class Activation(Layer):
    kind = "activation"
    width_factor = 1  # maxout needs k pieces per unit from the preceding Dense layer
    # what a unit the diagnostics call dead does to the gradient: 'zero' (ReLU: none passes), 'piece' (a maxout
    # piece that never wins), 'slope' (only a small slope passes)
    dead_kind = "slope"
    stochastic = False  # draws random numbers in training mode (RReLU's slopes): not one fixed function
    kink_state = None
    # what the per-layer diagnostics can ask of an activation (nnlab.train.diagnostics)
    tracks_activity = False  # unit_activity() defined: units can go 'dead'
    tracks_saturation = False  # saturated() defined: units can sit on a flat part

    def unit_activity(self):
        """Per unit (shape (D,)), a value > 0 iff the unit was active on the last batch.

        A unit whose value never exceeds 0 over an epoch is 'dead' for that epoch.
        """
        return np.maximum.reduce(self.z, axis=0)  # the unit was on its identity part

    def saturated(self) -> float:
        """Fraction of the last batch's activations on a flat part of the function."""
        raise NotImplementedError

    def forward(self, z, train=True):
        self.z = z
        self.a = self.f(z)
        return self.a

    def backward(self, da, need_dx=True):
        da *= self.df()
        return da


class Identity(Activation):
    """a = z: no non-linearity (a stack of layers is then one linear map)."""

    def f(self, z):
        return z

    def backward(self, da, need_dx=True):
        return da


class Sigmoid(Activation):
    """a = 1 / (1 + e^-z); da/dz = a (1 - a) <= 1/4, hence vanishing gradients in deep nets."""

    def f(self, z):
        # 0.5 (1 + tanh(z/2)) is the same function without overflow in exp(-z)
        a = np.multiply(z, 0.5)
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a

    def df(self):
        return self.a * (1 - self.a)

    tracks_saturation = True

    def saturated(self):
        """a < 0.03 or a > 0.97, where da/dz < 0.03."""
        return float(((self.a < 0.03) | (self.a > 0.97)).mean())


class Tanh(Activation):
    """a = tanh(z) = 2 sigmoid(2z) - 1; da/dz = 1 - a^2."""

    def f(self, z):
        return np.tanh(z)

    def df(self):
        return 1 - self.a * self.a

    tracks_saturation = True

    def saturated(self):
        """|a| > 0.97, where da/dz < 0.06."""
        return float((np.abs(self.a) > 0.97).mean())


class HardTanh(Activation):
    """a = clip(z, -1, 1); da/dz = 1 on [-1, 1], else 0 (CS224n 2.4)."""

    def f(self, z):
        return np.clip(z, -1, 1)

    def df(self):
        return (np.abs(self.z) <= 1).astype(self.z.dtype)

    def kink_state(self, z):
        return np.sign(z - 1) + 3 * np.sign(z + 1)

    tracks_saturation = True

    def saturated(self):
        """|z| > 1, where the gradient is exactly 0."""
        return float((np.abs(self.z) > 1).mean())


class Softsign(Activation):
    """a = z / (1 + |z|); da/dz = 1 / (1 + |z|)^2."""

    def f(self, z):
        self.den = 1 + np.abs(z)
        return z / self.den

    def df(self):
        return 1 / (self.den * self.den)


class ReLU(Activation):
    """a = max(z, 0); da/dz = 1 if z > 0 else 0 (CS224n 2.4: 'rect')."""

    dead_kind = "zero"

    def __init__(self):
        self._zeros: dict = {}  # an array of zeros per (shape, dtype), never written

    def f(self, z):
        # np.maximum against an array of zeros, not the scalar 0: the same ufunc (a NaN stays NaN,
        # -inf becomes 0), but numpy's vectorised loop takes two arrays while a scalar operand goes
        # through a slower one: 1.5 against 4.4 us for 100 x 100 float32, 3.9 against 12.9 us for 128 x 256
        key = (z.shape, z.dtype)
        zeros = self._zeros.get(key)
        if zeros is None:
            zeros = self._zeros[key] = np.zeros(z.shape, z.dtype)
        return np.maximum(z, zeros)

    def backward(self, da, need_dx=True):
        da *= self.a > 0
        return da

    def kink_state(self, z):
        return z > 0

    tracks_activity = True

    def unit_activity(self):
        return np.maximum.reduce(self.a, axis=0)  # a > 0 iff z > 0


class LeakyReLU(Activation):
    """a = z if z > 0 else slope * z (Maas et al. 2013; Hung-yi Lee: slope 0.01)."""

    tracks_activity = True

    def __init__(self, *, slope: NonNegative = 0.01):
        self.slope = slope

    def f(self, z):
        return np.where(z > 0, z, z * self.slope)

    def df(self):
        return np.where(self.z > 0, 1.0, self.slope).astype(self.z.dtype)

    def kink_state(self, z):
        return z > 0


class PReLU(Activation):
    """a = z if z > 0 else alpha_j z, with a learned slope alpha_j per unit (He et al. 2015).

    alpha starts at 0.25, is trained by the optimizer and never weight-decayed.
    d a / d alpha_j = z where z <= 0, summed over the batch.
    """

    tracks_activity = True

    trainable = True

    def param_specs(self, n_in):
        return [ParamSpec("alpha", (n_in,), decay=False, fill=0.25)]

    def f(self, z):
        return np.where(z > 0, z, z * self.p["alpha"])

    def backward(self, da, need_dx=True):
        neg = self.z <= 0
        np.sum(da * self.z * neg, axis=0, out=self.g["alpha"])
        da *= np.where(neg, self.p["alpha"], 1).astype(da.dtype)
        return da

    def kink_state(self, z):
        return z > 0


class RReLU(Activation):
    """Randomized leaky ReLU (Xu et al. 2015): a = z if z > 0 else s z.

    Training: s ~ U[lower, upper] drawn per element every batch; evaluation: the
    mean slope s = (lower + upper) / 2 (as torch.nn.RReLU).
    """

    tracks_activity = True
    stochastic = True  # a different function at every training forward pass (lbfgs refuses it)

    frozen = False  # gradient checks reuse the last drawn slopes

    def __init__(self, *, lower: NonNegative = 1 / 8, upper: NonNegative = 1 / 3):
        self.lower, self.upper = lower, upper
        self.slopes = None
        self.rng = np.random.default_rng(0)  # replaced by the model's dropout stream

    @staticmethod
    def check(options):
        if options["lower"] > options["upper"]:
            raise ValueError(f"lower ({options['lower']}) must not exceed upper ({options['upper']})")

    def forward(self, z, train=True):
        self.z = z
        if not train:
            self.slopes = None
            return np.where(z > 0, z, z * ((self.lower + self.upper) / 2))
        if not (self.frozen and self.slopes is not None and self.slopes.shape == z.shape):
            self.slopes = self.rng.uniform(self.lower, self.upper, z.shape).astype(z.dtype)
        return np.where(z > 0, z, z * self.slopes)

    def backward(self, da, need_dx=True):
        da *= np.where(self.z > 0, 1, self.slopes).astype(da.dtype)
        return da

    def kink_state(self, z):
        return z > 0


class ELU(Activation):
    """a = z if z > 0 else alpha (e^z - 1) (Clevert et al. 2016); da/dz = a + alpha for z <= 0."""

    tracks_activity = True
    tracks_saturation = True

    def saturated(self):
        """z < -3, where da/dz = alpha e^z < 0.05 alpha."""
        return float((self.z < -3).mean())

    def __init__(self, *, alpha: Positive = 1.0):
        self.alpha = alpha

    def f(self, z):
        # the negative piece on z clamped to <= 0 by where(), not minimum(z, 0): at z = -0.0 minimum
        # returns its +0 operand and the output would be +0, where torch and the formula give -0.0
        pos = z > 0
        return np.where(pos, z, self.alpha * np.expm1(np.where(pos, 0, z)))

    def df(self):
        return np.where(self.z > 0, 1, self.a + self.alpha).astype(self.z.dtype)

    def kink_state(self, z):  # differentiable at 0 only when alpha == 1
        return z > 0 if self.alpha != 1 else None


class SELU(Activation):
    """a = lambda * (z if z > 0 else alpha (e^z - 1)), lambda ~ 1.0507, alpha ~ 1.6733 (Klambauer et al. 2017).

    Self-normalizing with lecun_normal initialization.
    """

    tracks_activity = True
    tracks_saturation = True

    def saturated(self):
        """z < -3, where da/dz < 0.05 lambda alpha."""
        return float((self.z < -3).mean())

    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def f(self, z):
        pos = z > 0  # the negative piece as ELU's (-0.0 stays -0.0, as in torch)
        return self.SCALE * np.where(pos, z, self.ALPHA * np.expm1(np.where(pos, 0, z)))

    def df(self):
        return np.where(self.z > 0, self.SCALE, self.a + self.SCALE * self.ALPHA).astype(self.z.dtype)

    def kink_state(self, z):
        return z > 0


class GELU(Activation):
    """a = z Phi(z), Phi the standard normal CDF (exact, with erf; Hendrycks & Gimpel 2016).

    da/dz = Phi(z) + z phi(z), phi the standard normal density.
    """

    def f(self, z):
        from scipy.special import erf  # lazy: scipy is slow to import

        self.cdf = (0.5 * (1 + erf(z / math.sqrt(2)))).astype(z.dtype)
        return z * self.cdf

    def df(self):
        z = self.z
        return self.cdf + z * (np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)).astype(z.dtype)


class Swish(Activation):
    """a = z sigmoid(z) (SiLU; Ramachandran et al. 2017); da/dz = s + z s (1 - s)."""

    def f(self, z):
        self.s = 0.5 * (1 + np.tanh(0.5 * z))
        return z * self.s

    def df(self):
        s = self.s
        return s + self.z * s * (1 - s)


class Softplus(Activation):
    """a = log(1 + e^z), computed stably as logaddexp(0, z); da/dz = sigmoid(z)."""

    def f(self, z):
        return np.logaddexp(0, z)

    def df(self):
        return 0.5 * (1 + np.tanh(0.5 * self.z))


class Maxout(Activation):
    """Maxout (Goodfellow et al. 2013): each unit is the max of k linear pieces.

    The preceding Dense layer makes D*k outputs; unit j takes max over its k pieces
    z[:, j*k:(j+1)*k].  ReLU is the special case max(z, 0) (Hung-yi Lee's notes).
    The gradient flows only to the winning piece.  Shapes: (N, D*k) -> (N, D).
    """

    dead_kind = "piece"

    def __init__(self, *, pieces: PositiveInt = 2):
        self.pieces = pieces
        self.width_factor = pieces

    def out_features(self, n_in):
        return n_in // self.pieces

    def forward(self, z, train=True):
        self.z = z
        n, dk = z.shape
        zr = z.reshape(n, dk // self.pieces, self.pieces)
        self.idx = np.argmax(zr, axis=2)[..., None]
        self.shape = zr.shape
        return np.take_along_axis(zr, self.idx, axis=2)[..., 0]

    def backward(self, da, need_dx=True):
        dz = np.zeros(self.shape, dtype=da.dtype)
        np.put_along_axis(dz, self.idx, da[..., None], axis=2)
        return dz.reshape(self.shape[0], -1)

    def kink_state(self, z):
        n, dk = z.shape
        return np.argmax(z.reshape(n, dk // self.pieces, self.pieces), axis=2)

    tracks_activity = True

    def unit_activity(self):
        """Per piece (shape (D*k,)): how often it won on the last batch; a piece that never wins is dead."""
        n, d, k = self.shape
        flat = (np.arange(d) * k)[None, :] + self.idx[..., 0]
        return np.bincount(flat.ravel(), minlength=d * k).astype(np.float32)


# The registry, filled explicitly: adding a activation is its class or function above plus one line here.
activations = Registry("activation", {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "hard_tanh": HardTanh,
    "softsign": Softsign,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "rrelu": RReLU,
    "elu": ELU,
    "selu": SELU,
    "gelu": GELU,
    "swish": Swish,
    "softplus": Softplus,
    "maxout": Maxout,
})
