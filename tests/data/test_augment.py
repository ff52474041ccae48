"""Data augmentation (nnlab.data.augment): the transforms on hand-made arrays, their draws measured over
many samples, soft targets in the cross-entropy, and a run with augmentation: reproducible, training
batches only, resumable exactly, and bit-identical to before when off."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.components.losses import SoftmaxCrossEntropy
from nnlab.config import validate
from nnlab.data import load_dataset
from nnlab.data.augment import Augmenter, active, mix, shift_rows
from nnlab.errors import ConfigError
from nnlab.experiment import CHECKPOINT, resume_experiment, run_experiment
from nnlab.train.trainer import Trainer, evaluate, train

ALL = {"noise": 0.1, "shift": 2, "scale": [0.9, 1.1], "mixup": 0.2}
RAW = {
    "name": "aug", "seed": 1,
    "data": {"name": "blobs", "n_samples": 240, "n_features": 8, "classes": 3, "val_fraction": 0.25,
             "augment": ALL},
    "model": {"hidden": [16], "dropout": 0.1},
    "train": {"epochs": 4, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.01}},
}


def config(augment=ALL, **top):
    raw = copy.deepcopy(RAW)
    if augment == "absent":
        del raw["data"]["augment"]
    else:
        raw["data"]["augment"] = augment
    raw.update(top)
    return validate(raw)


def strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def errors_of(augment, **data) -> list[str]:
    raw = copy.deepcopy(RAW)
    raw["data"].update(augment=augment, **data)
    with pytest.raises(ConfigError) as exc:
        validate(raw, source="a.yaml")
    return exc.value.lines


# -- shift ------------------------------------------------------------------------------------------------


def test_shift_by_hand_zero_pads_and_never_wraps():
    x = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15], [16, 17, 18, 19, 20]],
                 dtype=np.float32)
    before = x.copy()
    out = shift_rows(x, np.array([2, -1, 0, 4]))
    np.testing.assert_array_equal(out, [[0, 0, 1, 2, 3], [7, 8, 9, 10, 0], [11, 12, 13, 14, 15], [0, 0, 0, 0, 16]])
    np.testing.assert_array_equal(x, before)  # the batch (maybe a view of the training set) is untouched
    assert out.dtype == np.float32
    # shifted by the whole width: nothing is left, nothing comes back round
    np.testing.assert_array_equal(shift_rows(x[:2], np.array([5, -5])), np.zeros((2, 5)))


def test_shift_reuses_its_padded_buffer_without_leaking_old_values():
    padded = np.zeros((2, 3 + 2 * 2), dtype=np.float64)
    shift_rows(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([1, -2]), padded=padded)
    out = shift_rows(np.array([[7.0, 8.0, 9.0], [1.0, 1.0, 2.0]]), np.array([-2, 2]), padded=padded)
    np.testing.assert_array_equal(out, [[9, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(padded[:, :2], 0)
    np.testing.assert_array_equal(padded[:, -2:], 0)


def test_drawn_shifts_are_uniform_on_minus_k_to_k():
    n, d, k = 14_000, 10, 3
    x = np.tile(np.arange(1, d + 1, dtype=np.float32), (n, 1))
    out, _ = Augmenter({"shift": k}, x, None, np.random.default_rng(0))(x, np.zeros(n, dtype=np.int64))
    # a right shift s leaves s leading zeros; a left shift -s starts at x[s] = s + 1
    s = np.where(out[:, 0] == 0, (out != 0).argmax(axis=1), 1 - out[:, 0]).astype(int)
    t = np.arange(d)
    expected = np.where((t - s[:, None] >= 0) & (t - s[:, None] < d), t - s[:, None] + 1, 0)
    np.testing.assert_array_equal(out, expected)  # each row is its input shifted by its own s, zero-padded
    counts = np.bincount(s + k, minlength=2 * k + 1)
    assert len(counts) == 2 * k + 1 and counts.min() > 0  # every shift in [-3, 3], none beyond
    # uniform: each count is n/7 = 2000 +- 4.2 binomial standard deviations (41)
    assert np.abs(counts - n / 7).max() < 170, counts


# -- scale ------------------------------------------------------------------------------------------------


def test_scale_factors_are_uniform_in_the_bounds_one_per_sample():
    n = 20_000
    x = np.ones((n, 3), dtype=np.float32)
    out, _ = Augmenter({"scale": [0.9, 1.1]}, x, None, np.random.default_rng(1))(x, np.zeros(n, dtype=np.int64))
    u = out[:, 0].astype(np.float64)
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 3, axis=1))  # one factor per sample
    assert u.min() >= np.float32(0.9) and u.max() <= np.float32(1.1)
    assert u.min() < 0.9 + 0.001 and u.max() > 1.1 - 0.001  # the whole interval is reached
    # U[a, b]: mean (a + b) / 2 = 1, variance (b - a)^2 / 12 = 1/300; tolerances ~5 standard errors
    assert abs(u.mean() - 1.0) < 5 * math.sqrt(1 / 300 / n)
    assert abs(u.var() - 1 / 300) < 0.05 / 300
    x2 = np.array([[1.0, -2.0, 0.0]], dtype=np.float32)
    out2, _ = Augmenter({"scale": [2.0, 2.0]}, x2, None, np.random.default_rng(0))(x2, np.zeros(1, dtype=np.int64))
    np.testing.assert_array_equal(out2, [[2.0, -4.0, 0.0]])


# -- noise ------------------------------------------------------------------------------------------------


def test_noise_std_is_sigma_times_each_features_training_std():
    # training features of known std (population, as numpy's std): 1, 2, 0 (constant) and 0.5
    signs = np.tile([1.0, -1.0], 500)
    x_train = np.stack([signs, 2 * signs + 3, np.full(1000, 5.0), 0.5 * signs], axis=1).astype(np.float32)
    aug = Augmenter({"noise": 0.3}, x_train, None, np.random.default_rng(2))
    np.testing.assert_allclose(aug.noise_std, [0.3, 0.6, 0.0, 0.15], rtol=1e-6)
    batch = x_train[:500]
    e = np.concatenate([aug(batch, np.zeros(500, dtype=np.int64))[0] - batch for _ in range(200)])
    assert e.shape == (100_000, 4)
    np.testing.assert_array_equal(e[:, 2], 0)  # a constant feature gets no noise
    std = e.std(axis=0)
    # the sample std of 100k normals is within 1% (4.5 standard errors) of the true one
    np.testing.assert_allclose(std[[0, 1, 3]], [0.3, 0.6, 0.15], rtol=0.01)
    assert np.all(np.abs(e.mean(axis=0)[[0, 1, 3]]) < 5 * np.array([0.3, 0.6, 0.15]) / math.sqrt(100_000))


def test_noise_is_in_standardized_units_after_standardize():
    d = load_dataset({"name": "blobs", "n_samples": 300, "n_features": 4, "noise": 3.0, "preprocess": "standardize"})
    aug = Augmenter({"noise": 0.2}, d.x_train, d.n_classes, np.random.default_rng(0))
    np.testing.assert_allclose(aug.noise_std, 0.2, rtol=1e-5)


# -- mixup ------------------------------------------------------------------------------------------------


def test_mix_by_hand_is_a_convex_combination_of_inputs_and_one_hot_targets():
    x = np.array([[0.0, 10.0], [2.0, 4.0], [1.0, 1.0]])
    y = np.array([0, 2, 2])
    lam = np.array([0.25, 1.0, 0.5])
    out, t = mix(x, y, lam, np.array([1, 0, 1]), 3)
    np.testing.assert_allclose(out, [[1.5, 5.5], [2.0, 4.0], [1.5, 2.5]], rtol=1e-15)
    # 0.25 onehot(0) + 0.75 onehot(2); 1 onehot(2) + 0 onehot(0); the same class twice sums to 1
    np.testing.assert_array_equal(t, [[0.25, 0, 0.75], [0, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(x, [[0.0, 10.0], [2.0, 4.0], [1.0, 1.0]])  # the input is untouched
    inplace = x.copy()
    out2, _ = mix(inplace, y, lam, np.array([1, 0, 1]), 3, out=inplace)  # mixed in place reads the old rows
    assert out2 is inplace
    np.testing.assert_allclose(out2, out, rtol=1e-15)


def test_mixup_lambda_is_beta_alpha_alpha_per_sample():
    n, alpha, calls = 1000, 0.4, 20
    x = np.eye(n, dtype=np.float32)  # row i is e_i: the mixed row i is lam_i e_i + (1 - lam_i) e_perm(i)
    y = np.arange(n) % 10
    aug = Augmenter({"mixup": alpha}, x, 10, np.random.default_rng(3))
    lams = []
    for _ in range(calls):
        out, t = aug(x, y)
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-6)  # convex combinations
        np.testing.assert_allclose(t.sum(axis=1), 1, rtol=1e-6)
        assert out.min() >= 0 and t.min() >= 0
        moved = np.diag(out) < 1  # perm(i) != i (or lam exactly 1)
        lams.append(np.diag(out)[moved])
    lam = np.concatenate(lams).astype(np.float64)
    assert len(lam) > 0.99 * n * calls
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 0.1389 for a = 0.4; ~5 standard errors
    assert abs(lam.mean() - 0.5) < 5 * math.sqrt(0.1389 / len(lam))
    assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.006


def test_the_batch_follows_the_documented_draws_in_order():
    """shifts, scale factors, noise, lam, permutation: replayed from the same seed, computed in float64."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    out, t = Augmenter(ALL, x, 4, np.random.default_rng(11))(x, y)
    r = np.random.default_rng(11)
    s = r.integers(-2, 3, size=50)
    u = r.uniform(0.9, 1.1, size=50).astype(np.float32).astype(np.float64)
    e = r.standard_normal((50, 6), dtype=np.float32).astype(np.float64)
    lam = r.beta(0.2, 0.2, size=50).astype(np.float32).astype(np.float64)
    perm = r.permutation(50)
    x64 = x.astype(np.float64)
    shifted = np.zeros_like(x64)
    for i in range(50):  # the reference: one row at a time
        for j in range(6):
            if 0 <= j - s[i] < 6:
                shifted[i, j] = x64[i, j - s[i]]
    noisy = shifted * u[:, None] + 0.1 * x64.std(axis=0) * e
    expected = lam[:, None] * noisy + (1 - lam[:, None]) * noisy[perm]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    onehot = np.eye(4)
    np.testing.assert_allclose(t, lam[:, None] * onehot[y] + (1 - lam[:, None]) * onehot[y[perm]], atol=1e-7)


