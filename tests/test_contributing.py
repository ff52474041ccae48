"""docs/contributing.md, done: a throwaway component of each kind added exactly as the page says (one
class or function, one registry line, its own test), then used end to end through the command line.

Each test registers its component, runs nnlab with it (the CLI in this process, so the registry is the
one the test changed), checks a number that would differ if the component were not the one used, and
takes the component out again.  If adding a component ever needs more than the page says (an edit to
another module, to a table in a test), these tests fail first.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math

import numpy as np
import pytest
import yaml
from helpers import invoke

from nnlab.components.activations import Activation, activations
from nnlab.components.optimizers import Optimizer, optimizers
from nnlab.components.schedules import Schedule, schedules
from nnlab.data import datasets
from nnlab.data.splits import RawData
from nnlab.options import NonNegativeInt, Positive


@contextlib.contextmanager
def registered(registry, name, obj):
    """The documented registry line (``registry.add``), undone when the block ends."""
    registry.add(name, obj)
    try:
        yield
    finally:
        registry.remove(name)


def write_config(tmp_path, **sections) -> str:
    raw = {"name": "c", "seed": 0, "data": {"name": "spiral", "n_samples": 200, "preprocess": "standardize"},
           "model": {"hidden": [16], "activation": "tanh", "init": "xavier_normal"},
           "train": {"epochs": 5, "batch_size": 50, "optimizer": {"name": "sgd", "lr": 0.1}}}
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def the_run(tmp_path):
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return run, summary, rows


# ------------------------------------------------------------------ an activation


class BentIdentity(Activation):
    """a = (sqrt(z^2 + 1) - 1) / 2 + z; da/dz = z / (2 sqrt(z^2 + 1)) + 1."""

    def f(self, z):
        return (np.sqrt(z * z + 1) - 1) / 2 + z

    def df(self):
        return self.z / (2 * np.sqrt(self.z * self.z + 1)) + 1


@pytest.mark.slow
def test_an_activation_trains_lists_and_passes_the_gradient_check(tmp_path):
    with registered(activations, "bent_identity", BentIdentity):
        cfg = write_config(tmp_path, model={"activation": "bent_identity"})
        res = invoke("gradcheck", cfg)  # backprop against centred differences, float64
        assert res.exit_code == 0, res.output
        assert "all 4 tensors pass" in res.output
        res = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "-q")
        assert res.exit_code == 0, res.output
        run, summary, rows = the_run(tmp_path)
        assert summary["status"] == "completed" and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
        assert yaml.safe_load((run / "config.yaml").read_text())["model"]["activation"] == {"name": "bent_identity"}
        assert "bent_identity" in invoke("list", "activations").output
    assert "bent_identity" not in activations


# ------------------------------------------------------------------ an optimizer torch lacks


class SignSGD(Optimizer):
    """signSGD (Bernstein et al. 2018): p <- p - lr sign(g); torch.optim has no such rule."""

    torch = None  # its own test pins the rule (below), not a torch trajectory

    def __init__(self, *, lr: Positive = 0.01):
        super().__init__(lr)

    def _update(self, p, g, lr, n_decay):
        p -= lr * np.sign(g)


def test_an_optimizer_torch_lacks_steps_by_its_rule_and_trains(tmp_path):
    with registered(optimizers, "signsgd", SignSGD):
        opt = optimizers.build({"name": "signsgd", "lr": 0.5})
        p = np.array([1.0, -2.0, 0.0, 3.0])
        opt.step(p, np.array([0.3, -0.1, 0.0, -7.0]), 0.5)
        np.testing.assert_array_equal(p, [0.5, -1.5, 0.0, 3.5])
        cfg = write_config(tmp_path, train={"optimizer": {"name": "signsgd", "lr": 0.01}})
        res = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "-q")
        assert res.exit_code == 0, res.output
        _, summary, rows = the_run(tmp_path)
        assert summary["status"] == "completed" and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
        assert "signsgd" in invoke("list", "optimizers").output
    assert "signsgd" not in optimizers


# ------------------------------------------------------------------ a schedule


class Linear(Schedule):
    """lr(t) = lr (1 - t / total): a straight line down to 0 at the end of the run."""

    def __init__(self, base_lr, total, *, unit: str = "epoch", warmup: NonNegativeInt = 0):
        super().__init__(base_lr, total, unit, warmup)

    def f(self, t):
        return self.base_lr * (1 - t / self.total)


@pytest.mark.slow
def test_a_schedule_sets_each_epochs_rate(tmp_path):
    with registered(schedules, "linear", Linear):
        cfg = write_config(tmp_path, train={"epochs": 4, "schedule": "linear"})
        res = invoke("schedule", cfg)
        assert res.exit_code == 0, res.output
        res = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "-q")
        assert res.exit_code == 0, res.output
        _, _, rows = the_run(tmp_path)
        assert [float(r["lr"]) for r in rows] == pytest.approx([0.1, 0.075, 0.05, 0.025], rel=1e-12)
    assert "linear" not in schedules


# ------------------------------------------------------------------ a dataset


def line(*, n_samples: Positive = 100, seed: NonNegativeInt = 0) -> RawData:
    """Points on a line, labelled by their sign: x ~ U(-1, 1) in one feature, y = [x > 0]."""
    rng = np.random.default_rng(seed)
    n = int(n_samples)
    x = rng.uniform(-1, 1, size=(n + n // 4, 1))
    y = (x[:, 0] > 0).astype(np.int64)
    return RawData(x[:n], y[:n], x[n:], y[n:])


@pytest.mark.slow
def test_a_dataset_is_a_data_name_with_options(tmp_path):
    with registered(datasets, "line", line):
        cfg = write_config(tmp_path, data={"name": "line", "n_samples": 160}, train={"epochs": 30})
        res = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "-q")
        assert res.exit_code == 0, res.output
        _, summary, _ = the_run(tmp_path)
        data = summary["data"]
        assert (data["name"], data["n_features"], data["n_classes"], data["n_train"] + data["n_val"]) == \
            ("line", 1, 2, 160)
        assert summary["test"]["acc"] > 0.9  # a sign is easy to learn
    assert "line" not in datasets


# ------------------------------------------------------------------ a claim metric


@pytest.mark.slow
def test_a_claim_metric_judges_a_claim(tmp_path):
    from nnlab.claims.claim_metrics import RunData, metric, metrics
    from nnlab.claims.run import read_values

    @metric(higher=True, percent=True)
    def final_train_acc(run: RunData):
        """The training accuracy of the run's last epoch."""
        return run.history[-1]["train_acc"] if run.scored and run.history else None

    base = yaml.safe_load(open(write_config(tmp_path)).read())
    claims = tmp_path / "claims"
    (claims / "notes").mkdir(parents=True)
    (claims / "notes" / "n.txt").write_text("A note.\nReLU fits the training set\nbetter than the sigmoid.\n")
    (claims / "relu_fits.yaml").write_text(yaml.safe_dump({
        "claim": {"title": "ReLU fits the training set better",
                  "source": {"note": "n.txt", "section": "s",
                             "original": "ReLU fits the training set better than the sigmoid."},
                  "quote": "ReLU fits the training set better than the sigmoid.", "design": "Two activations.",
                  "expect": [{"metric": "final_train_acc", "better": "relu", "than": "sigmoid"}]},
        "config": base,
        "variants": {"relu": {"model.activation": "relu"}, "sigmoid": {"model.activation": "sigmoid"}},
        "regimes": {"spiral": {}, "moons": {"data.name": "moons"}},
        "seeds": 10}, sort_keys=False))
    with registered(metrics, "final_train_acc", final_train_acc):
        out = tmp_path / "out"
        res = invoke("claims", "run", "relu_fits", "--quick", "--claims-dir", claims, "--out", out, "-j", "1")
        assert res.exit_code == 0, res.output
        res = invoke("claims", "report", "--out", out, "-o", tmp_path / "g.md")
        assert res.exit_code == 0, res.output
        page = (tmp_path / "g.md").read_text()
        folder = out / "relu_fits-quick"
        rows = read_values(folder)
        assert len(rows) == 8  # 2 regimes x 2 variants x 2 judging seeds (--quick)
        accs: dict = {}
        for row in rows:  # the metric's value, measured once into values.csv: each run's last train_acc
            with open(folder / row["run"] / "metrics.csv", newline="") as f:
                last = float(list(csv.DictReader(f))[-1]["train_acc"])
            assert row["final_train_acc"] == last
            accs.setdefault((row["regime"], row["variant"]), []).append(last)
        mean = sum(accs["spiral", "relu"]) / 2
        assert f"| relu | {100 * mean:.1f}% ± " in page  # the metric's values, in percent, per variant
        assert "| variant | final_train_acc | test_acc | n |" in page
        assert "- final_train_acc: relu better than sigmoid (higher is better)" in page  # the check judged on it
        assert math.isfinite(mean)
    assert "final_train_acc" not in metrics
