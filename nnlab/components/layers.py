"""Layers: each a forward/backward pair over a mini-batch, shapes in the docstring.

Conventions (CS231n assignment style):
- ``forward(x, train)`` returns the output and keeps what ``backward`` needs.
- ``backward(dout)`` writes the parameter gradients into the layer's gradient
  views and returns dx; it may overwrite ``dout`` (each upstream gradient is
  consumed exactly once).  ``need_dx=False`` skips dx for the first layer.
- Parameters are declared by ``param_specs(n_in)`` and live as views into the
  model's one flat parameter buffer (see nnlab.train.model), so one optimizer update
  is a few vectorised passes over one array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ParamSpec:
    """A parameter tensor a layer asks for: name, shape, whether L1/L2/weight decay apply (``decay``: always;
    ``bias``: only with train.regularization.biases)."""

    name: str
    shape: tuple
    decay: bool = False
    bias: bool = False
    fill: float = 0.0  # initial value when no initializer applies (biases 0, BN gamma 1, PReLU 0.25)


class Layer:
    """Base class: no parameters, identity width."""

    kind = "layer"
    trainable = False

    def param_specs(self, n_in: int) -> list[ParamSpec]:
        return []

    def out_features(self, n_in: int) -> int:
        return n_in

    def bind(self, params: dict, grads: dict) -> None:
        """Receive this layer's parameter and gradient views (name -> array)."""
        self.p, self.g = params, grads

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dout, need_dx: bool = True):
        raise NotImplementedError


class Dense(Layer):
    """Affine layer: out = x @ W + b.

    Shapes: x (N, D), W (D, M), b (M,), out (N, M).
    Backward: dW = x^T dout, db = sum_n dout, dx = dout W^T.
    """

    kind = "dense"
    trainable = True

    def __init__(self, n_out: int):
        self.n_out = n_out
        self._out = {}  # preallocated outputs, input gradients and rows of ones, one per batch size
        self._dx = {}
        self._ones = {}

    def param_specs(self, n_in):
        self.n_in = n_in
        return [ParamSpec("W", (n_in, self.n_out), decay=True), ParamSpec("b", (self.n_out,), bias=True)]

    def out_features(self, n_in):
        return self.n_out

    def forward(self, x, train=True):
        self.x = x
        n = x.shape[0]
        out = self._out.get(n)
        if out is None or out.dtype != x.dtype:
            out = self._out[n] = np.empty((n, self.n_out), dtype=x.dtype)
        np.matmul(x, self.p["W"], out=out)
        out += self.p["b"]
        return out

    def backward(self, dout, need_dx=True):
        np.matmul(self.x.T, dout, out=self.g["W"])
        # db = 1^T dout as a vector-matrix product: 1-3 us faster per layer than add.reduce over axis 0
        n = dout.shape[0]
        ones = self._ones.get(n)
        if ones is None or ones.dtype != dout.dtype:
            ones = self._ones[n] = np.ones(n, dtype=dout.dtype)
        np.matmul(ones, dout, out=self.g["b"])
        if not need_dx:
            return None
        dx = self._dx.get(n)
        if dx is None or dx.dtype != dout.dtype:
            dx = self._dx[n] = np.empty((n, self.n_in), dtype=dout.dtype)
        return np.matmul(dout, self.p["W"].T, out=dx)


class Dropout(Layer):
    """Dropout (Srivastava et al. 2014): zero each unit with probability p in training.

    mode 'inverted' (CS231n's common case, default): train out = x * mask / (1-p),
    test out = x.  mode 'classic' (Hung-yi Lee's notes): train out = x * mask,
    test out = x * (1-p).  Either way E[train out] = test out.  mode 'unscaled' is
    deliberately wrong, for the claims gallery: train out = x * mask, test out = x, so
    the test-time output is 1/(1-p) times the training-time expectation (the mistake
    CS224n notes 2.3 warn about).
    Shapes: x (N, D) -> out (N, D); mask is Bernoulli(1-p), drawn anew every batch.
    ``frozen = True`` (for gradient checks) reuses the last mask instead of drawing.
    """

    kind = "dropout"
    frozen = False

    def __init__(self, rate: float, mode: str, rng: np.random.Generator):
        self.rate, self.mode, self.rng = float(rate), mode, rng
        self.mask = None

    def forward(self, x, train=True):
        keep = 1.0 - self.rate
        if not train:
            return x * x.dtype.type(keep) if self.mode == "classic" else x
        if not (self.frozen and self.mask is not None and self.mask.shape == x.shape):
            draw = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
            mask = (draw < keep).astype(x.dtype)
            if self.mode == "inverted":
                mask *= x.dtype.type(1.0 / keep)
            self.mask = mask
        return x * self.mask

    def backward(self, dout, need_dx=True):
        dout *= self.mask
        return dout


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015), placed between Dense and the activation.

    Training: x_hat = (x - mu_B) / sqrt(var_B + eps), out = gamma * x_hat + beta,
    with the batch mean and (biased) variance; evaluation uses running statistics.
    Running statistics follow the Keras/CS231n convention:
        running = momentum * running + (1 - momentum) * batch_stat   (momentum 0.9)
    (PyTorch's ``momentum=0.1`` means the same thing as nnlab's 0.9.)  The running
    variance stores the biased batch variance, as CS231n's batchnorm_forward.
    Shapes: x (N, D) -> out (N, D); gamma, beta (D,), never weight-decayed.
    """

    kind = "batch_norm"
    trainable = True

    def __init__(self, momentum: float = 0.9, eps: float = 1e-5):
        self.momentum, self.eps = momentum, eps

    def param_specs(self, n_in):
        self.running_mean = None
        self.n = n_in
        return [ParamSpec("gamma", (n_in,), fill=1.0), ParamSpec("beta", (n_in,), fill=0.0)]

    def forward(self, x, train=True):
        if self.running_mean is None:
            self.running_mean = np.zeros(self.n, dtype=x.dtype)
            self.running_var = np.ones(self.n, dtype=x.dtype)
        if train:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1 - m) * mu
            self.running_var *= m
            self.running_var += (1 - m) * var
            self.inv_std = 1.0 / np.sqrt(var + self.eps)
            self.x_hat = xc * self.inv_std
            return self.x_hat * self.p["gamma"] + self.p["beta"]
        x_hat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return x_hat * self.p["gamma"] + self.p["beta"]

    def backward(self, dout, need_dx=True):
        x_hat, n = self.x_hat, dout.shape[0]
        np.sum(dout * x_hat, axis=0, out=self.g["gamma"])
        np.sum(dout, axis=0, out=self.g["beta"])
        if not need_dx:
            return None
        # dx = gamma/std * (dout - mean(dout) - x_hat * mean(dout * x_hat))
        dx = dout - self.g["beta"] / n
        dx -= x_hat * (self.g["gamma"] / n)
        dx *= self.p["gamma"] * self.inv_std
        return dx
