"""Read the recorded curves as the lecture notes teach, and say what they show.

``diagnose(history, diagnostics, summary)`` returns findings, each a dict with a
``code``, a one-sentence ``message`` that quotes the numbers that triggered it,
and those numbers under ``evidence``.  Pure function of what a run folder holds,
so ``nnlab show`` can diagnose old runs too.

The rules follow the notes:
- 000 (Hung-yi Lee): look at training first; a poor training result is an
  optimization problem (change the activation, initializer, optimizer or
  learning rate) before it is a reason to regularize; then look at validation.
  Deep sigmoid nets suffer vanishing gradients.
- 004 (learning-rate curves): a loss that goes up early means the initial rate is
  too high; a fast drop then a flat line means the late rate is too high (decay
  it); a slow decline the whole way means the rate is too low.
- 003: dying ReLUs.
"""

from __future__ import annotations

import math

# thresholds, named so the messages and the tests can quote them
EARLY_RISE = 1.10         # train loss 10% above epoch 1 within the first epochs
SLOW_DROP = 0.30          # less than 30% total decrease ...
STILL_FALLING = 0.005     # ... while the last fifth still falls by more than 0.5%
FLAT_LATE = 0.01          # the second half improves by less than 1% ...
FAST_EARLY = 0.80         # ... after the first fifth made 80% of the whole drop
HIGH_PLATEAU = 0.10       # ... and the loss stays above 10% of its start
POOR_TRAIN_ACC = 0.80
GAP = 0.10                # train minus validation accuracy
GAP_GROWTH = 0.05
VAL_RISE = 1.20           # validation loss 20% above its minimum while training loss falls
VANISHING = 1e-2          # first-layer gradient norm / last-layer
EXPLODING = 1e2
DEAD = 0.50


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _col(history, key):
    return [r.get(key) for r in history]


