"""Ensembles: average the predictions of several models (note 002, CS231n lecture 7).

"Train multiple independent models; at test time average their results": for classification
the ensemble's prediction is the mean of the members' softmax probabilities,
p(x) = (1/K) sum_k softmax(f_k(x)), its accuracy that of argmax p and its loss the
cross-entropy -mean log p_y; for regression the mean of the members' outputs and its mean
squared error.  A one-member ensemble scores exactly what its member scores
(nnlab.train.trainer.evaluate).  The members may be independent runs (train.ensemble.members,
nnlab ensemble) or snapshots of one run at the ends of its learning-rate cycles
(train.ensemble.snapshots; Huang et al. 2017).
"""

from __future__ import annotations

import numpy as np


def softmax(out: np.ndarray) -> np.ndarray:
    z = out.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def combine(outputs: list[np.ndarray], y: np.ndarray, task: str) -> dict:
    """The ensemble's loss and accuracy (None for regression) from its members' outputs on (x, y)."""
    if task == "classification":
        p = softmax(outputs[0])
        for out in outputs[1:]:
            p += softmax(out)
        p /= len(outputs)
        picked = p[np.arange(len(y)), y]
        loss = float(-np.mean(np.log(np.maximum(picked, np.finfo(np.float64).tiny))))
        return {"loss": loss, "acc": float(np.mean(p.argmax(axis=1) == y))}
    pred = np.mean([o.astype(np.float64) for o in outputs], axis=0)
    return {"loss": float(np.mean((pred - y) ** 2)), "acc": None}


def outputs_of(model, state: dict, x: np.ndarray) -> np.ndarray:
    """The model's evaluation-mode outputs on x with the weights (and batch-norm statistics) ``state``."""
    model.load_state(state)
    return model.predict(x)


def scores(model, states: list[dict], dataset) -> dict:
    """Each member's and the ensemble's validation and test loss/accuracy (states: the members' weights)."""
    out = {"members": [], "ensemble": {}}
    sets = [("val", dataset.x_val, dataset.y_val), ("test", dataset.x_test, dataset.y_test)]
    per_set = {}
    for name, x, y in sets:
        if x is None or len(x) == 0:
            continue
        outs = [outputs_of(model, s, x) for s in states]
        per_set[name] = (outs, y)
        out["ensemble"][f"{name}_loss"], out["ensemble"][f"{name}_acc"] = combine(outs, y, dataset.task).values()
    for k in range(len(states)):
        m = {}
        for name, (outs, y) in per_set.items():
            m[f"{name}_loss"], m[f"{name}_acc"] = combine([outs[k]], y, dataset.task).values()
        out["members"].append(m)
    return out
