"""Measurements of a trained model on data, for the claims of the course notes.

Pure functions: each leaves the model exactly as it found it (``untouched``: parameters, gradients,
batch-norm statistics, every layer attribute such as cached inputs, dropout masks and frozen flags, and
the state of the layers' random generators).  Evaluation mode unless said otherwise, in chunks of
``BATCH`` rows, vectorised over the rows, sums in float64.

    accuracy_and_loss      (accuracy, mean loss) in evaluation mode: the clean network, no dropout noise
    zero_fraction          fraction of the hidden activations' outputs exactly 0 (Hung-yi Lee: after ReLU
                           about half of each layer's neurons are 0); layer_zero_fractions per layer
    dead_fraction          fraction of units never active on any sample (the dying ReLU), over the layers
                           whose units can die; layer_dead_fractions per layer
    weight_sparsity        fraction of Dense weight entries with |w| < threshold
    weight_spread          how evenly the first layer's units spread their weights over the inputs
    weight_norm            L2 norm of all Dense weights;  max_unit_norm: the largest incoming-weight norm
                           of one unit, the quantity max-norm bounds
    mc_dropout_outputs     mean output over forward passes with fresh dropout masks (Monte-Carlo dropout);
    mc_dropout_probs       the same for the softmax probabilities
    gradient_error_order   log2(err(h) / err(h/2)) of the numerical gradient: about 2 centred, 1 forward

Which layers count is asked of the layers (``kind``) and of the activations (``tracks_activity``,
``dead_kind``), never of their classes.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import numpy as np

from nnlab.train.combine import softmax
from nnlab.train.gradcheck import Formula, check_model
from nnlab.train.trainer import evaluate

BATCH = 4096  # rows per forward pass (as evaluate and MLP.predict)


@contextlib.contextmanager
def untouched(model) -> Iterator[None]:
    """Run the block, then put the model back as it was: parameters and gradients, batch-norm running
    statistics, every layer's attributes (a forward caches its input, dropout keeps its mask, a gradient
    check freezes masks) and the state of the layers' random generators (masks and RReLU slopes drawn in
    the block leave the training stream where it was)."""
    snapshot, grads = model.snapshot(), model.grads.copy()
    # the attributes one level deep (a cache a layer keeps in a dict, as Dense's buffers per batch size, drops
    # what the block added), and the contents of its arrays: a cached activation may be a buffer the block
    # writes into again
    attrs = [{k: dict(v) if isinstance(v, dict) else v for k, v in vars(layer).items()} for layer in model.layers]
    contents = [{k: v.copy() for k, v in vars(layer).items() if isinstance(v, np.ndarray)} for layer in model.layers]
    gens = {id(g): (g, g.bit_generator.state) for g in (getattr(layer, "rng", None) for layer in model.layers)
            if isinstance(g, np.random.Generator)}
    try:
        yield
    finally:
        for layer, saved, arrays in zip(model.layers, attrs, contents):
            vars(layer).clear()
            vars(layer).update(saved)
            for k, a in arrays.items():
                if not np.array_equal(saved[k], a):  # written only if changed: an input may be read-only
                    saved[k][...] = a
        model.restore(snapshot)
        model.grads[...] = grads
        for g, state in gens.values():
            g.bit_generator.state = state


def _check_rows(x: np.ndarray) -> None:
    if len(x) == 0:
        raise ValueError("x holds no samples: a measurement needs at least one row")


def _eval_pass(model, x: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
    """For each chunk of x, run the network in evaluation mode and yield {activation layer name: its
    output}; until the next chunk the layers' caches hold this one (``unit_activity`` reads them).
    Every activation layer is hidden: the output layer is Dense."""
    for i in range(0, len(x), BATCH):
        h, outs = x[i:i + BATCH], {}
        for name, layer in zip(model.names, model.layers):
            h = layer.forward(h, train=False)
            if layer.kind == "activation":
                outs[name] = h
        yield outs


# ---------------------------------------------------------------- accuracy and loss


def accuracy_and_loss(model, loss_fn, x: np.ndarray, y: np.ndarray) -> tuple[float | None, float]:
    """(accuracy, mean loss) on (x, y) in evaluation mode (no dropout noise, batch-norm running statistics);
    the accuracy is None for regression.  The numbers of the trainer's validation (its ``evaluate``)."""
    _check_rows(x)
    with untouched(model):
        loss, acc = evaluate(model, x, y, loss_fn, BATCH)
    return acc, loss


# ---------------------------------------------------------------- activations: zeros and dead units


def _zero_counts(model, x: np.ndarray) -> dict[str, tuple[int, int]]:
    """Per activation layer, (outputs exactly 0, outputs) on x in evaluation mode."""
    _check_rows(x)
    counts: dict[str, tuple[int, int]] = {}
    with untouched(model):
        for outs in _eval_pass(model, x):
            for name, a in outs.items():
                zeros, size = counts.get(name, (0, 0))
                counts[name] = (zeros + int(np.count_nonzero(a == 0)), size + a.size)
    return counts


