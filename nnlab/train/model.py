"""The MLP built from the config, with all parameters in one flat buffer.

Layout per hidden layer: Dense -> [BatchNorm] -> activation -> [Dropout]; then
a Dense output layer (logits for classification, values for regression).

All parameter tensors are views into one contiguous array ``params`` (and their
gradients into ``grads``), weights first: ``params[:n_decay]`` are exactly the
Dense weight matrices, the only tensors that L1/L2, max-norm and decoupled
weight decay touch (L1/L2 and train.regularization.decay reach the Dense biases
too with train.regularization.biases: ``regularized()``).  An optimizer step is then a few vectorised passes over one
array, with no Python loop over tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnlab.components.activations import activations
from nnlab.components.initializers import initializers
from nnlab.components.layers import BatchNorm, Dense, Dropout, Layer


@dataclass
class Tensor:
    """One parameter tensor: where it lives in the flat buffer."""

    name: str  # e.g. "dense1.W"
    layer: Layer
    key: str  # the layer's own name for it, e.g. "W"
    shape: tuple
    decay: bool
    start: int = 0
    size: int = 0
    bias: bool = False  # a Dense bias: regularized only with train.regularization.biases


class MLP:
    """A stack of layers sharing one flat parameter buffer and one flat gradient buffer."""

    def __init__(self, layers: list[tuple[str, Layer]], n_in: int, dtype="float32"):
        self.dtype = np.dtype(dtype)
        self.names = [n for n, _ in layers]
        self.layers = [l for _, l in layers]
        self.n_in = n_in
        tensors, width = [], n_in
        for lname, layer in layers:
            for spec in layer.param_specs(width):
                tensors.append(Tensor(f"{lname}.{spec.name}", layer, spec.name, tuple(spec.shape), spec.decay,
                                      bias=spec.bias))
                tensors[-1].fill = spec.fill
            width = layer.out_features(width)
        self.n_out = width
        # weights first so that decay applies to one prefix slice
        tensors.sort(key=lambda t: not t.decay)
        offset = 0
        for t in tensors:
            t.start, t.size = offset, int(np.prod(t.shape))
            offset += t.size
        self.tensors = tensors
        self.n_params = offset
        self.n_decay = sum(t.size for t in tensors if t.decay)
        self.params = np.zeros(offset, dtype=self.dtype)
        self.grads = np.zeros(offset, dtype=self.dtype)
        self._bind()

    def _bind(self):
        per_layer: dict[int, tuple[dict, dict]] = {}
        for t in self.tensors:
            p, g = per_layer.setdefault(id(t.layer), ({}, {}))
            p[t.key] = self.params[t.start:t.start + t.size].reshape(t.shape)
            g[t.key] = self.grads[t.start:t.start + t.size].reshape(t.shape)
        for layer in self.layers:
            p, g = per_layer.get(id(layer), ({}, {}))
            layer.bind(p, g)

    def regularized(self, biases: bool = False) -> list[slice]:
        """The parts of the flat buffers that L1, L2 and decoupled decay act on: the Dense weights
        (``[:n_decay]``) and, with ``biases``, the Dense biases; adjacent parts merged (without batch norm or
        PReLU, weights and biases are one slice).  Batch-norm gamma/beta and PReLU slopes are never in it."""
        parts = [(0, self.n_decay)] if self.n_decay else []
        for t in self.tensors:
            if biases and t.bias:
                if parts and parts[-1][1] == t.start:
                    parts[-1] = (parts[-1][0], t.start + t.size)
                else:
                    parts.append((t.start, t.start + t.size))
        return [slice(a, b) for a, b in parts]

    def view(self, name: str, grad: bool = False) -> np.ndarray:
        t = next(t for t in self.tensors if t.name == name)
        buf = self.grads if grad else self.params
        return buf[t.start:t.start + t.size].reshape(t.shape)

    def initialize(self, init_spec, rng: np.random.Generator) -> None:
        """Weights from the initializer (in layer order, so the same seed gives the same net); others filled."""
        for t in self.tensors:
            if t.key == "W":
                fan_in, fan_out = t.shape
                self.view(t.name)[...] = initializers.build(init_spec, fan_in, fan_out, rng, self.dtype)
            else:
                self.view(t.name)[...] = t.fill

    def forward_buffered(self, x, train: bool = True):
        """The output in a buffer the next call overwrites (the training step's fast path)."""
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def forward(self, x, train: bool = False):
        """The network's output for x (N, n_in) -> (N, n_out), as an array the caller owns.

        Evaluation mode by default; ``train=True`` uses batch statistics, draws dropout masks
        and updates batch-norm running statistics, as a training step does.
        """
        return self.forward_buffered(x, train).copy()

    def backward(self, dout):
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            dout = self.layers[i].backward(dout, need_dx=i > 0)

    def predict(self, x, batch: int = 4096):
        """Evaluation-mode outputs, in chunks so a large set needs little memory."""
        outs = [self.forward_buffered(x[i:i + batch], train=False).copy() for i in range(0, len(x), batch)]
        return np.concatenate(outs) if outs else np.empty((0, self.n_out), self.dtype)

    # -- state for model.npz and early stopping -----------------------------------------
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trained state (batch-norm running statistics)."""
        out = {}
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, BatchNorm) and layer.running_mean is not None:
                out[f"{name}.running_mean"] = layer.running_mean
                out[f"{name}.running_var"] = layer.running_var
        return out

    def state(self) -> dict[str, np.ndarray]:
        s = {t.name: self.view(t.name).copy() for t in self.tensors}
        s.update({k: v.copy() for k, v in self.buffers().items()})
        return s

    def snapshot(self):
        return self.params.copy(), {k: v.copy() for k, v in self.buffers().items()}

    def restore(self, snap) -> None:
        params, bufs = snap
        self.params[...] = params
        for k, v in bufs.items():
            name, attr = k.rsplit(".", 1)
            layer = self.layers[self.names.index(name)]
            if getattr(layer, attr, None) is None:  # running statistics are allocated on first use
                setattr(layer, attr, np.array(v, dtype=self.dtype))
            else:
                getattr(layer, attr)[...] = v

    def load_state(self, state: dict) -> None:
        for t in self.tensors:
            self.view(t.name)[...] = state[t.name]
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, BatchNorm) and f"{name}.running_mean" in state:
                layer.running_mean = state[f"{name}.running_mean"].astype(self.dtype)
                layer.running_var = state[f"{name}.running_var"].astype(self.dtype)


def build_model(model_cfg: dict, n_in: int, n_out: int, dtype: str, init_rng, noise_rng) -> MLP:
    """Build and initialize the MLP described by the resolved ``model`` config section.

    ``init_rng`` draws the initial weights; ``noise_rng`` draws dropout masks and
    RReLU slopes (separate streams, so adding dropout does not change the init).
    """
    hidden = model_cfg["hidden"]
    drop = model_cfg["dropout"]  # resolved by validate(): always {"rate", "mode"} (rate 0.0 for none)
    rates = drop["rate"] if isinstance(drop["rate"], list) else [drop["rate"]] * len(hidden)
    bn = model_cfg["batch_norm"]
    layers: list[tuple[str, Layer]] = []
    for i, width in enumerate(hidden, start=1):
        act = activations.build(model_cfg["activation"])
        act.rng = noise_rng
        layers.append((f"dense{i}", Dense(width * act.width_factor)))
        if bn:
            layers.append((f"bn{i}", BatchNorm(momentum=bn["momentum"], eps=bn["eps"])))
        layers.append((f"{model_cfg['activation']['name']}{i}", act))
        if rates[i - 1] > 0:
            layers.append((f"dropout{i}", Dropout(rates[i - 1], drop["mode"], noise_rng)))
    layers.append((f"dense{len(hidden) + 1}", Dense(n_out)))
    model = MLP(layers, n_in, dtype)
    model.initialize(model_cfg["init"], init_rng)
    return model
