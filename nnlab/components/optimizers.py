"""Optimizers (``train.optimizer``): the update rules and defaults of torch.optim.

Contract: ``opt.step(p, g, lr, n_decay=None)`` updates the flat parameter array
``p`` in place from its gradient ``g`` with learning rate ``lr`` (the schedule's
value for this step).  ``p[:n_decay]`` are the weights (decoupled weight decay
touches only them; biases, batch-norm and PReLU parameters come after).  State
(moments, accumulators) is created lazily on the first step, shaped like ``p``.
Every rule is written in its docstring with t the 1-based step count; where the
course notes use another convention it is an option.

Each update is a handful of vectorised in-place passes over the whole flat
buffer, with one scratch array: no Python loop over tensors.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from nnlab.components.lbfgs import LBFGS
from nnlab.components.regularizers import decay_weights
from nnlab.options import Fraction, NonNegative, Positive, Registry

# decay rates and momentum live in [0, 1): at 1 a moving average never moves and Adam's
# bias correction divides by 1 - beta^t = 0 (torch.optim rejects beta = 1 too)
Beta = Fraction


class Optimizer:
    """Base: lazily allocated state, a step counter t and a scratch buffer.

    Capabilities other stages ask (never an optimizer's name):
      needs_closure         step_closure(p, closure, lr) instead of step(p, g, lr): it evaluates the loss
                            itself, as often as it likes (L-BFGS); config_problems(train, model) then
                            says what such an optimizer cannot work with
      chooses_steps(opts)   True when it picks its own step lengths (a line search), so advice about
                            the learning rate does not apply to it
      torch                 the torch.optim class it reproduces step for step (its defaults too, checked
                            against torch's golden trajectories in the tests), or None for an optimizer
                            torch lacks (then its own test pins its update rule)
    """

    needs_closure = False
    torch: str | None = None

    @staticmethod
    def chooses_steps(options: dict) -> bool:
        return False

    def __init__(self, lr: float):
        self.lr = lr
        self.t = 0
        self.state: dict[str, np.ndarray] = {}

    def _buf(self, name, like, fill=0.0):
        a = self.state.get(name)
        if a is None or a.shape != like.shape or a.dtype != like.dtype:
            a = self.state[name] = np.full_like(like, fill)
        return a

    def step(self, p, g, lr, n_decay=None):
        self.t += 1
        self._update(p, g, p.dtype.type(lr), n_decay)

    # scalar state besides t that a checkpoint must keep (NAdam's running momentum product)
    scalars: tuple = ()

    def state_dict(self) -> tuple[dict, dict]:
        """(JSON-able scalars, state arrays) for a checkpoint; scratch buffers are left out."""
        meta = {"t": self.t, **{k: getattr(self, k) for k in self.scalars}}
        return meta, {k: v for k, v in self.state.items() if k != "tmp"}

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        self.t = meta["t"]
        for k in self.scalars:
            setattr(self, k, meta[k])
        self.state = {k: v.copy() for k, v in arrays.items()}

    def _update(self, p, g, lr, n_decay):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    form 'torch' (default; dampening 0):
        b_1 = g_1,  b_t = momentum * b_{t-1} + g_t
        d_t = g_t + momentum * b_t  if nesterov else b_t
        p  <- p - lr * d_t
    form 'cs231n' (CS231n / CS224n notes, Hung-yi Lee's notes):
        v <- momentum * v - lr * g,  p <- p + v
        nesterov: v_prev = v; v <- momentum * v - lr * g; p <- p - momentum * v_prev + (1 + momentum) * v
    The two forms agree while lr is constant; they differ when a schedule changes lr
    (torch's velocity is measured in gradient units, CS231n's in parameter units).
    """

    torch = "SGD"

    def __init__(self, *, lr: Positive = 1e-3, momentum: Beta = 0.0, nesterov: bool = False,
                 form: Literal["torch", "cs231n"] = "torch"):
        super().__init__(lr)
        self.momentum, self.nesterov, self.form = momentum, nesterov, form

    @staticmethod
    def check(options):
        if options["nesterov"] and options["momentum"] == 0:
            raise ValueError("nesterov needs momentum > 0 (as torch.optim.SGD)")

    def _update(self, p, g, lr, n_decay):
        mu = p.dtype.type(self.momentum)
        if mu == 0:
            p -= lr * g
            return
        if self.form == "cs231n":
            v = self._buf("v", p)
            if self.nesterov:
                s = self._buf("tmp", p)
                np.multiply(v, -mu, out=s)  # -mu * v_prev
                v *= mu
                v -= lr * g
                s += (1 + mu) * v
                p += s
            else:
                v *= mu
                v -= lr * g
                p += v
            return
        fresh = "b" not in self.state
        b = self._buf("b", p)
        if fresh:
            b[...] = g
        else:
            b *= mu
            b += g
        if self.nesterov:
            s = self._buf("tmp", p)
            np.multiply(b, mu, out=s)
            s += g
            s *= lr
            p -= s
        else:
            p -= lr * b


class Momentum(SGD):
    """SGD with momentum 0.9 (torch.optim.SGD(momentum=0.9)): b = 0.9 b + g, p -= lr b."""

    torch = "SGD"

    def __init__(self, *, lr: Positive = 1e-3, momentum: Beta = 0.9,
                 form: Literal["torch", "cs231n"] = "torch"):
        super().__init__(lr=lr, momentum=momentum, nesterov=False, form=form)

    check = None


class Nesterov(SGD):
    """SGD with Nesterov momentum 0.9 (torch.optim.SGD(momentum=0.9, nesterov=True))."""

    torch = "SGD"

    def __init__(self, *, lr: Positive = 1e-3, momentum: Beta = 0.9,
                 form: Literal["torch", "cs231n"] = "torch"):
        super().__init__(lr=lr, momentum=momentum, nesterov=True, form=form)

    @staticmethod
    def check(options):
        if options["momentum"] == 0:
            raise ValueError("nesterov needs momentum > 0")


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011; torch.optim.Adagrad, lr_decay 0).

        s <- s + g^2          (s starts at initial_accumulator)
        p <- p - lr * g / (sqrt(s) + eps)
    eps_inside_sqrt: p <- p - lr * g / sqrt(s + eps), as the CS224n notes' code (eps 1e-8 there).
    """

    torch = "Adagrad"

    def __init__(self, *, lr: Positive = 0.01, eps: NonNegative = 1e-10,
                 initial_accumulator: NonNegative = 0.0, eps_inside_sqrt: bool = False):
        super().__init__(lr)
        self.eps, self.init_acc, self.inside = eps, initial_accumulator, eps_inside_sqrt

    def _update(self, p, g, lr, n_decay):
        s = self._buf("sum", p, self.init_acc)
        d = self._buf("tmp", p)
        np.multiply(g, g, out=d)
        s += d
        if self.inside:
            np.add(s, self.eps, out=d)
            np.sqrt(d, out=d)
        else:
            np.sqrt(s, out=d)
            d += self.eps
        np.divide(g, d, out=d)
        d *= lr
        p -= d


class Adadelta(Optimizer):
    """AdaDelta (Zeiler 2012; torch.optim.Adadelta).

        v <- rho v + (1 - rho) g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho u + (1 - rho) delta^2
        p <- p - lr * delta
    """

    torch = "Adadelta"

    def __init__(self, *, lr: Positive = 1.0, rho: Beta = 0.9, eps: NonNegative = 1e-6):
        super().__init__(lr)
        self.rho, self.eps = rho, eps

    def _update(self, p, g, lr, n_decay):
        rho, c = p.dtype.type(self.rho), p.dtype.type(1 - self.rho)  # 1 - rho in double, as torch
        v, u, d = self._buf("square_avg", p), self._buf("acc_delta", p), self._buf("tmp", p)
        v *= rho
        v += c * g * g
        np.add(u, self.eps, out=d)
        d /= v + self.eps
        np.sqrt(d, out=d)
        d *= g
        u *= rho
        u += c * d * d
        d *= lr
        p -= d


class RMSprop(Optimizer):
    """RMSProp (Hinton; torch.optim.RMSprop, whose 'alpha' is rho here).

        v <- rho v + (1 - rho) g^2
        centered: m <- rho m + (1 - rho) g, and v - m^2 replaces v below
        a = sqrt(v) + eps            (eps_inside_sqrt: a = sqrt(v + eps))
        momentum > 0: b <- momentum b + g / a, p <- p - lr b;  else p <- p - lr g / a
    The CS231n/CS224n code is rmsprop with rho = decay_rate (0.99 / 0.9).
    """

    torch = "RMSprop"

    def __init__(self, *, lr: Positive = 0.01, rho: Beta = 0.99, eps: NonNegative = 1e-8,
                 momentum: Beta = 0.0, centered: bool = False, eps_inside_sqrt: bool = False):
        super().__init__(lr)
        self.rho, self.eps, self.momentum, self.centered = rho, eps, momentum, centered
        self.inside = eps_inside_sqrt

    def _update(self, p, g, lr, n_decay):
        rho, c = p.dtype.type(self.rho), p.dtype.type(1 - self.rho)  # 1 - rho in double, as torch
        v, d = self._buf("square_avg", p), self._buf("tmp", p)
        v *= rho
        np.multiply(g, g, out=d)
        d *= c
        v += d
        if self.centered:
            m = self._buf("grad_avg", p)
            m *= rho
            m += c * g
            np.multiply(m, m, out=d)
            np.subtract(v, d, out=d)
        else:
            d[...] = v
        if self.inside:
            d += self.eps
            np.sqrt(d, out=d)
        else:
            np.sqrt(d, out=d)
            d += self.eps
        np.divide(g, d, out=d)
        if self.momentum > 0:
            b = self._buf("momentum_buffer", p)
            b *= p.dtype.type(self.momentum)
            b += d
            p -= lr * b
        else:
            d *= lr
            p -= d


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015; torch.optim.Adam).

        m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
        bias_correction (default):  p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        bias_correction false (CS231n's 'vanilla' version): p <- p - lr * m / (sqrt(v) + eps)
        amsgrad: v_max <- max(v_max, v) is used in place of v.

    The state holds the moments scaled by constants, M = m / (1 - beta1) and V = v / (1 - beta2)
    (``exp_avg_scaled``, ``exp_avg_sq_scaled``; ``moments()`` gives m and v): then M <- beta1 M + g
    and V <- beta2 V + g^2, and the constants move into the step's two scalars, so an update is 10
    passes over the parameters instead of 12 (the same rule: results differ only by float rounding).
    """

    torch = "Adam"

    def __init__(self, *, lr: Positive = 1e-3, beta1: Beta = 0.9, beta2: Beta = 0.999,
                 eps: NonNegative = 1e-8, amsgrad: bool = False, bias_correction: bool = True):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.amsgrad, self.bias_correction = amsgrad, bias_correction

    def _moments(self, p, g):
        """m and v unscaled (torch's exp_avg and exp_avg_sq) in place: NAdam's form."""
        # 1 - beta in double, then cast (as torch): 1 - float32(0.999) is off by 1.3e-5 relative
        c1, c2 = p.dtype.type(1 - self.beta1), p.dtype.type(1 - self.beta2)
        b1, b2 = p.dtype.type(self.beta1), p.dtype.type(self.beta2)
        m, v, d = self._buf("exp_avg", p), self._buf("exp_avg_sq", p), self._buf("tmp", p)
        # m = b1 m + (1-b1) g and v = b2 v + (1-b2) g^2 (torch's addcmul form for v): a product by a
        # scalar is half the memory traffic of a product of two arrays, so this is 25 us faster over
        # 270k parameters than m += (1-b1)(g - m), v += (1-b2)(g^2 - v) (bench/profile_step.py)
        np.multiply(g, c1, out=d)
        m *= b1
        m += d
        np.multiply(g, c2, out=d)
        d *= g
        v *= b2
        v += d
        return m, v, d

    def _update(self, p, g, lr, n_decay):
        f = p.dtype.type
        m, v, d = self._buf("exp_avg_scaled", p), self._buf("exp_avg_sq_scaled", p), self._buf("tmp", p)
        m *= f(self.beta1)  # M = b1 M + g
        m += g
        np.multiply(g, g, out=d)  # V = b2 V + g^2
        v *= f(self.beta2)
        v += d
        if self.amsgrad:
            vmax = self._buf("max_exp_avg_sq_scaled", p)
            np.maximum(vmax, v, out=vmax)
            v = vmax
        t = self.t
        if self.bias_correction:
            bc1 = 1 - self.beta1 ** t
            sbc2 = math.sqrt(1 - self.beta2 ** t)
        else:
            bc1 = sbc2 = 1.0
        # lr/bc1 * m / (sqrt(v)/sbc2 + eps) with m = c1 M, v = c2 V (c = 1 - beta, rounded to the dtype
        # as torch does) is  (lr sbc2 c1 / (bc1 sqrt(c2))) * M / (sqrt(V) + eps sbc2 / sqrt(c2))
        c1, c2 = float(f(1 - self.beta1)), float(f(1 - self.beta2))
        np.sqrt(v, out=d)
        d += f(self.eps * sbc2 / math.sqrt(c2))
        np.divide(m, d, out=d)
        d *= f(float(lr) * sbc2 * c1 / (bc1 * math.sqrt(c2)))
        p -= d

    def moments(self) -> dict[str, np.ndarray]:
        """torch's exp_avg and exp_avg_sq (and max_exp_avg_sq) from the scaled state (copies)."""
        out = {}
        for name, beta in (("exp_avg", self.beta1), ("exp_avg_sq", self.beta2), ("max_exp_avg_sq", self.beta2)):
            a = self.state.get(name + "_scaled")
            if a is not None:
                out[name] = a * a.dtype.type(1 - beta)
        return out

    def load_state_dict(self, meta: dict, arrays: dict) -> None:
        # a checkpoint written before the state was scaled holds m and v: M = m / (1 - beta1), V = v / (1 - beta2)
        arrays = dict(arrays)
        for name, beta in (("exp_avg", self.beta1), ("exp_avg_sq", self.beta2), ("max_exp_avg_sq", self.beta2)):
            if name in arrays:
                a = arrays.pop(name)
                arrays[name + "_scaled"] = a / a.dtype.type(1 - beta)
        super().load_state_dict(meta, arrays)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): decoupled weight decay, then Adam.

        w <- w - lr * weight_decay * w    (weights only; biases, batch-norm and PReLU
                                           parameters are not decayed, unlike torch's default)
        then the Adam update above.
    """

    torch = "AdamW"

    def __init__(self, *, lr: Positive = 1e-3, beta1: Beta = 0.9, beta2: Beta = 0.999,
                 eps: NonNegative = 1e-8, amsgrad: bool = False, bias_correction: bool = True,
                 weight_decay: NonNegative = 0.01):
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps, amsgrad=amsgrad,
                         bias_correction=bias_correction)
        self.weight_decay = weight_decay

    def _update(self, p, g, lr, n_decay):
        if self.weight_decay:
            decay_weights(p if n_decay is None else p[:n_decay], lr, self.weight_decay)
        super()._update(p, g, lr, n_decay)


class NAdam(Adam):
    """NAdam (Dozat 2016; torch.optim.NAdam): Adam with Nesterov momentum and momentum decay.

        mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)),  P_t = prod_{i<=t} mu_i
        m, v as Adam;  a = sqrt(v / (1 - beta2^t)) + eps
        p <- p - lr (1 - mu_t) / (1 - P_t) * g / a - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / a
    """

    torch = "NAdam"

    def __init__(self, *, lr: Positive = 2e-3, beta1: Beta = 0.9, beta2: Beta = 0.999,
                 eps: NonNegative = 1e-8, momentum_decay: NonNegative = 4e-3):
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        self.momentum_decay = momentum_decay
        self.mu_product = 1.0

    scalars = ("mu_product",)
    load_state_dict = Optimizer.load_state_dict  # NAdam keeps m and v unscaled (Adam._moments)

    def _update(self, p, g, lr, n_decay):
        m, v, d = self._moments(p, g)
        t, b1, psi = self.t, self.beta1, self.momentum_decay
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        self.mu_product *= mu
        np.sqrt(v, out=d)
        d *= p.dtype.type(1 / math.sqrt(1 - self.beta2 ** t))
        d += p.dtype.type(self.eps)
        c_g = lr * (1 - mu) / (1 - self.mu_product)
        c_m = lr * mu_next / (1 - self.mu_product * mu_next)
        num = c_g * g
        num += p.dtype.type(c_m) * m
        num /= d
        p -= num


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, the infinity-norm Adam; torch.optim.Adamax).

        m <- beta1 m + (1 - beta1) g,   u <- max(beta2 u, |g| + eps)
        p <- p - lr / (1 - beta1^t) * m / u
    """

    torch = "Adamax"

    def __init__(self, *, lr: Positive = 2e-3, beta1: Beta = 0.9, beta2: Beta = 0.999,
                 eps: NonNegative = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _update(self, p, g, lr, n_decay):
        b1, c1 = p.dtype.type(self.beta1), p.dtype.type(1 - self.beta1)  # 1 - beta1 in double
        m, u, d = self._buf("exp_avg", p), self._buf("exp_inf", p), self._buf("tmp", p)
        m *= b1
        m += c1 * g
        u *= p.dtype.type(self.beta2)
        np.abs(g, out=d)
        d += p.dtype.type(self.eps)
        np.maximum(u, d, out=u)
        np.divide(m, u, out=d)
        d *= p.dtype.type(lr / (1 - self.beta1 ** self.t))
        p -= d


# The registry, filled explicitly: adding a optimizer is its class or function above plus one line here.
optimizers = Registry("optimizer", {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "adamax": Adamax,
    "lbfgs": LBFGS,  # a closure-based optimizer: nnlab/components/lbfgs.py
})