def diagnose(history: list[dict], diagnostics: list[dict] | None = None, summary: dict | None = None,
             config: dict | None = None) -> list[dict]:
    """The findings for one run, most important first (empty for a healthy run).

    ``history``: metrics.csv rows; ``diagnostics``: diagnostics.csv rows; ``summary``:
    summary.json (its status and message); ``config``: the resolved config.
    """
    summary = summary or {}
    findings: list[dict] = []

    def add(code, message, **evidence):
        findings.append({"code": code, "message": message, "evidence": evidence})

    if summary.get("status") == "diverged":
        add("diverged", f"Training diverged: {summary.get('message') or 'the loss became NaN or infinite'}.")
    train = [v for v in _col(history, "train_loss") if _finite(v)]
    n = len(train)
    lr_rules = not _line_search(config)  # no learning-rate advice for steps a line search chose
    if n >= 3 and lr_rules:
        k = max(3, n // 10)
        early = train[1:k]
        if early and max(early) > train[0] * EARLY_RISE:
            j = 1 + early.index(max(early))
            add("loss_up_early",
                f"The training loss went up early, from {train[0]:.4g} in epoch 1 to {max(early):.4g} in epoch "
                f"{j + 1}: the learning rate is too high (004 notes); lower it and start again.",
                first=train[0], peak=max(early), epoch=j + 1)
    if n >= 10 and lr_rules and not any(f["code"] == "loss_up_early" for f in findings):
        l0, lend = train[0], train[-1]
        fifth, half, last_fifth = train[n // 5], train[n // 2], train[(4 * n) // 5]
        total = l0 - lend
        if l0 > 0 and total / l0 < SLOW_DROP and last_fifth > 0 \
                and (last_fifth - lend) / last_fifth > STILL_FALLING:
            add("too_slow",
                f"The training loss fell only {100 * total / l0:.0f}% in {n} epochs ({l0:.4g} to {lend:.4g}) "
                f"and is still falling: the learning rate looks too low (004 notes); raise it.",
                first=l0, last=lend, epochs=n)
        elif (l0 > 0 and total / l0 >= SLOW_DROP and (l0 - fifth) >= FAST_EARLY * total and half > 0
              and (half - lend) / half < FLAT_LATE and lend > HIGH_PLATEAU * l0 and not _decays(config)
              and not _capability(config, "train.optimizer", "needs_closure")):  # it takes no schedule
            add("fast_then_flat",
                f"The training loss dropped fast ({l0:.4g} to {fifth:.4g} in the first {n // 5} epochs) and then "
                f"stayed flat near {lend:.4g}: the late learning rate is too high to settle (004 notes); "
                f"decay it (train.schedule: step, exponential, cosine, ...).",
                first=l0, after_fifth=fifth, last=lend)

    last = history[-1] if history else {}
    acc = last.get("train_acc")
    # with data.augment the recorded training accuracy is that of the augmented batches: low on purpose
    poor = _finite(acc) and acc < POOR_TRAIN_ACC and summary.get("status") != "diverged" and not _augmented(config)
    if poor:
        add("poor_training",
            f"Training accuracy is only {100 * acc:.1f}% after {len(history)} epochs: this is an optimization "
            f"problem before anything else (000 notes: look at training first); try another activation, "
            f"initializer, optimizer or learning rate before adding regularization.",
            train_acc=acc)

    if not poor and len(history) >= 6:
        _overfitting(history, add)

    if diagnostics:
        _gradients(diagnostics, add, _activation_name(config), _capability(config, "model.activation", "dead_kind",
                                                                          default=None))
    return findings


def _augmented(config) -> bool:
    """Whether the run's data.augment is on (nnlab.data.augment.active, read from a plain config)."""
    aug = ((config or {}).get("data") or {}).get("augment") if isinstance(config, dict) else None
    return isinstance(aug, dict) and any(aug.get(k) for k in ("noise", "shift", "scale", "mixup"))


def _component(config, path: str):
    """(the class or function of the component at config ``path``, its options), or (None, {}) when the
    config does not name a known one (an old or damaged run folder)."""
    # here, not at the top: reading a run folder must not load every component unless a rule asks
    from nnlab.config.kinds import registry_for_key

    node = config if isinstance(config, dict) else {}
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    name = node.get("name") if isinstance(node, dict) else node
    registry = registry_for_key(path)
    if not isinstance(name, str) or registry is None or name not in registry:
        return None, {}
    return registry.get(name).obj, (node if isinstance(node, dict) else {})


def _capability(config, path: str, what: str, default=False):
    obj, _ = _component(config, path)
    return getattr(obj, what, default) if obj is not None else default


def _line_search(config) -> bool:
    """Whether the optimizer chooses every step length itself (L-BFGS's line search): lr is not its step."""
    obj, options = _component(config, "train.optimizer")
    return obj is not None and obj.chooses_steps(options)


def _decays(config) -> bool:
    """Whether the schedule lowers the rate over the run (not a constant rate, nor one that waits for a
    stalled metric); a schedule this version does not know counts as decaying (no advice to decay it)."""
    sched = ((config or {}).get("train") or {}).get("schedule") or {}
    if not isinstance(sched, dict) or sched.get("name", "constant") == "constant":
        return False
    return _capability(config, "train.schedule", "decays", default=True)


def _overfitting(history, add):
    n = len(history)
    ta, va = _col(history, "train_acc"), _col(history, "val_acc")
    if all(_finite(v) for v in ta + va):
        tail = max(1, n // 10)
        gap_end = sum(t - v for t, v in zip(ta[-tail:], va[-tail:])) / tail
        third = n // 3
        gap_then = sum(t - v for t, v in zip(ta[third - tail + 1:third + 1], va[third - tail + 1:third + 1])) / tail
        if gap_end > GAP and gap_end - gap_then > GAP_GROWTH:
            since = third + 1  # gap_then is measured over the epochs ending at index third, i.e. epoch third + 1
            add("overfitting",
                f"Training accuracy reached {100 * ta[-1]:.1f}% but validation only {100 * va[-1]:.1f}%, and the gap "
                f"grew from {100 * gap_then:.0f} to {100 * gap_end:.0f} points since epoch {since}: overfitting; "
                f"regularize (train.regularization.l2, model.dropout) or stop early (train.early_stopping).",
                train_acc=ta[-1], val_acc=va[-1], gap_then=gap_then, gap_end=gap_end, since_epoch=since)
            return
    vl, tl = _col(history, "val_loss"), _col(history, "train_loss")
    if all(_finite(v) for v in vl + tl):
        best = min(range(n), key=lambda i: vl[i])
        if best < n - 1 and vl[-1] > vl[best] * VAL_RISE and tl[-1] < tl[best]:
            add("overfitting",
                f"The validation loss rose from {vl[best]:.4g} (epoch {best + 1}) to {vl[-1]:.4g} while the training "
                f"loss kept falling ({tl[best]:.4g} to {tl[-1]:.4g}): overfitting; regularize or stop early "
                f"(train.early_stopping).",
                best_epoch=best + 1, best_val_loss=vl[best], last_val_loss=vl[-1])


def _activation_name(config) -> str | None:
    """The hidden activation's name from a resolved config, None when it cannot be told."""
    model = config.get("model") if isinstance(config, dict) else None
    act = model.get("activation") if isinstance(model, dict) else None
    name = act.get("name") if isinstance(act, dict) else act
    return name if isinstance(name, str) else None


def _gradients(diagnostics, add, activation=None, dead_kind=None):
    diagnostics = [r for r in diagnostics if r.get("layer") is not None and r.get("epoch") is not None]
    if not diagnostics:
        return
    layers = list(dict.fromkeys(r["layer"] for r in diagnostics))
    if len(layers) >= 2:
        epochs = sorted({r["epoch"] for r in diagnostics})
        late = set(epochs[len(epochs) // 2:])

        def mean_norm(layer):
            vals = [r.get("grad_norm") for r in diagnostics if r["layer"] == layer and r["epoch"] in late
                    and _finite(r.get("grad_norm"))]
            return sum(vals) / len(vals) if vals else None

        first, lastn = mean_norm(layers[0]), mean_norm(layers[-1])
        if _finite(first) and _finite(lastn) and lastn > 0:
            ratio = first / lastn
            if ratio < VANISHING:
                add("vanishing_gradients",
                    f"The first layer's gradient norm ({first:.2e}) is "
                    + (f"{1 / ratio:,.0f}x smaller than" if ratio > 0 else "zero, against") + " the last "
                    f"layer's ({lastn:.2e}): vanishing gradients, so the layers near the input barely learn (000 "
                    f"notes); use ReLU or its variants, He initialization, or batch normalization.",
                    first=first, last=lastn, ratio=ratio)
            elif ratio > EXPLODING:
                add("exploding_gradients",
                    f"The first layer's gradient norm ({first:.2e}) is {ratio:,.0f}x larger than the last "
                    f"layer's ({lastn:.2e}): exploding gradients; lower the learning rate, clip gradients "
                    f"(train.grad_clip) or use batch normalization.",
                    first=first, last=lastn, ratio=ratio)
    last_epoch = max(r["epoch"] for r in diagnostics)
    for r in diagnostics:
        d = r.get("dead_fraction")
        if r["epoch"] == last_epoch and _finite(d) and d > DEAD:
            if activation is None or dead_kind == "zero":
                add("dead_relu",
                    f"{100 * d:.0f}% of {r['layer']}'s ReLU units never fired in the last epoch (dead ReLUs, 003 "
                    f"notes): lower the learning rate, or use leaky_relu, prelu or elu.",
                    layer=r["layer"], dead_fraction=d)
            elif dead_kind == "piece":
                add("dead_units",
                    f"{100 * d:.0f}% of {r['layer']}'s maxout pieces never won in the last epoch: those pieces "
                    f"learn nothing; fewer pieces or a lower learning rate may do as well.",
                    layer=r["layer"], dead_fraction=d)
            else:
                add("dead_units",
                    f"{100 * d:.0f}% of {r['layer']}'s {activation} units stayed on their negative part for the "
                    f"whole last epoch: they pass only a small slope of the gradient; lower the learning rate "
                    f"or check the initialization.",
                    layer=r["layer"], dead_fraction=d)
