"""The command line: run folders end to end, error exits, list/gradcheck/schedule."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import helpers
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.runs import create_run_dir, read_metrics

ROOT = Path(__file__).resolve().parents[2]
TINY = """\
name: tiny
seed: 0
data: {name: spiral, n_samples: 120, val_fraction: 0.2}
model: {hidden: [12], activation: tanh, dropout: 0.1}
train: {epochs: 4, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
"""


def write(tmp_path, text=TINY, name="tiny.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def run(*args, cwd=None, env=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "nnlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=120)


def invoke(*args):
    return helpers.invoke(*args, catch_exceptions=False)


@pytest.mark.slow
def test_train_end_to_end_in_a_subprocess_and_replay(tmp_path):
    cfg = write(tmp_path)
    runs = tmp_path / "runs"
    r = run("train", cfg, "--runs-dir", runs, "--quiet")
    assert r.returncode == 0, r.stderr
    folders = sorted(runs.iterdir())
    assert len(folders) == 1 and r.stdout.strip() == str(folders[0])
    run_dir = folders[0]
    assert run_dir.name.endswith("_tiny")
    datetime.strptime(run_dir.name[:19], "%Y-%m-%d_%H-%M-%S")
    assert sorted(p.name for p in run_dir.iterdir()) == \
        ["config.yaml", "curves.png", "diagnostics.csv", "diagnostics.png", "metrics.csv", "model.npz",
         "summary.json"]

    # config.yaml: the resolved config, defaults filled in
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["train"]["optimizer"]["beta2"] == 0.999 and resolved["model"]["init"]["name"] == "he_normal"

    # metrics.csv: one row per epoch with the contract's columns
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
                             "raw_val_loss", "raw_val_acc"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["raw_val_loss"] == r["raw_val_acc"] == "" for r in rows)  # no train.averaging
    assert all(0 <= float(r["val_acc"]) <= 1 for r in rows)

    # summary.json: the contract's keys, consistent with metrics.csv
    s = json.loads((run_dir / "summary.json").read_text())
    for key in ("status", "epochs", "best", "final", "test", "train_seconds", "samples_per_second", "seed",
                "command", "versions", "git_commit"):
        assert key in s, key
    assert s["status"] == "completed" and s["epochs"] == 4 and s["seed"] == 0
    assert s["final"]["val_loss"] == float(rows[-1]["val_loss"])
    assert s["best"]["metric"] == "val_acc"
    assert s["best"]["val_acc"] == max(float(r["val_acc"]) for r in rows)
    assert 0 <= s["test"]["acc"] <= 1 and s["test"]["loss"] > 0
    assert set(s["versions"]) == {"python", "numpy", "nnlab"}
    assert "train" in s["command"]

    # model.npz: plain arrays, no pickle, shapes of the net
    with np.load(run_dir / "model.npz", allow_pickle=False) as z:
        assert z["dense1.W"].shape == (2, 12) and z["dense2.W"].shape == (12, 3)
        assert z["dense1.W"].dtype == np.float32

    # curves.png is a real PNG
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # replaying the resolved config gives the same metrics (timing aside)
    r2 = run("train", run_dir / "config.yaml", "--runs-dir", runs, "--quiet")
    assert r2.returncode == 0, r2.stderr
    replay = Path(r2.stdout.strip())
    assert replay != run_dir
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert strip(read_metrics(replay / "metrics.csv")) == strip(read_metrics(run_dir / "metrics.csv"))


@pytest.mark.parametrize("text, message", [
    (TINY.replace("epochs: 4", "epoch: 4"), "train.epoch: unknown key 'epoch'"),
    (TINY.replace("name: adam", "name: adamm"), "train.optimizer.name: unknown optimizer 'adamm'"),
    (TINY.replace("lr: 0.01", "lr: -3"), "train.optimizer.lr: must be greater than 0, got -3"),
    (TINY.replace("seed: 0", "seed: 0\nseed: 1"), "duplicate key 'seed'"),
    (TINY.replace("activation: tanh", "activation: tahn"), "did you mean 'tanh'"),
])
@pytest.mark.slow
def test_config_errors_exit_2_one_line_no_traceback_no_folder(tmp_path, text, message):
    cfg = write(tmp_path, text)
    runs = tmp_path / "runs"
    r = run("train", cfg, "--runs-dir", runs)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1
    assert str(cfg) in r.stderr
    assert not runs.exists()


def test_lr_1e_minus_3_is_fine(tmp_path):
    cfg = write(tmp_path, TINY.replace("lr: 0.01", "lr: 1e-3").replace("epochs: 4", "epochs: 1"))
    r = invoke("validate", cfg)
    assert r.exit_code == 0 and "ok" in r.output


@pytest.mark.slow
def test_missing_config_and_missing_data_file(tmp_path):
    runs = tmp_path / "runs"
    r = run("train", tmp_path / "absent.yaml", "--runs-dir", runs)
    assert r.returncode == 2 and "config file not found" in r.stderr and "Traceback" not in r.stderr
    cfg = write(tmp_path, TINY.replace("{name: spiral, n_samples: 120, val_fraction: 0.2}",
                                       "{name: npz, path: nothere.npz}"))
    r = run("train", cfg, "--runs-dir", runs)
    assert r.returncode == 2 and "nothere.npz" in r.stderr and "Traceback" not in r.stderr
    assert not runs.exists()


def test_all_configs_are_validated_before_any_training(tmp_path):
    good, bad = write(tmp_path), write(tmp_path, TINY.replace("tanh", "tanhh"), "bad.yaml")
    r = invoke("train", good, bad, "--runs-dir", tmp_path / "runs")
    assert r.exit_code == 2 and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_set_override_and_name(tmp_path):
    cfg = write(tmp_path)
    r = invoke("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet", "--set", "train.epochs=2",
               "--set", "model.hidden=[5,5]", "--name", "renamed")
    assert r.exit_code == 0, r.output
    run_dir = Path(r.output.strip())
    assert run_dir.name.endswith("_renamed")
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 2 and resolved["model"]["hidden"] == [5, 5]
    assert len(read_metrics(run_dir / "metrics.csv")) == 2


def test_bad_set_override(tmp_path):
    r = invoke("validate", write(tmp_path), "--set", "train.optimizer.lr=abc")
    assert r.exit_code == 2 and "train.optimizer.lr: must be a valid number" in r.output


@pytest.mark.slow
def test_plain_output_when_not_a_terminal(tmp_path):
    r = run("train", write(tmp_path), "--runs-dir", tmp_path / "runs")
    assert r.returncode == 0
    assert "epoch    4/4" in r.stderr  # a plain progress line, no bar
    assert "result: tiny" in r.stdout and "test" in r.stdout and "run folder" in r.stdout
    # the diagnosis is printed at the end, the same sentences as in summary.json
    run_dir = next((tmp_path / "runs").iterdir())
    findings = json.loads((run_dir / "summary.json").read_text())["diagnosis"]
    assert "diagnosis" in r.stdout
    for f in findings:
        assert f["message"][:40] in " ".join(r.stdout.split())


def test_diverged_run_exit_1_and_status(tmp_path):
    cfg = write(tmp_path, TINY.replace("{name: adam, lr: 0.01}", "{name: sgd, lr: 1.0e+6}").replace(
        "epochs: 4", "epochs: 20").replace("tanh", "relu"))
    r = run("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.returncode == 1
    assert "diverged" in r.stderr and "lower learning rate" in r.stderr and "Traceback" not in r.stderr
    s = json.loads((Path(r.stdout.strip()) / "summary.json").read_text())
    assert s["status"] == "diverged" and s["test"]["acc"] is None


def test_run_dirs_never_collide(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5)
    a = create_run_dir(tmp_path, "x", now)
    b = create_run_dir(tmp_path, "x", now)
    assert a != b and a.name == "2026-01-02_03-04-05_x" and b.name == "2026-01-02_03-04-05_x-2"


def test_version_help_and_python_m():
    r = run("--help")
    assert r.returncode == 0 and "Usage: python -m nnlab" in r.stdout
    for cmd in ("train", "validate", "list", "gradcheck", "schedule"):
        assert f"  {cmd} " in r.stdout.split("Commands:")[1]
    for cmd in ("train", "validate", "list", "gradcheck", "schedule"):
        h = invoke(cmd, "--help")
        assert h.exit_code == 0 and "Example" in h.output


def test_list_shows_every_component():
    from nnlab.cli import registries

    out = CliRunner().invoke(main, ["list"], env={"COLUMNS": "250"}).output
    for _, reg, _ in registries():
        for comp in reg:
            assert comp.name in out
    one = CliRunner().invoke(main, ["list", "optimizers"], env={"COLUMNS": "250"}).output
    assert "adamw" in one and "he_normal" not in one and "weight_decay" in one


def test_gradcheck_passes_and_fails(tmp_path, monkeypatch):
    cfg = write(tmp_path, TINY.replace("dropout: 0.1", "dropout: 0.1, batch_norm: true"))
    r = invoke("gradcheck", cfg)
    assert r.exit_code == 0 and "pass" in r.output and "dense1.W" in r.output and "bn1.gamma" in r.output
    from nnlab.components import activations

    monkeypatch.setattr(activations.Tanh, "df", lambda self: 1.5 * (1 - self.a * self.a))
    r = invoke("gradcheck", cfg)
    assert r.exit_code == 1 and "FAIL" in r.output


def test_schedule_command_prints_and_plots(tmp_path):
    cfg = write(tmp_path, TINY.replace("lr: 0.01}", "lr: 0.1}, schedule: {name: step, step_size: 2, gamma: 0.5}"))
    png = tmp_path / "lr.png"
    r = CliRunner().invoke(main, ["schedule", str(cfg), "--plot", str(png)], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    # piped: a title, then 'epoch<TAB>learning rate' with a header row
    lines = r.output.splitlines()
    assert lines[1] == "epoch\tlearning rate"
    values = [float(l.split("\t")[1]) for l in lines[2:] if "\t" in l]
    assert values == [0.1, 0.1, 0.05, 0.05]
    # in a terminal: aligned columns
    r = CliRunner().invoke(main, ["schedule", str(cfg)], env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert [l.split() for l in r.output.splitlines()[1:4]] == [["epoch", "learning", "rate"], ["1", "0.1"],
                                                               ["2", "0.1"]]
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_the_record(tmp_path):
    import signal
    import time

    cfg = write(tmp_path, TINY.replace("epochs: 4", "epochs: 100000").replace("n_samples: 120", "n_samples: 2000"))
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "nnlab", "train", str(cfg), "--runs-dir", str(runs), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    metrics = None
    while time.time() < deadline:
        found = list(runs.glob("*/metrics.csv")) if runs.exists() else []
        if found and len(found[0].read_text().splitlines()) >= 4:
            metrics = found[0]
            break
        time.sleep(0.05)
    assert metrics is not None, "training did not start"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    s = json.loads((metrics.parent / "summary.json").read_text())
    rows = read_metrics(metrics)
    assert s["status"] == "interrupted" and s["epochs"] == len(rows) >= 3
    assert (metrics.parent / "model.npz").exists() and (metrics.parent / "curves.png").exists()