# -- soft targets in the cross-entropy ----------------------------------------------------------------------


def test_mixup_loss_is_the_mixed_losses_and_accuracy_counts_the_heavier_class():
    rng = np.random.default_rng(1)
    out = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    ce = SoftmaxCrossEntropy()
    # mixup's loss: per sample lam CE(y_i) + (1 - lam) CE(y_perm(i)) (Zhang et al. 2018)
    lam, perm = np.array([0.1, 0.6, 0.9, 0.3, 1.0]), np.array([3, 0, 4, 1, 2])
    _, t = mix(np.zeros((5, 1)), y, lam, perm, 3)
    logp = out - np.log(np.exp(out).sum(axis=1, keepdims=True))
    rows = np.arange(5)
    per_sample = -(lam * logp[rows, y] + (1 - lam) * logp[rows, y[perm]])
    assert ce(out, t)[0] == pytest.approx(per_sample.mean(), rel=1e-13)
    # training accuracy under mixup: the class of largest weight in the mixed target
    assert SoftmaxCrossEntropy.correct(np.eye(3)[[2, 0, 0, 2, 0]], t) == \
        int(np.sum(np.array([2, 0, 0, 2, 0]) == np.where(lam >= 0.5, y, y[perm])))


# -- config -----------------------------------------------------------------------------------------------


