"""The diagnosis rules on runs built to trigger them, on hand-made curves at each threshold, and the
per-layer diagnostics they read (grad norm, update ratio, dead and saturated units) against hand computations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnlab.config
import nnlab.look.figures
from nnlab.components.losses import SoftmaxCrossEntropy
from nnlab.experiment import run_experiment
from nnlab.runs import diagnosis as D
from nnlab.runs import read_diagnostics, read_metrics
from nnlab.runs.diagnosis import diagnose
from nnlab.train.diagnostics import Diagnostics
from nnlab.train.model import build_model

EPS = 1e-6  # relative step across a threshold: "just below" and "just above"


def codes(findings):
    return [f["code"] for f in findings]


# ------------------------------------------------------------------ real runs built to trigger each rule

CONFIGS = {
    "diverged": {"data": {"name": "spiral", "n_samples": 150}, "model": {"hidden": [16], "activation": "relu"},
                 "train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 1e6}}},
    # ten sigmoid layers: each backward pass multiplies by sigma' <= 1/4 (000 notes)
    "vanishing": {"data": {"name": "spiral", "n_samples": 300},
                  "model": {"hidden": [32] * 10, "activation": "sigmoid", "init": "xavier_normal"},
                  "train": {"epochs": 15, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05}}},
    # 42 noisy training points, a 256x256 net and 100 epochs of adam: memorised, validation loss climbs
    "overfitting": {"data": {"name": "spiral", "n_samples": 60, "noise": 0.6, "val_fraction": 0.3},
                    "model": {"hidden": [256, 256]},
                    "train": {"epochs": 100, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}},
    # Tuned from sgd lr 1e-5: at 1e-5 the loss moves by ~0.01% per epoch, which the rule (rightly) cannot
    # tell from flat: it needs the last fifth of training to still fall by STILL_FALLING (0.5%).  At 1e-3
    # the loss falls steadily but only ~13% in 20 epochs: the "slow decline the whole way" of the 004 notes.
    "too_slow": {"data": {"name": "spiral", "n_samples": 150}, "model": {"hidden": [16]},
                 "train": {"epochs": 20, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 1e-3}}},
    "healthy": {"data": {"name": "spiral", "n_samples": 300}, "model": {"hidden": [64]},
                "train": {"epochs": 40, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}},
}


SLOW_FIXTURES = ('trained',)  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    out = {}
    with pytest.MonkeyPatch.context() as mp:  # the PNGs cost most of the time and are not under test
        mp.setattr(nnlab.look.figures, "plot_curves", lambda *a, **k: None)
        mp.setattr(nnlab.look.figures, "plot_diagnostics", lambda *a, **k: None)
        for name, spec in CONFIGS.items():
            cfg = nnlab.config.validate({"name": name, "seed": 0, **spec})
            run_dir, result, summary = run_experiment(cfg, runs_dir=root)
            out[name] = (run_dir, result, summary)
    return out


@pytest.mark.slow
def test_huge_learning_rate_diverges(trained):
    run_dir, result, summary = trained["diverged"]
    assert summary["status"] == "diverged"
    findings = summary["diagnosis"]
    assert codes(findings)[0] == "diverged" and "poor_training" not in codes(findings)
    assert findings[0]["message"] == f"Training diverged: {summary['message']}."
    assert "became nan in epoch 1; try a lower learning rate" in findings[0]["message"]
    assert result.history == [] and summary["test"] == {"loss": None, "acc": None}


def test_deep_sigmoid_net_has_vanishing_gradients(trained):
    run_dir, result, summary = trained["vanishing"]
    assert summary["status"] == "completed"
    found = {f["code"]: f for f in summary["diagnosis"]}
    assert "vanishing_gradients" in found and "exploding_gradients" not in found
    f = found["vanishing_gradients"]
    ev = f["evidence"]
    assert ev["ratio"] < D.VANISHING and ev["ratio"] == pytest.approx(ev["first"] / ev["last"])
    # the evidence is the late-epoch mean grad norm of the first and last Dense layers in diagnostics.csv
    rows = read_diagnostics(run_dir / "diagnostics.csv")
    late = set(range(8, 16))  # epochs 8..15: the second half of 15

    def mean_norm(layer):
        vals = [r["grad_norm"] for r in rows if r["layer"] == layer and r["epoch"] in late]
        return sum(vals) / len(vals)

    assert ev["first"] == pytest.approx(mean_norm("dense1"), rel=1e-12)
    assert ev["last"] == pytest.approx(mean_norm("dense11"), rel=1e-12)
    assert f"({ev['first']:.2e})" in f["message"] and f"({ev['last']:.2e})" in f["message"]
    assert f"{1 / ev['ratio']:,.0f}x smaller" in f["message"]
    # diagnose() on the files gives the same findings as the summary (what `nnlab show` does for old runs)
    again = diagnose(read_metrics(run_dir / "metrics.csv"), rows, json.loads((run_dir / "summary.json").read_text()),
                     nnlab.config.validate({"name": "v", **CONFIGS["vanishing"]}).as_dict())
    assert codes(again) == codes(summary["diagnosis"])


def test_training_records_diagnostics_for_every_dense_layer_and_epoch(trained):
    run_dir, result, summary = trained["vanishing"]
    rows = read_diagnostics(run_dir / "diagnostics.csv")
    layers = [f"dense{i}" for i in range(1, 12)]
    assert [(r["epoch"], r["layer"]) for r in rows] == [(e, l) for e in range(1, 16) for l in layers]
    for r in rows:
        assert r["dead_fraction"] is None  # no ReLU here
        assert (r["saturated_fraction"] is None) == (r["layer"] == "dense11")  # the output layer has no sigmoid
        assert r["grad_norm"] > 0 and 0 < r["update_ratio"] < 1
    relu_rows = read_diagnostics(trained["healthy"][0] / "diagnostics.csv")
    assert {r["layer"] for r in relu_rows} == {"dense1", "dense2"}
    assert all((r["dead_fraction"] is not None) == (r["layer"] == "dense1") for r in relu_rows)
    assert all(0 <= r["dead_fraction"] <= 1 for r in relu_rows if r["layer"] == "dense1")


def test_memorising_a_tiny_noisy_set_is_overfitting(trained):
    run_dir, result, summary = trained["overfitting"]
    found = {f["code"]: f for f in summary["diagnosis"]}
    assert set(found) == {"overfitting"}, summary["diagnosis"]
    ev = found["overfitting"]["evidence"]
    hist = result.history
    if "best_val_loss" in ev:  # the validation-loss form of the rule
        vl = [r["val_loss"] for r in hist]
        assert ev["best_val_loss"] == min(vl) and ev["best_epoch"] == vl.index(min(vl)) + 1
        assert ev["last_val_loss"] == vl[-1] > D.VAL_RISE * ev["best_val_loss"]
        assert hist[-1]["train_loss"] < hist[ev["best_epoch"] - 1]["train_loss"]
    else:  # the accuracy-gap form
        assert ev["gap_end"] > D.GAP and ev["gap_end"] - ev["gap_then"] > D.GAP_GROWTH
    assert hist[-1]["train_acc"] > 0.9


def test_too_low_learning_rate_is_too_slow_and_poor(trained):
    run_dir, result, summary = trained["too_slow"]
    found = {f["code"]: f for f in summary["diagnosis"]}
    assert set(found) == {"too_slow", "poor_training"}
    tl = [r["train_loss"] for r in result.history]
    ev = found["too_slow"]["evidence"]
    assert (ev["first"], ev["last"], ev["epochs"]) == (tl[0], tl[-1], 20)
    assert (tl[0] - tl[-1]) / tl[0] < D.SLOW_DROP
    assert found["poor_training"]["evidence"]["train_acc"] == result.history[-1]["train_acc"] < D.POOR_TRAIN_ACC
    assert f"{100 * result.history[-1]['train_acc']:.1f}%" in found["poor_training"]["message"]


def test_healthy_run_has_no_findings(trained):
    run_dir, result, summary = trained["healthy"]
    assert summary["status"] == "completed" and result.history[-1]["train_acc"] > 0.9
    assert summary["diagnosis"] == []
    assert diagnose(read_metrics(run_dir / "metrics.csv"), read_diagnostics(run_dir / "diagnostics.csv"),
                    summary) == []


# ------------------------------------------------------------------ hand-made histories, one rule at a time


def test_thresholds_are_the_documented_ones():
    # docs/runs.md's table of rules (Diagnosis) quotes these numbers
    assert (D.EARLY_RISE, D.SLOW_DROP, D.STILL_FALLING, D.FLAT_LATE, D.FAST_EARLY, D.HIGH_PLATEAU) == \
        (1.10, 0.30, 0.005, 0.01, 0.80, 0.10)
    assert (D.POOR_TRAIN_ACC, D.GAP, D.GAP_GROWTH, D.VAL_RISE, D.VANISHING, D.EXPLODING, D.DEAD) == \
        (0.80, 0.10, 0.05, 1.20, 1e-2, 1e2, 0.50)


def hist(train_loss, train_acc=0.99, val_loss=None, val_acc=None):
    """metrics rows; scalars repeat for every epoch."""
    n = len(train_loss)

    def col(v):
        return list(v) if isinstance(v, (list, tuple)) else [v] * n

    return [{"epoch": i + 1, "train_loss": tl, "train_acc": ta, "val_loss": vl, "val_acc": va}
            for i, (tl, ta, vl, va) in enumerate(zip(train_loss, col(train_acc), col(val_loss), col(val_acc)))]


def linear(a, b, n):
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def test_a_steadily_falling_healthy_curve_has_no_findings():
    assert diagnose(hist([2.0 * 0.7 ** i for i in range(20)])) == []
    assert diagnose([]) == [] and diagnose([], [], {}, {}) == []


def test_diverged_status():
    f = diagnose([], summary={"status": "diverged", "message": "the training loss became nan in epoch 3"})
    assert f == [{"code": "diverged", "message": "Training diverged: the training loss became nan in epoch 3.",
                  "evidence": {}}]
    assert diagnose([], summary={"status": "diverged"})[0]["message"] == \
        "Training diverged: the loss became NaN or infinite."
    # a diverged run's low accuracy is not also called poor training
    assert codes(diagnose(hist([1.0, 0.9], train_acc=0.3), summary={"status": "diverged"})) == ["diverged"]


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_loss_up_early_threshold(factor, fires):
    peak = 2.0 * D.EARLY_RISE * factor
    f = diagnose(hist([2.0, peak, 1.5]))
    assert codes(f) == (["loss_up_early"] if fires else [])
    if fires:
        assert f[0]["evidence"] == {"first": 2.0, "peak": peak, "epoch": 2}
        assert f[0]["message"].startswith(f"The training loss went up early, from 2 in epoch 1 to {peak:.4g} in "
                                          f"epoch 2: the learning rate is too high")


def test_loss_up_early_looks_only_at_the_first_epochs():
    # 40 epochs: the window is epochs 2..4 (k = max(3, n // 10) = 4)
    falling = [3.0 * 0.95 ** i for i in range(40)]
    late = list(falling)
    late[4] = 10.0  # epoch 5: outside the window
    assert "loss_up_early" not in codes(diagnose(hist(late)))
    early = list(falling)
    early[3] = 10.0  # epoch 4: inside
    f = diagnose(hist(early))
    assert codes(f) == ["loss_up_early"] and f[0]["evidence"]["epoch"] == 4
    # it says what the learning-rate rules would otherwise say: the curve shape rules stay quiet
    assert "too_slow" not in codes(f) and "fast_then_flat" not in codes(f)


@pytest.mark.parametrize("factor, fires", [(1 - EPS, True), (1 + EPS, False)])
def test_too_slow_total_drop_threshold(factor, fires):
    drop = D.SLOW_DROP * factor
    train = linear(1.0, 1.0 - drop, 10)
    f = diagnose(hist(train))
    assert codes(f) == (["too_slow"] if fires else [])
    if fires:
        assert f[0]["evidence"] == {"first": 1.0, "last": train[-1], "epochs": 10}
        assert f"fell only {100 * drop:.0f}% in 10 epochs" in f[0]["message"]


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_too_slow_still_falling_threshold(factor, fires):
    train = linear(1.0, 0.9, 9)  # epochs 1..9, then the last fifth (from index 8) falls by the threshold
    train.append(train[-1] * (1 - D.STILL_FALLING * factor))
    assert codes(diagnose(hist(train))) == (["too_slow"] if fires else [])


def fast_then_flat_curve(fifth=0.5, last=0.5, late_drop=0.0, n=10):
    """l0 = 1; the first fifth reaches `fifth`; flat at `last` from there; a last-step drop of late_drop."""
    train = [1.0, (1.0 + fifth) / 2] + [fifth] + [last] * (n - 3)
    train[-1] = last * (1 - late_drop)
    return train


def test_fast_then_flat_fires_and_is_silenced_by_a_decaying_schedule():
    train = fast_then_flat_curve()
    f = diagnose(hist(train))
    assert codes(f) == ["fast_then_flat"]
    assert f[0]["evidence"] == {"first": 1.0, "after_fifth": 0.5, "last": 0.5}
    assert "dropped fast (1 to 0.5 in the first 2 epochs) and then stayed flat near 0.5" in f[0]["message"]
    assert diagnose(hist(train), config={"train": {"schedule": {"name": "step", "step_size": 5}}}) == []
    assert codes(diagnose(hist(train), config={"train": {"schedule": {"name": "constant"}}})) == ["fast_then_flat"]


@pytest.mark.parametrize("factor, fires", [(1 - EPS, True), (1 + EPS, False)])
def test_fast_then_flat_flat_late_threshold(factor, fires):
    train = fast_then_flat_curve(late_drop=D.FLAT_LATE * factor)
    assert codes(diagnose(hist(train))) == (["fast_then_flat"] if fires else [])


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_fast_then_flat_fast_early_threshold(factor, fires):
    # total drop 0.5; the first fifth makes FAST_EARLY of it (just below / above)
    train = fast_then_flat_curve(fifth=1.0 - D.FAST_EARLY * 0.5 * factor, last=0.5)
    assert codes(diagnose(hist(train))) == (["fast_then_flat"] if fires else [])


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_fast_then_flat_high_plateau_threshold(factor, fires):
    level = D.HIGH_PLATEAU * factor  # a plateau this close to zero is convergence, not a too-high rate
    train = fast_then_flat_curve(fifth=level, last=level)
    assert codes(diagnose(hist(train))) == (["fast_then_flat"] if fires else [])


@pytest.mark.parametrize("factor, fires", [(1 - EPS, True), (1.0, False)])
def test_poor_training_threshold(factor, fires):
    acc = D.POOR_TRAIN_ACC * factor
    f = diagnose(hist([1.0, 0.5, 0.25], train_acc=acc))
    assert codes(f) == (["poor_training"] if fires else [])
    if fires:
        assert f[0]["evidence"] == {"train_acc": acc}
        assert f[0]["message"].startswith("Training accuracy is only 80.0% after 3 epochs")


def gap_history(gap_then, gap_end, n=10, ta=0.95):
    """train acc fixed; validation acc gives gap_then at index n // 3 and gap_end at the last epoch."""
    va = [ta] * n
    va[n // 3] = ta - gap_then
    va[-1] = ta - gap_end
    return hist(linear(1.0, 0.1, n), train_acc=ta, val_acc=va)


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_overfitting_gap_threshold(factor, fires):
    f = diagnose(gap_history(0.0, D.GAP * factor))
    assert codes(f) == (["overfitting"] if fires else [])
    if fires:
        ev = f[0]["evidence"]
        assert ev["gap_then"] == pytest.approx(0.0) and ev["gap_end"] == pytest.approx(D.GAP * factor)
        assert ev["since_epoch"] == 4  # the gap_then window ends at index 10 // 3 = 3, epoch 4
        assert (ev["train_acc"], ev["val_acc"]) == (0.95, 0.95 - D.GAP * factor)
        assert "grew from 0 to 10 points since epoch 4: overfitting" in f[0]["message"]


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_overfitting_gap_growth_threshold(factor, fires):
    f = diagnose(gap_history(0.3 - D.GAP_GROWTH * factor, 0.3))
    assert codes(f) == (["overfitting"] if fires else [])


def test_overfitting_needs_six_epochs_and_good_training():
    assert diagnose(gap_history(0.0, 0.3, n=5)) == []
    assert codes(diagnose(gap_history(0.0, 0.3, n=6))) == ["overfitting"]
    # poor training comes first: no overfitting verdict on a net that does not fit its training data
    assert codes(diagnose(gap_history(0.0, 0.3, ta=0.7))) == ["poor_training"]


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_overfitting_val_rise_threshold(factor, fires):
    vl = [1.0, 0.8, 0.6, 0.5, 0.55, 0.58, 0.5 * D.VAL_RISE * factor]
    rows = hist(linear(1.0, 0.1, 7), train_acc=None, val_loss=vl)
    f = diagnose(rows)
    assert codes(f) == (["overfitting"] if fires else [])
    if fires:
        assert f[0]["evidence"] == {"best_epoch": 4, "best_val_loss": 0.5, "last_val_loss": vl[-1]}
        assert f[0]["message"].startswith(f"The validation loss rose from 0.5 (epoch 4) to {vl[-1]:.4g} while the "
                                          f"training loss kept falling")


def test_rising_validation_loss_with_rising_training_loss_is_not_overfitting():
    vl = [1.0, 0.8, 0.6, 0.5, 0.55, 0.58, 0.9]
    tl = [1.0, 0.8, 0.6, 0.5, 0.55, 0.58, 0.9]
    assert "overfitting" not in codes(diagnose(hist(tl, train_acc=None, val_loss=vl)))


def grad_rows(first, last, middle=1.0, epochs=4, early=(1e6, 1e-6)):
    """diagnostics rows for 3 layers; the first half of the epochs (ignored by the rule) has wild values."""
    rows = []
    for e in range(1, epochs + 1):
        f, l = early if e <= epochs // 2 else (first, last)
        for layer, g in (("dense1", f), ("dense2", middle), ("dense3", l)):
            rows.append({"epoch": e, "layer": layer, "grad_norm": g, "update_ratio": 1e-3, "dead_fraction": None,
                         "saturated_fraction": None})
    return rows


@pytest.mark.parametrize("factor, fires", [(1 - EPS, True), (1 + EPS, False)])
def test_vanishing_gradients_threshold(factor, fires):
    first = 0.5 * D.VANISHING * factor
    f = diagnose(hist([1.0, 0.5, 0.25]), grad_rows(first, 0.5))
    assert codes(f) == (["vanishing_gradients"] if fires else [])
    if fires:
        assert f[0]["evidence"] == {"first": first, "last": 0.5, "ratio": pytest.approx(D.VANISHING * factor)}
        assert f[0]["message"].startswith(f"The first layer's gradient norm ({first:.2e}) is 100x smaller than the "
                                          f"last layer's (5.00e-01)")


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_exploding_gradients_threshold(factor, fires):
    first = 2.0 * D.EXPLODING * factor
    f = diagnose(hist([1.0, 0.5, 0.25]), grad_rows(first, 2.0, early=(1.0, 1.0)))
    assert codes(f) == (["exploding_gradients"] if fires else [])
    if fires:
        assert f[0]["evidence"]["ratio"] == pytest.approx(D.EXPLODING * factor)
        assert "is 100x larger than the last layer's (2.00e+00): exploding gradients" in f[0]["message"]


def test_gradient_rule_uses_late_epochs_first_and_last_layers_only():
    # the early epochs alone would say "exploding", a tiny middle layer would say "vanishing": neither counts
    assert diagnose(hist([1.0, 0.5, 0.25]), grad_rows(1.0, 1.0, middle=1e-9, early=(1e9, 1.0))) == []
    # means over the late epochs: (1e-3 + 3e-3) / 2 = 2e-3 against 1: vanishing
    rows = grad_rows(1e-3, 1.0, epochs=4, early=(1.0, 1.0))
    rows[-3]["grad_norm"] = 3e-3  # epoch 4, dense1
    f = diagnose(hist([1.0, 0.5, 0.25]), rows)
    assert f[0]["evidence"]["first"] == pytest.approx(2e-3)
    # a single layer, or missing / non-finite norms, give no gradient verdict (and no crash)
    one = [r for r in grad_rows(1e-9, 1.0) if r["layer"] == "dense1"]
    assert diagnose(hist([1.0, 0.5, 0.25]), one) == []
    nan = [{**r, "grad_norm": float("nan")} for r in grad_rows(1e-9, 1.0)]
    assert diagnose(hist([1.0, 0.5, 0.25]), nan) == []
    old = [{"epoch": r["epoch"], "layer": r["layer"]} for r in grad_rows(1e-9, 1.0)]  # no grad_norm column
    assert diagnose(hist([1.0, 0.5, 0.25]), old) == []


@pytest.mark.parametrize("factor, fires", [(1 - EPS, False), (1 + EPS, True)])
def test_dead_relu_threshold(factor, fires):
    d = D.DEAD * factor
    rows = [{"epoch": e, "layer": layer, "grad_norm": 1.0, "update_ratio": 1e-3,
             "dead_fraction": (1.0 if e == 1 else d) if layer == "dense1" else None, "saturated_fraction": None}
            for e in (1, 2) for layer in ("dense1", "dense2")]
    f = diagnose(hist([1.0, 0.5, 0.25]), rows)
    assert codes(f) == (["dead_relu"] if fires else [])  # epoch 1's fully dead layer is history
    if fires:
        assert f[0]["evidence"] == {"layer": "dense1", "dead_fraction": d}
        assert f[0]["message"].startswith("50% of dense1's ReLU units never fired in the last epoch")


def test_degenerate_curves_do_not_crash():
    assert diagnose(hist([0.0] * 12)) == []  # a zero loss from the first epoch
    assert diagnose(hist([float("nan")] * 12, train_acc=None)) == []
    assert codes(diagnose(hist([1.0, 1.2, 1.5] + [float("inf")] * 3))) == ["loss_up_early"]


# ------------------------------------------------------------------ the per-layer diagnostics, by hand


def make_model(hidden, activation, n_in=4, n_out=3, init="he_normal", seed=0):
    cfg = nnlab.config.validate({"model": {"hidden": hidden, "activation": activation, "init": init},
                                 "data": {"name": "spiral"}})
    rng = np.random.default_rng(seed)
    return build_model(cfg.model, n_in, n_out, "float64", rng, rng)


def step(model, diag, x, y, loss_fn, last=False, lr=0.1):
    out = model.forward(x, train=True)
    _, dout = loss_fn(out, y)
    model.backward(dout)
    diag.after_backward(model.grads)
    if last:
        diag.before_last_step()
    model.params -= lr * model.grads


def hand_grads(model, x, y):
    """dL/dW1 and dL/dW2 of a one-hidden-layer ReLU net with softmax cross-entropy, written out by hand."""
    W1, b1, W2, b2 = (model.view(n) for n in ("dense1.W", "dense1.b", "dense2.W", "dense2.b"))
    z1 = x @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = p.copy()
    dz2[np.arange(len(y)), y] -= 1
    dz2 /= len(y)
    dW2 = a1.T @ dz2
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    return x.T @ dz1, dW2


def test_grad_norm_and_update_ratio_by_hand():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    model = make_model([6], "relu")
    diag = Diagnostics(model)
    assert diag.names == ["dense1", "dense2"]
    dW1, dW2 = hand_grads(model, x, y)
    W_before = [model.view("dense1.W").copy(), model.view("dense2.W").copy()]
    step(model, diag, x, y, SoftmaxCrossEntropy(), last=True, lr=0.1)
    rows = diag.end_epoch(1)
    assert [(r["epoch"], r["layer"]) for r in rows] == [(1, "dense1"), (1, "dense2")]
    assert rows[0]["grad_norm"] == pytest.approx(np.linalg.norm(dW1), rel=1e-12)
    assert rows[1]["grad_norm"] == pytest.approx(np.linalg.norm(dW2), rel=1e-12)
    for r, name, before in zip(rows, ("dense1.W", "dense2.W"), W_before):
        hand = np.linalg.norm(model.view(name) - before) / np.linalg.norm(before)
        assert r["update_ratio"] == pytest.approx(hand, rel=1e-12)
    # plain SGD: the update is lr * dW
    assert rows[0]["update_ratio"] == pytest.approx(0.1 * np.linalg.norm(dW1) / np.linalg.norm(W_before[0]))


def test_grad_norm_is_the_mean_of_the_steps_norms_and_the_epoch_resets():
    rng = np.random.default_rng(2)
    batches = [(rng.normal(size=(8, 4)), rng.integers(0, 3, 8)) for _ in range(3)]
    model = make_model([5], "relu")
    diag = Diagnostics(model)
    loss_fn = SoftmaxCrossEntropy()
    norms = []
    for i, (x, y) in enumerate(batches):
        norms.append([np.linalg.norm(g) for g in hand_grads(model, x, y)])
        step(model, diag, x, y, loss_fn, last=i == 2)
    rows = diag.end_epoch(1)
    assert rows[0]["grad_norm"] == pytest.approx(np.mean([n[0] for n in norms]), rel=1e-12)
    assert rows[1]["grad_norm"] == pytest.approx(np.mean([n[1] for n in norms]), rel=1e-12)
    # the next epoch starts afresh: one step, no update ratio without before_last_step
    x, y = batches[0]
    expected = [np.linalg.norm(g) for g in hand_grads(model, x, y)]
    step(model, diag, x, y, loss_fn, last=False)
    rows = diag.end_epoch(2)
    assert [r["grad_norm"] for r in rows] == pytest.approx(expected, rel=1e-12)
    assert [r["update_ratio"] for r in rows] == [None, None]


def test_dead_fraction_of_forced_dead_relus_is_one():
    rng = np.random.default_rng(3)
    model = make_model([7], "relu")
    model.view("dense1.b")[...] = -1e3  # no input reaches zero: every unit is dead
    diag = Diagnostics(model)
    for i in range(2):
        step(model, diag, rng.normal(size=(9, 4)), rng.integers(0, 3, 9), SoftmaxCrossEntropy(), last=i == 1)
    rows = diag.end_epoch(1)
    assert rows[0]["dead_fraction"] == 1.0
    assert rows[1]["dead_fraction"] is None and rows[0]["saturated_fraction"] is None
    assert rows[0]["grad_norm"] == 0.0  # dead units pass no gradient to the first layer


def test_dead_fraction_counts_units_that_never_fired_over_all_batches():
    rng = np.random.default_rng(4)
    model = make_model([6], "relu")
    W1 = model.view("dense1.W")
    W1[...] = 0.0
    b1 = model.view("dense1.b")
    b1[...] = [1.0, -1.0, -1.0, 1.0, -1.0, -1.0]  # units 0 and 3 always fire; the others never...
    W1[0, 1] = 10.0  # ...except unit 1 on inputs with x0 > 0.1, which only the second batch has
    diag = Diagnostics(model)
    loss_fn = SoftmaxCrossEntropy()
    x1 = -np.abs(rng.normal(size=(5, 4)))
    x2 = np.abs(rng.normal(size=(5, 4))) + 0.5
    step(model, diag, x1, rng.integers(0, 3, 5), loss_fn, lr=0.0)
    step(model, diag, x2, rng.integers(0, 3, 5), loss_fn, lr=0.0, last=True)
    assert diag.end_epoch(1)[0]["dead_fraction"] == pytest.approx(3 / 6)
    step(model, diag, x1, rng.integers(0, 3, 5), loss_fn, lr=0.0, last=True)  # a new epoch without x2
    assert diag.end_epoch(2)[0]["dead_fraction"] == pytest.approx(4 / 6)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "hard_tanh"])