def layer_zero_fractions(model, x: np.ndarray) -> dict[str, float]:
    """Per hidden activation layer, the fraction of its outputs on x (evaluation mode) that are exactly 0."""
    return {name: zeros / size for name, (zeros, size) in _zero_counts(model, x).items()}


def zero_fraction(model, x: np.ndarray) -> float:
    """The fraction of all hidden activation outputs on x (evaluation mode) exactly 0, every output of every
    hidden layer counted once; 0.0 without hidden layers."""
    counts = _zero_counts(model, x).values()
    size = sum(s for _, s in counts)
    return sum(z for z, _ in counts) / size if size else 0.0


def can_die(activation) -> bool:
    """Whether a unit of this activation can die: it reports its activity (``tracks_activity``) and a unit
    that is never active passes no gradient at all (``dead_kind`` 'zero', ReLU; 'piece', a maxout piece that
    never wins).  Leaky ReLU, PReLU, RReLU, ELU and SELU ('slope') still pass a slope of the gradient below
    0, so such a unit can come back: it is never dead."""
    return activation.tracks_activity and activation.dead_kind != "slope"


def _dead_counts(model, x: np.ndarray) -> dict[str, tuple[int, int]]:
    """Per layer whose units can die, (units never active on any row of x, units): the largest
    ``unit_activity()`` over the chunks is <= 0 (for maxout the units are its pieces, as in the diagnostics)."""
    _check_rows(x)
    acts = {n: layer for n, layer in zip(model.names, model.layers) if layer.kind == "activation" and can_die(layer)}
    peak: dict[str, np.ndarray] = {}
    with untouched(model):
        for _ in _eval_pass(model, x):
            for name, act in acts.items():
                top = act.unit_activity()
                peak[name] = top if name not in peak else np.maximum(peak[name], top)
    return {name: (int(np.count_nonzero(p <= 0)), p.size) for name, p in peak.items()}


def layer_dead_fractions(model, x: np.ndarray) -> dict[str, float]:
    """Per hidden layer whose units can die (``can_die``), the fraction of units never active on x
    (evaluation mode): a ReLU unit whose output is 0 for every sample."""
    return {name: dead / size for name, (dead, size) in _dead_counts(model, x).items()}


def dead_fraction(model, x: np.ndarray) -> float:
    """The fraction of units never active on any sample of x (evaluation mode) over all hidden layers whose
    units can die (``can_die``); 0.0 when none can (tanh, leaky ReLU, ...)."""
    counts = _dead_counts(model, x).values()
    size = sum(s for _, s in counts)
    return sum(d for d, _ in counts) / size if size else 0.0


# ---------------------------------------------------------------- weights


def _dense_weights(model) -> list[np.ndarray]:
    """The Dense weight matrices W (fan_in, fan_out) in layer order, as float64 copies."""
    return [model.view(t.name).astype(np.float64) for t in model.tensors if t.key == "W"]


def weight_sparsity(model, threshold: float = 1e-3) -> float:
    """The fraction of Dense weight entries (not biases) with |w| < threshold (L1's sparse solutions)."""
    if not threshold >= 0:
        raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
    w = model.params[:model.n_decay]
    return int(np.count_nonzero(np.abs(w) < threshold)) / w.size


def weight_spread(model, layer: int = 1) -> float:
    """How evenly the units of Dense layer ``layer`` (1 = the first) spread their incoming weights over their
    inputs: per unit the participation ratio (sum|w|)^2 / (n_in sum w^2), 1 for equal magnitudes on every
    input and 1/n_in for one input alone, averaged over the units (CS231n on dropout: do not rely on a few
    features).  Units whose weights are all 0 rely on nothing and are left out; nan if every unit is such."""
    dense = _dense_weights(model)
    if not 1 <= layer <= len(dense):
        raise ValueError(f"layer must be from 1 to {len(dense)} (the Dense layers), got {layer!r}")
    W = dense[layer - 1]
    l1 = np.abs(W).sum(axis=0)
    sq = np.einsum("ij,ij->j", W, W)
    live = sq > 0
    if not live.any():
        return math.nan
    return float(np.mean(l1[live] ** 2 / (W.shape[0] * sq[live])))


def flat_fraction(model, x: np.ndarray, slope: float = 0.05) -> float:
    """The fraction of hidden activations on x (evaluation mode) where the activation's slope da/dz is below
    ``slope``: units sitting on a flat part, through which at most that share of the gradient passes (CS224n
    2.4: hard tanh goes flat beyond |z| > 1, softsign far more slowly).  Asked of each activation's ``df``;
    a layer without one (maxout) is not counted; 0.0 when none is."""
    _check_rows(x)
    flat = total = 0
    with untouched(model):
        for i in range(0, len(x), BATCH):
            h = x[i:i + BATCH]
            for layer in model.layers:
                h = layer.forward(h, train=False)
                df = getattr(layer, "df", None) if layer.kind == "activation" else None
                if df is not None:
                    d = np.abs(df())
                    flat += int(np.count_nonzero(d < slope))
                    total += d.size
    return flat / total if total else 0.0