def test_config_resolves_and_off_means_off():
    assert config().data["augment"] == ALL
    assert config("absent").data["augment"] is None
    assert config({"noise": 0.2}).data["augment"] == {"noise": 0.2, "shift": None, "scale": None, "mixup": None}
    assert config({"shift": 3.0}).data["augment"]["shift"] == 3  # the number rule: 3.0 is 3
    assert not active(None) and not active({}) and not active(config({"noise": 0, "shift": 0}).data["augment"])
    assert active({"scale": [1, 1]}) and active({"mixup": 0.2})


@pytest.mark.parametrize("augment, data, expected", [
    ({"scale": [1.1, 0.9]}, {}, "a.yaml: data.augment.scale: must be [low, high] with 0 < low <= high (each sample "
                                "is multiplied by a factor uniform in [low, high]), got [1.1, 0.9]"),
    ({"scale": [0.9]}, {}, "a.yaml: data.augment.scale: must be [low, high]"),
    ({"scale": [0, 1]}, {}, "a.yaml: data.augment.scale: item 1 must be greater than 0, got [0, 1]"),
    ({"noise": -0.1}, {}, "a.yaml: data.augment.noise: must be greater than or equal to 0, got -0.1"),
    ({"shift": 1.5}, {}, "a.yaml: data.augment.shift: must be a whole number, got 1.5"),
    ({"mixup": "0.2"}, {}, "a.yaml: data.augment.mixup: must be a valid number, got '0.2' (text; write it without"),
    ({"nosie": 0.1}, {}, "a.yaml: data.augment.nosie: unknown key 'nosie'; choose from mixup, noise, scale, shift "
                         "(did you mean 'noise'?)"),
    (0.1, {}, "a.yaml: data.augment: must be null or a mapping {noise, shift, scale, mixup}, got 0.1"),
    ({"shift": 2}, {"preprocess": "pca_whiten"}, "a.yaml: data.augment.shift: shifts move ordered features"),
])
def test_bad_augment_values_are_one_line_each(augment, data, expected):
    lines = errors_of(augment, **data)
    assert len(lines) == 1 and lines[0].startswith(expected) and "\n" not in lines[0], lines


