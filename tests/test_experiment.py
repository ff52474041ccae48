"""Checkpoints, --resume, and stopping by signal: a run stopped in any way goes on as if it never stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import RAW, assert_same_run, ctrl_c_after

from nnlab.cli import main
from nnlab.config import validate
from nnlab.experiment import CHECKPOINT, resume_experiment, run_experiment


def write_config(folder: Path, **train) -> Path:
    raw = json.loads(json.dumps(RAW))
    raw["train"].update(train)
    path = folder / "rs.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def nnlab(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "nnlab", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def only_run(folder: Path) -> Path:
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    return run


def wait_for_rows(run_parent: Path, rows: int, proc, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        files = list(run_parent.glob("*/metrics.csv"))
        if files and files[0].read_text().count("\n") - 1 >= rows:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {rows} epochs: {proc.stderr.read()}")
        time.sleep(0.002)
    pytest.fail("timed out waiting for epochs")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same config, trained without interruption."""
    folder = tmp_path_factory.mktemp("ref")
    cfg = write_config(folder)
    proc = nnlab("train", cfg, "--runs-dir", folder / "runs", "--quiet")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return only_run(folder / "runs")


@pytest.mark.slow
def test_sigkill_at_a_random_epoch_then_resume_gives_the_uninterrupted_run(tmp_path, reference):
    k = random.Random().randint(2, 120)  # any epoch must do; the value is in the failure message
    cfg = write_config(tmp_path)
    proc = nnlab("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    wait_for_rows(tmp_path / "runs", k, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    run = only_run(tmp_path / "runs")
    assert (run / CHECKPOINT).is_file(), f"killed after epoch {k}"
    listing = CliRunner().invoke(main, ["runs", str(tmp_path / "runs")], env={"COLUMNS": "200"})
    assert "resumable" in listing.output
    res = nnlab("train", "--resume", run)
    out, err = res.communicate(timeout=120)
    assert res.returncode == 0, f"killed after epoch {k}: {err}"
    assert_same_run(reference, run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert len(summary["resumed"]) == 1 and 1 <= summary["resumed"][0]["from_epoch"] <= 200
    # no temporary file left behind (the lock file of the resume stays: removing it could let two in)
    assert not [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signals_stop_like_ctrl_c_keep_everything_and_resume(tmp_path, reference, sig, code):
    cfg = write_config(tmp_path)
    proc = nnlab("train", cfg, "--runs-dir", tmp_path / "runs")
    wait_for_rows(tmp_path / "runs", 20, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["signal"] == signal.Signals(sig).name
    assert summary["epochs"] >= 20
    assert summary["test"]["acc"] is not None  # evaluated with what was trained
    for name in ("model.npz", "curves.png", "metrics.csv", CHECKPOINT):
        assert (run / name).is_file(), name
    assert f"nnlab train --resume {run}" in err
    assert CliRunner().invoke(main, ["train", "--resume", str(run), "--quiet"]).exit_code == 0
    assert_same_run(reference, run)


@pytest.mark.slow
def test_resume_refuses_what_it_cannot_continue(tmp_path):
    runner = CliRunner()
    cfg = validate({**RAW, "train": {**RAW["train"], "epochs": 3}})
    run, _, _ = run_experiment(cfg, tmp_path / "runs")
    r = runner.invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and "the run is completed; only interrupted, crashed or failed runs" in r.output
    r = runner.invoke(main, ["train", "--resume", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "no such run folder" in r.output
    r = runner.invoke(main, ["train", "configs/x.yaml", "--resume", str(run)])
    assert r.exit_code == 2 and "give no CONFIG" in r.output
    r = runner.invoke(main, ["train"])
    assert r.exit_code == 2 and "or --resume RUN_FOLDER" in r.output

    # an interrupted run without a checkpoint (stopped before its first epoch ended)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    r = runner.invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and "no checkpoint.npz" in r.output
    (run / CHECKPOINT).write_bytes(b"PK\x03\x04 not a zip")
    r = runner.invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and "damaged checkpoint" in r.output
    assert "Traceback" not in r.output


def test_resume_refuses_changed_data(tmp_path):
    rows = np.random.default_rng(0).normal(size=(60, 3))
    labels = (rows[:, 0] > 0).astype(int)
    data = tmp_path / "d.csv"
    data.write_text("\n".join(f"{a},{b},{c},{y}" for (a, b, c), y in zip(rows, labels)) + "\n")
    cfg = validate({"name": "csvrun", "data": {"name": "csv", "path": str(data)}, "model": {"hidden": [4]},
                    "train": {"epochs": 200, "batch_size": 8}})
    run, result, summary = run_experiment(cfg, tmp_path / "runs", on_epoch=ctrl_c_after(2))
    assert summary["status"] == "interrupted" and (run / CHECKPOINT).is_file()
    data.write_text(data.read_text().replace(",1\n", ",0\n", 1))
    r = CliRunner().invoke(main, ["train", "--resume", str(run)])
    assert r.exit_code == 1 and "differ from those the run was trained on" in r.output


@pytest.mark.slow
def test_library_resume_keeps_the_first_start_and_records_the_resume(tmp_path, reference):
    cfg = validate(RAW)
    run, _, first = run_experiment(cfg, tmp_path / "runs", on_epoch=ctrl_c_after(7))
    assert first["status"] == "interrupted" and first["epochs"] == 7
    _, result, summary = resume_experiment(run)
    assert summary["started"] == first["started"]
    # the interruption came in epoch 7's bookkeeping, before its checkpoint: it is trained again
    assert summary["resumed"][0]["from_epoch"] == 6
    assert result.status == "completed"
    assert_same_run(reference, run)


@pytest.mark.slow
def test_a_checkpoint_with_missing_or_wrong_fields_is_refused_before_anything_changes(tmp_path):
    cfg = validate({**RAW, "train": {**RAW["train"], "epochs": 30}})
    run, _, summary = run_experiment(cfg, tmp_path / "runs", on_epoch=ctrl_c_after(3))
    assert summary["status"] == "interrupted"
    good = dict(np.load(run / CHECKPOINT, allow_pickle=False))
    before = (run / "metrics.csv").read_text()
    meta = json.loads(str(good["meta"]))
    for damage in ({"meta": np.array(json.dumps({k: v for k, v in meta.items() if k != "step"}))},
                   {"model.params": good["model.params"][:-1]},
                   {"meta": np.array(json.dumps({**meta, "rngs": {"init": 3}}))}):
        np.savez(run / CHECKPOINT, **{**good, **damage})
        r = CliRunner().invoke(main, ["train", "--resume", str(run)])
        assert r.exit_code == 1 and "damaged checkpoint" in r.output and "Traceback" not in r.output
        assert (run / "metrics.csv").read_text() == before  # nothing was rewritten