def test_saturated_fraction_of_huge_pre_activations_is_one(activation):
    rng = np.random.default_rng(5)
    model = make_model([6, 5], activation, init="xavier_normal")
    model.view("dense1.b")[...] = [1e3, -1e3, 1e3, -1e3, 1e3, -1e3]
    diag = Diagnostics(model)
    step(model, diag, rng.normal(size=(8, 4)), rng.integers(0, 3, 8), SoftmaxCrossEntropy(), last=True)
    rows = diag.end_epoch(1)
    assert rows[0]["saturated_fraction"] == 1.0
    assert rows[0]["dead_fraction"] is None and rows[2]["saturated_fraction"] is None


def test_saturated_fraction_by_hand_and_from_the_training_batch():
    rng = np.random.default_rng(6)
    model = make_model([50], "sigmoid", init="xavier_normal")
    diag = Diagnostics(model)
    x = rng.normal(size=(40, 4)) * 3
    model.view("dense1.b")[...] = np.linspace(-6, 6, 50)
    z = x @ model.view("dense1.W") + model.view("dense1.b")
    a = 1 / (1 + np.exp(-z))
    hand = np.mean((a < 0.03) | (a > 0.97))
    assert 0.05 < hand < 0.95  # some units saturated, some not: the fraction is a real test
    step(model, diag, x, rng.integers(0, 3, 40), SoftmaxCrossEntropy(), last=True, lr=0.0)
    assert diag.saturating["dense1"].saturated() == pytest.approx(hand)
    # the trainer evaluates the validation set before end_epoch: the epoch's figure must still be
    # the training batch's, not whatever the last forward pass saw
    model.forward(np.zeros((3, 4)), train=False)
    assert diag.end_epoch(1)[0]["saturated_fraction"] == pytest.approx(hand)