def test_cli_refuses_mixup_on_regression_and_a_shift_longer_than_the_inputs(tmp_path):
    r = CliRunner().invoke(main, ["train", "configs/tiny/csv_gelu_regression.yaml", "--set", "data.augment.mixup=0.2",
                                  "--runs-dir", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "data.augment.mixup: mixup mixes one-hot class targets, but csv has float targets (regression)" \
        in " ".join(r.output.split())
    r = CliRunner().invoke(main, ["train", "configs/tiny/moons_tanh_momentum_step.yaml", "--set",
                                  "data.augment.shift=2", "--runs-dir", str(tmp_path)])
    assert r.exit_code == 2 and "data.augment.shift: must be less than the number of features of moons (2), got 2" \
        in " ".join(r.output.split())
    assert not list(tmp_path.iterdir())  # nothing trained


def test_augmentation_does_not_make_another_dataset_to_load():
    from nnlab.sweep.task import data_key_of

    assert data_key_of(config()) == data_key_of(config("absent")) == data_key_of(config({"mixup": 1.0}))
    assert data_key_of(config()) != data_key_of(config(seed=1, data={**RAW["data"], "n_samples": 120}))


# -- a run ------------------------------------------------------------------------------------------------


def test_off_is_bit_identical_to_no_augmentation():
    cfg = config("absent")
    data = load_dataset(cfg.data)
    ref = train(cfg, data)
    for off in (None, {}, {"noise": 0, "shift": 0, "mixup": 0, "scale": None}):
        c = config(off)
        tr = Trainer(c, data)
        assert tr.augment is None and set(tr.rngs) == {"init", "shuffle", "noise"}
        res = train(c, data)
        assert strip(res.history) == strip(ref.history)
        np.testing.assert_array_equal(res.model.params, ref.model.params)


def test_augmentation_has_its_own_stream_and_is_reproducible():
    cfg = config()
    data = load_dataset(cfg.data)
    seen = {}
    for name, c in (("a", cfg), ("b", cfg), ("seed2", config(seed=2))):
        tr = Trainer(c, data)
        assert set(tr.rngs) == {"init", "shuffle", "noise", "augment"}
        if name == "a":  # the init, shuffle and dropout streams are those of the same run without augmentation
            off = Trainer(config("absent"), data)
            np.testing.assert_array_equal(tr.model.params, off.model.params)
            assert tr.rngs["shuffle"].bit_generator.state == off.rngs["shuffle"].bit_generator.state
            assert tr.rngs["noise"].bit_generator.state == off.rngs["noise"].bit_generator.state
        inner, batches = tr.augment, []

        def spy(x, y, inner=inner, batches=batches):
            xa, ya = inner(x, y)
            batches.append((xa.copy(), ya.copy()))
            return xa, ya

        tr.augment = spy
        seen[name] = (tr.run(), batches)
    (ra, ba), (rb, bb), (_, b2) = seen["a"], seen["b"], seen["seed2"]
    assert len(ba) == 4 * 6  # 180 training rows in batches of 32: 6 steps an epoch, every one augmented
    for (xa, ta), (xb, tb) in zip(ba, bb):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ta, tb)
        assert ta.shape == (len(xa), 3)  # mixup's soft targets
    assert strip(ra.history) == strip(rb.history)
    np.testing.assert_array_equal(ra.model.params, rb.model.params)
    assert not np.array_equal(ba[0][0], b2[0][0])


def test_validation_and_test_data_are_never_augmented():
    cfg = config({"noise": 0.5, "shift": 3, "scale": [0.5, 1.5], "mixup": 1.0})
    data = load_dataset(cfg.data)
    keep = {k: np.array(getattr(data, k)) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    tr = Trainer(cfg, data)
    inner, rows = tr.augment, []

    def spy(x, y):
        rows.append(len(x))
        return inner(x, y)

    tr.augment = spy
    res = tr.run()
    for k, v in keep.items():
        np.testing.assert_array_equal(getattr(data, k), v, err_msg=k)  # nothing modified in place
    assert sum(rows) == 4 * len(data.x_train)  # called on the training batches, and on nothing else
    # the recorded validation and test numbers are those of the clean sets
    loss_fn = SoftmaxCrossEntropy()
    assert (res.history[-1]["val_loss"], res.history[-1]["val_acc"]) == \
        evaluate(res.model, data.x_val, data.y_val, loss_fn)
    assert (res.test["loss"], res.test["acc"]) == evaluate(res.model, data.x_test, data.y_test, loss_fn)


@pytest.mark.slow
def test_resume_with_augmentation_is_exact(tmp_path):
    """From the middle of an epoch in process, and through a run folder's checkpoint.npz."""
    cfg = config()
    data = load_dataset(cfg.data)
    states = []
    full = train(cfg, data, on_checkpoint=lambda s: states.append({k: np.array(v) for k, v in s.items()}),
                 checkpoint_seconds=0.0)
    metas = [json.loads(str(s["meta"])) for s in states]
    assert all("augment" in m["rngs"] for m in metas)
    mid = [i for i, m in enumerate(metas) if m["epoch_position"] is not None and m["epochs_done"] == 1]
    again = train(cfg, data, resume=states[mid[2]])
    assert strip(again.history) == strip(full.history)
    np.testing.assert_array_equal(again.model.params, full.model.params)

    def stop_after_2(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    ref, _, _ = run_experiment(cfg, tmp_path / "ref", dataset=data)
    run, _, first = run_experiment(cfg, tmp_path / "runs", on_epoch=stop_after_2)
    assert first["status"] == "interrupted" and (run / CHECKPOINT).is_file()
    _, result, summary = resume_experiment(run)
    assert summary["status"] == "completed"
    def without_seconds(path):  # timings differ; every other cell must be equal
        rows = [line.split(",") for line in path.read_text().splitlines()]
        i = rows[0].index("seconds")
        return [r[:i] + r[i + 1:] for r in rows]

    assert without_seconds(run / "metrics.csv") == without_seconds(ref / "metrics.csv")
    with np.load(run / "model.npz") as a, np.load(ref / "model.npz") as b:
        for k in b.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_low_training_accuracy_under_augmentation_is_not_called_an_optimization_problem():
    from nnlab.runs.diagnosis import diagnose

    rows = [{"epoch": e + 1, "train_loss": 1.0 - 0.05 * e, "train_acc": 0.7, "val_loss": 1.0, "val_acc": 0.7}
            for e in range(10)]
    codes = lambda cfg: [f["code"] for f in diagnose(rows, config=cfg.as_dict())]  # noqa: E731
    assert codes(config("absent")) == ["poor_training"]
    assert codes(config({"noise": 0.0})) == ["poor_training"]  # off is off
    assert codes(config()) == []  # the 70% is that of augmented batches
