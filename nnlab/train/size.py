"""How big the configured network is, and a check that it fits in memory before anything is built.

Allocating the flat parameter buffer of a huge network does not fail at once: the
kernel hands out the memory lazily and kills the process (exit 137) once the
weights are written.  So the size is computed from the config first (no arrays are
made) and a network that would need more than half the memory available to this
process is refused with one line.
"""

from __future__ import annotations

import os

from nnlab.components.activations import activations
from nnlab.components.layers import BatchNorm, Dense
from nnlab.errors import ConfigError

# gradient checks visit every tensor with two forward passes per checked entry: past
# this many parameters each pass is too slow to be useful, whatever the memory says
GRADCHECK_MAX_PARAMS = 50_000_000

# bytes per parameter, in units of the dtype's size: params + grads + up to 3 optimizer
# slots (AMSGrad) + the early-stopping snapshot + room for update temporaries
_TRAIN_COPIES = 8
# gradcheck (float64): params + grads + the analytic gradient's copy + a spare
_GRADCHECK_COPIES = 4
# activations kept per unit and sample: the layer output, the input gradient and what
# activation / batch norm / dropout keep for backward
_ACTIVATION_COPIES = 6
_PREDICT_BATCH = 4096  # MLP.predict evaluates in chunks of this many rows


def layer_shapes(model_cfg: dict, n_in: int, n_out: int) -> list[tuple[str, tuple]]:
    """(tensor name, shape) of every parameter tensor build_model would make, without making it."""
    bn = model_cfg.get("batch_norm")
    shapes, width = [], n_in
    hidden = list(model_cfg.get("hidden", []))
    for i, units in enumerate(hidden, start=1):
        act = activations.build(model_cfg["activation"])
        layers = [(f"dense{i}", Dense(units * act.width_factor))]
        if bn:
            layers.append((f"bn{i}", BatchNorm(momentum=bn["momentum"], eps=bn["eps"])))
        layers.append((f"{model_cfg['activation']['name']}{i}", act))
        for name, layer in layers:
            shapes += [(f"{name}.{s.name}", tuple(s.shape)) for s in layer.param_specs(width)]
            width = layer.out_features(width)
    shapes += [(f"dense{len(hidden) + 1}.{s.name}", tuple(s.shape)) for s in Dense(n_out).param_specs(width)]
    return shapes


def count_parameters(model_cfg: dict, n_in: int, n_out: int) -> int:
    """The number of trained parameters (weights, biases, batch-norm and PReLU parameters)."""
    total = 0
    for _, shape in layer_shapes(model_cfg, n_in, n_out):
        n = 1
        for d in shape:
            n *= int(d)
        total += n
    return total


def _widest_units(model_cfg: dict, n_in: int, n_out: int) -> int:
    """Units summed over all layers (Dense outputs, maxout pieces included): activations per sample."""
    return n_in + sum(shape[-1] for name, shape in layer_shapes(model_cfg, n_in, n_out) if name.endswith(".W"))


def memory_limit() -> int:
    """Bytes this process may use: physical memory, or a smaller cgroup (container) limit."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        limit = 1 << 62
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limit = min(limit, int(text))
    return limit


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB"


def estimate_bytes(cfg, n_features: int, n_outputs: int, purpose: str = "train", n_samples: int = 16) -> int:
    """Rough peak memory of training (or gradient-checking) the configured network, data excluded."""
    import numpy as np

    n_params = count_parameters(cfg.model, n_features, n_outputs)
    units = _widest_units(cfg.model, n_features, n_outputs)
    if purpose == "gradcheck":
        return 8 * (_GRADCHECK_COPIES * n_params + _ACTIVATION_COPIES * n_samples * units)
    size = np.dtype(cfg.dtype).itemsize
    bs = cfg.train["batch_size"]
    rows = _PREDICT_BATCH if bs == "full" else max(int(bs), _PREDICT_BATCH)
    return size * (_TRAIN_COPIES * n_params + _ACTIVATION_COPIES * rows * units)


def check_model_size(cfg, n_features: int, n_outputs: int, purpose: str = "train", n_samples: int = 16) -> int:
    """Refuse (ConfigError, one line) a network too big for this machine; return its parameter count.

    ``purpose`` is "train" (cfg.dtype, the optimizer's state) or "gradcheck" (float64, and at
    most GRADCHECK_MAX_PARAMS parameters).  The limit is half of memory_limit().
    """
    n_params = count_parameters(cfg.model, n_features, n_outputs)
    where = f"{cfg.source}: model.hidden {cfg.model['hidden']}"
    shape = f"{n_params:,} parameters on {n_features:,} inputs and {n_outputs:,} outputs"
    if purpose == "gradcheck" and n_params > GRADCHECK_MAX_PARAMS:
        raise ConfigError(f"{where}: {shape}; a gradient check handles at most {GRADCHECK_MAX_PARAMS:,}; "
                          "check a smaller network of the same kind")
    need = estimate_bytes(cfg, n_features, n_outputs, purpose, n_samples)
    budget = memory_limit() // 2
    if need > budget:
        dtype = "float64" if purpose == "gradcheck" else cfg.dtype
        raise ConfigError(f"{where}: {shape} would need about {_gib(need)} in {dtype}, more than half of this "
                          f"machine's memory ({_gib(budget)}); use smaller hidden layers")
    return n_params