def softmax_probs(model, x: np.ndarray) -> np.ndarray:
    """The class probabilities of the clean network (evaluation mode: weight scaling for dropout)."""
    _check_rows(x)
    with untouched(model):
        return softmax(model.predict(x).astype(np.float64))


def weight_norm(model) -> float:
    """The L2 norm of all Dense weights together (not biases): what L2 and weight decay shrink."""
    w = model.params[:model.n_decay].astype(np.float64)
    return float(math.sqrt(np.dot(w, w)))


def max_unit_norm(model) -> float:
    """The largest L2 norm of one unit's incoming weights (a column of a Dense W), over every Dense layer:
    the quantity train.regularization.max_norm keeps at or below its bound."""
    return max(float(np.sqrt(np.einsum("ij,ij->j", W, W)).max()) for W in _dense_weights(model))


# ---------------------------------------------------------------- Monte-Carlo dropout


def _mc_mean(model, x: np.ndarray, samples: int, rng: np.random.Generator,
             transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The mean of transform(output) over ``samples`` forward passes, each with fresh dropout masks from
    ``rng`` (dropout layers in training mode, every other layer in evaluation mode)."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a whole number >= 1, got {samples!r}")
    _check_rows(x)
    k = min(samples, BATCH)  # passes per forward: each row repeated k times, at most about BATCH rows at once
    rows = max(1, BATCH // k)
    out = np.empty((len(x), model.n_out), dtype=np.float64)
    with untouched(model):
        for layer in model.layers:
            if layer.kind == "dropout":
                layer.rng, layer.frozen = rng, False
        for i in range(0, len(x), rows):
            xb = x[i:i + rows]
            total = np.zeros((len(xb), model.n_out), dtype=np.float64)
            for done in range(0, samples, k):
                r = min(k, samples - done)
                h = np.tile(xb, (r, 1))  # r copies of the chunk: each row of each copy gets its own mask
                for layer in model.layers:
                    h = layer.forward(h, train=layer.kind == "dropout")
                total += transform(h).reshape(r, len(xb), -1).sum(axis=0)
            out[i:i + len(xb)] = total / samples
    return out


def mc_dropout_outputs(model, x: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The network's output on x (N, n_in) -> (N, n_out), float64, averaged over ``samples`` passes with fresh
    dropout masks from ``rng``; batch norm and RReLU in evaluation mode.  For a network that is linear after
    its first dropout (identity activations, or one hidden layer) the expectation is exactly the evaluation
    output, by linearity and independent masks: weight scaling is then the exact ensemble average of the
    thinned networks (Hung-yi Lee's notes); a nonlinearity after a dropout layer makes them differ."""
    return _mc_mean(model, x, samples, rng, lambda out: out.astype(np.float64))


def mc_dropout_probs(model, x: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The softmax probabilities of a classifier on x (N, n_in) -> (N, n_classes), float64, averaged over
    ``samples`` passes with fresh dropout masks from ``rng`` (the ensemble of thinned networks, as
    nnlab.train.combine averages an ensemble); batch norm and RReLU in evaluation mode."""
    return _mc_mean(model, x, samples, rng, softmax)


# ---------------------------------------------------------------- the numerical gradient's order


def _gradient_error(model, loss_fn, x, y, formula: Formula, h: float, max_entries: int) -> float:
    """The largest relative error over the parameter tensors of the numerical gradient against backprop,
    on the same sample of entries for every h (the check's generator is seeded)."""
    results = check_model(model, loss_fn, x, y, h=h, formula=formula, max_entries=max_entries,
                          rng=np.random.default_rng(0))
    return max(r.rel_error for r in results)


def gradient_error_order(model, loss_fn, x: np.ndarray, y: np.ndarray, formula: Formula, h: float, *,
                         max_entries: int = 64) -> float:
    """log2(err(h) / err(h/2)), err the largest relative error (nnlab.train.gradcheck, ``formula`` centered or
    forward) of the numerical gradient against backprop on up to ``max_entries`` entries per tensor, on a
    float64 model in training mode with frozen masks: the order of the difference's error, about 2 for
    centred differences (CS224n 2.1: error of the order of h^2) and 1 for forward ones.  Meaningful where
    the truncation error dominates round-off (~1e-16 |J| / h), e.g. h from 1e-2 to 1e-4 on a smooth net;
    nan when an error is exactly 0 (a function the formula differentiates exactly)."""
    _check_rows(x)
    with untouched(model):
        coarse = _gradient_error(model, loss_fn, x, y, formula, h, max_entries)
        fine = _gradient_error(model, loss_fn, x, y, formula, h / 2, max_entries)
    return math.log2(coarse / fine) if coarse > 0 and fine > 0 else math.nan