def test_dead_statistics_come_from_the_activation_for_every_kind():
    """Leaky ReLU, PReLU, ELU and maxout get dead-unit statistics too (asked of the activation)."""
    import numpy as np

    from nnlab.config import validate
    from nnlab.train.model import build_model
    from nnlab.train.trainer import rng_streams

    x = np.vstack([np.full((3, 2), -1.0), np.full((3, 2), 1.0)])
    for act, expect in (("leaky_relu", 0.5), ("prelu", 0.5), ("elu", 0.5), ("relu", 0.5), ("maxout", 0.5)):
        cfg = validate({"model": {"hidden": [2], "activation": act}})
        r = rng_streams(0)
        model = build_model(cfg.model, 2, 2, "float64", r["init"], r["noise"])
        w = model.view("dense1.W")
        # unit/piece 0 sees x0 + x1, unit/piece 1 sees -(x0 + x1) - 10: never positive, never the winner
        w[...] = 0
        w[:, 0] = 1.0
        w[:, 1] = -1.0
        model.view("dense1.b")[...] = [0.0, -10.0] * (w.shape[1] // 2)
        diag = Diagnostics(model, 1)
        model.forward(x, train=True)
        diag.after_backward(model.grads)
        row = diag.end_epoch(1)[0]
        assert row["dead_fraction"] == expect, act


def test_dead_unit_message_names_the_activation():
    rows = [{"epoch": 1, "layer": "dense1", "grad_norm": 1.0, "dead_fraction": 0.9},
            {"epoch": 1, "layer": "dense2", "grad_norm": 1.0, "dead_fraction": None}]
    leaky = diagnose([], rows, {}, {"model": {"activation": {"name": "leaky_relu"}}})
    assert [f["code"] for f in leaky] == ["dead_units"] and "leaky_relu units stayed on their negative part" \
        in leaky[0]["message"]
    relu = diagnose([], rows, {}, {"model": {"activation": {"name": "relu"}}})
    assert [f["code"] for f in relu] == ["dead_relu"]


def test_a_first_layer_without_any_gradient_is_vanishing_not_a_crash():
    rows = [{"epoch": e, "layer": layer, "grad_norm": g} for e in (1, 2)
            for layer, g in (("dense0", 0.0), ("dense1", 0.5))]
    found = {f["code"]: f for f in diagnose([{"epoch": 1, "train_loss": 2.3, "val_loss": 2.3}], rows)}
    assert "vanishing_gradients" in found
    assert "is zero, against the last layer's (5.00e-01)" in found["vanishing_gradients"]["message"]
