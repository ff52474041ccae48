"""nnlab sweep end to end: real worker processes, real runs, the files, pruning, resume after signals."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import only_folder as the_sweep
from helpers import write_sweep

from nnlab.cli import main
from nnlab.config import load_config
from nnlab.experiment import run_experiment
from nnlab.runs import load_run, read_metrics

BASE = {"name": "b", "data": {"name": "blobs", "n_samples": 200},
        "model": {"hidden": [16], "activation": "relu"},
        "train": {"epochs": 10, "batch_size": 50, "optimizer": {"name": "sgd", "lr": 0.1}}}
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def sweep_file(tmp_path, sweep: dict, base: dict = BASE) -> Path:
    return write_sweep(tmp_path, sweep, base)


def trials(folder: Path) -> list[dict]:
    with open(folder / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_grid_sweep_with_two_workers_writes_everything_and_best_yaml_replays(tmp_path):
    p = sweep_file(tmp_path, {"name": "grid2", "method": "grid", "metric": "val_acc", "seeds": [0, 1],
                              "params": {"train.optimizer.lr": [0.3, 0.03, 0.003],
                                         "model.activation": ["relu", "tanh"]}})
    res = CliRunner().invoke(main, ["sweep", str(p), "--jobs", "2", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = the_sweep(tmp_path / "out")
    assert folder.name.endswith("_grid2")
    for f in ("sweep.yaml", "trials.csv", "summary.json", "best.yaml"):
        assert (folder / f).is_file(), f
    rows = trials(folder)
    assert list(rows[0]) == ["trial", "train.optimizer.lr", "model.activation", "seed", "status", "val_acc", "epochs",
                             "seconds", "run", "message"]
    assert [(r["trial"], r["train.optimizer.lr"], r["model.activation"], r["seed"]) for r in rows] == [
        (str(t), lr, act, str(s)) for t, (lr, act) in enumerate(
            [(a, b) for a in ("0.3", "0.03", "0.003") for b in ("relu", "tanh")]) for s in (0, 1)]
    assert sorted(d.name for d in (folder / "runs").iterdir()) == sorted(r["run"] for r in rows)
    means = {}
    for r in rows:
        assert r["status"] == "completed"
        run = load_run(folder / "runs" / r["run"])
        metrics = read_metrics(folder / "runs" / r["run"] / "metrics.csv")
        assert float(r["val_acc"]) == pytest.approx(metrics[-1]["val_acc"], abs=1e-6)  # the kept (last) epoch
        assert int(r["epochs"]) == len(metrics) == 10
        cfg = run.config
        assert cfg["seed"] == int(r["seed"]) and cfg["train"]["optimizer"]["lr"] == float(r["train.optimizer.lr"])
        assert cfg["name"] == f"grid2-t{int(r['trial']):03d}"
        means.setdefault(int(r["trial"]), []).append(metrics[-1]["val_acc"])
    best_trial = max(means, key=lambda t: (np.mean(means[t]), -t))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["counts"]["completed"] == 6
    b = summary["best"]
    assert b["trial"] == best_trial and b["value"] == pytest.approx(np.mean(means[best_trial]))
    assert b["std"] == pytest.approx(np.std(means[best_trial], ddof=1))
    # the test set: looked at for the chosen configuration only
    for r in rows:
        s = json.loads((folder / "runs" / r["run"] / "summary.json").read_text())
        if int(r["trial"]) == best_trial:
            assert s["test"]["acc"] is not None
        else:
            assert s["test"] == {"loss": None, "acc": None} and s["test_held_back"].startswith("the sweep looks")
    per_seed = [json.loads((folder / "runs" / n / "summary.json").read_text())["test"]["acc"] for n in b["runs"]]
    assert b["test"]["acc"] == pytest.approx(np.mean(per_seed))
    # best.yaml trains to the same validation accuracy as the best trial's seed-0 run, and sees the test set once
    cfg = load_config(folder / "best.yaml")
    assert cfg.seed == 0 and cfg.name == "grid2-best"
    _, result, s = run_experiment(cfg, runs_dir=tmp_path / "replay")
    assert result.history[-1]["val_acc"] == b["values"][0]
    assert s["test"]["acc"] == per_seed[0]
    # the run folders are ordinary: compare groups the two seeds of each trial
    res = CliRunner().invoke(main, ["compare", str(folder / "runs"), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert len([ln for ln in res.output.splitlines()[1:] if ln]) == 6
    assert "train the best: nnlab train" in CliRunner().invoke(
        main, ["sweep", str(p), "-j", "1", "--runs-dir", str(tmp_path / "out2")]).output


@pytest.mark.slow
def test_median_pruning_stops_a_clearly_worse_trial_and_a_diverged_one_scores_the_worst(tmp_path):
    p = sweep_file(tmp_path, {"method": "grid", "seeds": [0, 1, 2], "prune": {"rule": "median", "startup": 3,
                                                                              "warmup": 1},
                              "params": {"train.optimizer.lr": [0.1, 1.0e4, 1.0e-7]}})
    res = CliRunner().invoke(main, ["sweep", str(p), "-j", "1", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = the_sweep(tmp_path / "out")
    rows = {(int(r["trial"]), int(r["seed"])): r for r in trials(folder)}
    assert all(rows[(0, s)]["status"] == "completed" for s in range(3))
    assert all(rows[(1, s)]["status"] == "diverged" and float(rows[(1, s)]["val_acc"]) == 0.0 for s in range(3))
    first = rows[(2, 0)]
    assert first["status"] == "pruned" and int(first["epochs"]) < 10
    run = load_run(folder / "runs" / first["run"])
    assert run.status == "pruned" and "worse than the median" in run.summary["message"]
    assert not (folder / "runs" / first["run"] / "checkpoint.npz").exists()
    for s in (1, 2):  # the trial is out: its other seeds are not trained
        assert rows[(2, s)]["status"] == "pruned" and not (folder / "runs" / rows[(2, s)]["run"]).exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["best"]["trial"] == 0
    assert summary["counts"] == {"completed": 1, "diverged": 1, "pruned": 1, "failed": 0, "running": 0,
                                 "interrupted": 0, "queued": 0}


SLOW = {"name": "slow", "data": {"name": "blobs", "n_samples": 2000},
        "model": {"hidden": [16], "activation": "relu"},
        "train": {"epochs": 60, "batch_size": 20, "optimizer": {"name": "sgd", "lr": 0.1}}}
SLOW_SWEEP = {"name": "slow", "method": "random", "trials": 8, "seed": 3, "seeds": [0],
              "params": {"train.optimizer.lr": {"low": 0.001, "high": 0.1, "log": True}}}


def _outcomes(folder: Path) -> list[tuple]:
    return [(r["trial"], r["train.optimizer.lr"], r["seed"], r["status"], r["val_acc"], r["epochs"])
            for r in trials(folder)]


def _wait_for(cond, timeout=30.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same sweep, never stopped."""
    tmp = tmp_path_factory.mktemp("ref")
    p = sweep_file(tmp, SLOW_SWEEP, SLOW)
    res = CliRunner().invoke(main, ["sweep", str(p), "-j", "2", "--runs-dir", str(tmp / "out")])
    assert res.exit_code == 0, res.output
    return _outcomes(the_sweep(tmp / "out"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_a_stopped_sweep_resumes_to_the_same_trials_and_reruns_none_that_finished(tmp_path, reference, how):
    p = sweep_file(tmp_path, SLOW_SWEEP, SLOW)
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "sweep", str(p), "-j", "2", "--runs-dir", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)

    def two_done():
        try:
            return sum(r["status"] == "completed" for r in trials(the_sweep(out))) >= 2
        except (OSError, ValueError, KeyError):
            return False

    assert _wait_for(two_done), proc.communicate(timeout=30)
    folder = the_sweep(out)
    workers = {json.loads((d / "summary.json").read_text()).get("pid") for d in (folder / "runs").iterdir()
               if (d / "summary.json").is_file()}
    if how == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "resume: nnlab sweep --resume" in stdout and "Traceback" not in stderr
        assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"
    else:
        proc.send_signal(signal.SIGKILL)  # the parent only: its workers must notice and stop by themselves
        proc.communicate(timeout=30)
        assert _wait_for(lambda: not any(_alive(pid) for pid in workers if pid), timeout=10), "orphaned workers"
    finished = {}
    for d in (folder / "runs").iterdir():
        run = load_run(d)
        if run is not None and run.status == "completed":
            finished[d.name] = (run.summary["started"], (d / "summary.json").stat().st_mtime_ns)
    assert 2 <= len(finished) < 8
    res = subprocess.run([*CLI, "sweep", "--resume", str(folder), "-j", "2"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    kept = re.search(r"(\d+) runs? kept(?:, (\d+) to continue from their checkpoints)?, (\d+) to run again, "
                     r"(\d+) not started yet", res.stdout)
    assert kept and int(kept[1]) == len(finished) and sum(int(g or 0) for g in kept.groups()) == 8, res.stdout
    assert _outcomes(folder) == reference
    for name, (started, mtime) in finished.items():  # none run twice
        s = json.loads((folder / "runs" / name / "summary.json").read_text())
        assert s["started"] == started
        if name not in json.loads((folder / "summary.json").read_text())["best"]["runs"]:
            assert (folder / "runs" / name / "summary.json").stat().st_mtime_ns == mtime
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_run_only_and_the_sweep_goes_on(tmp_path):
    p = sweep_file(tmp_path, {**SLOW_SWEEP, "trials": 4}, SLOW)
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "sweep", str(p), "-j", "2", "--runs-dir", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def running_pid():
        try:
            for d in (the_sweep(out) / "runs").iterdir():
                s = json.loads((d / "summary.json").read_text())
                if s["status"] == "running":
                    return d.name, s["pid"]
        except (OSError, ValueError, KeyError):
            return None
        return None

    assert _wait_for(lambda: running_pid() is not None)
    name, pid = running_pid()
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    rows = {r["run"]: r for r in trials(the_sweep(out))}
    assert rows[name]["status"] == "failed"
    assert sum(r["status"] == "completed" for r in rows.values()) == 3
    assert "the worker process died (killed by SIGKILL)" in stdout


@pytest.mark.slow
def test_tpe_keeps_its_history_in_a_journal_and_resume_can_extend_it(tmp_path):
    p = sweep_file(tmp_path, {"name": "tpe", "method": "tpe", "trials": 4, "seed": 1, "seeds": [0],
                              "params": {"train.optimizer.lr": {"low": 0.001, "high": 1.0, "log": True},
                                         "model.activation": ["relu", "tanh"]}})
    res = CliRunner().invoke(main, ["sweep", str(p), "-j", "2", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = the_sweep(tmp_path / "out")
    assert (folder / "optuna.journal").is_file()
    assert len(trials(folder)) == 4
    res = CliRunner().invoke(main, ["sweep", "--resume", str(folder), "--trials", "6", "-j", "2"])
    assert res.exit_code == 0, res.output
    rows = trials(folder)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert all(r["status"] == "completed" for r in rows)
    import optuna

    study = optuna.load_study(study_name="tpe", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "optuna.journal"))))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    assert [t.value for t in study.trials] == pytest.approx([float(r["val_acc"]) for r in rows])


@pytest.mark.slow
def test_tpe_gives_the_same_trials_whatever_the_workers_and_whatever_finishes_first(tmp_path):
    """TPE draws each point from the results told before it: it asks only once every earlier trial is told."""
    p = sweep_file(tmp_path, {"name": "tpe", "method": "tpe", "trials": 7, "seed": 3, "seeds": [0],
                              "params": {"train.optimizer.lr": {"low": 0.001, "high": 1.0, "log": True},
                                         "model.hidden": [[4], [32]]}})
    seen = []
    for jobs in ("1", "2", "2"):
        out = tmp_path / f"out{len(seen)}"
        res = CliRunner().invoke(main, ["sweep", str(p), "-j", jobs, "--runs-dir", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        seen.append([(r["trial"], r["train.optimizer.lr"], r["model.hidden"], r["val_acc"])
                     for r in trials(the_sweep(out))])
    assert len(seen[0]) == 7 and seen[0] == seen[1] == seen[2]


def test_a_sweep_folder_in_use_cannot_be_resumed_twice(tmp_path):
    from nnlab.errors import RunError
    from nnlab.sweep import lifecycle as runner

    p = sweep_file(tmp_path, {"params": {"model.activation": ["relu"]}})
    from nnlab.sweep.spec import load_sweep

    spec = load_sweep(p)
    folder = runner.create(spec, tmp_path / "out")
    a = runner.Sweep(spec, folder, None, None, "")
    a.lock()
    b = runner.Sweep(spec, folder, None, None, "")
    with pytest.raises(RunError, match="another nnlab sweep is running in this folder"):
        b.lock()
    a.unlock()
    b.lock()
    b.unlock()


@pytest.mark.slow
def test_a_closed_stdout_does_not_stop_the_sweep(tmp_path):
    """`nnlab sweep ... | head -1`: the sweep goes on silently and finishes its files."""
    p = sweep_file(tmp_path, {"method": "grid", "seeds": [0, 1], "params": {"train.optimizer.lr": [0.1, 0.01, 0.001]}})
    proc = subprocess.Popen([*CLI, "sweep", str(p), "-j", "2", "--runs-dir", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""
    folder = the_sweep(tmp_path / "out")
    assert [r["status"] for r in trials(folder)] == ["completed"] * 6
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
    assert (folder / "best.yaml").is_file()


@pytest.mark.slow
def test_a_data_key_can_be_searched_and_the_winner_is_tested_on_its_own_data(tmp_path):
    base = {**BASE, "data": {"name": "blobs", "n_samples": 200, "preprocess": "standardize"}}
    p = sweep_file(tmp_path, {"method": "grid", "params": {"data.preprocess": ["none", "center"],
                                                            "data.n_samples": [200, 300]}}, base)
    res = CliRunner().invoke(main, ["sweep", str(p), "-j", "2", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = the_sweep(tmp_path / "out")
    for r in trials(folder):
        run = load_run(folder / "runs" / r["run"])
        assert run.config["data"]["preprocess"]["name"] == r["data.preprocess"]
        assert run.summary["data"]["n_train"] + run.summary["data"]["n_val"] == int(r["data.n_samples"])
    best = json.loads((folder / "summary.json").read_text())["best"]
    _, _, s = run_experiment(load_config(folder / "best.yaml"), runs_dir=tmp_path / "replay")
    assert s["test"]["acc"] == best["test"]["per_seed"][0]["acc"]
    assert s["data"]["n_train"] + s["data"]["n_val"] == best["params"]["data.n_samples"]


def test_tpe_cannot_search_a_range_of_a_data_key(tmp_path):
    p = sweep_file(tmp_path, {"method": "tpe", "params": {"data.noise": {"low": 0.0, "high": 0.5}}},
                   {**BASE, "data": {"name": "moons", "n_samples": 200}})
    res = CliRunner().invoke(main, ["sweep", str(p), "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "params: data.noise: a data key can be searched over a list of values, not a range" in res.output


@pytest.mark.slow
def test_a_list_sweep_runs_its_points_tests_none_and_a_resume_keeps_every_run(tmp_path):
    points = [{"model.activation": "tanh", "train.optimizer.lr": 0.05},
              {"train.optimizer.lr": 0.2}]  # a key a point leaves out keeps the base config's value (relu)
    p = sweep_file(tmp_path, {"name": "pick", "points": points, "seeds": [0, 1], "test": "none"})
    res = CliRunner().invoke(main, ["sweep", str(p), "--jobs", "2", "--runs-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = the_sweep(tmp_path / "out")
    rows = trials(folder)
    assert [(r["trial"], r["model.activation"], r["train.optimizer.lr"], r["seed"]) for r in rows] == [
        ("0", "tanh", "0.05", "0"), ("0", "tanh", "0.05", "1"), ("1", "", "0.2", "0"), ("1", "", "0.2", "1")]
    assert yaml.safe_load((folder / "runs" / "t001-seed0" / "config.yaml").read_text())["model"]["activation"] == \
        {"name": "relu"}
    for r in rows:  # test: none: the test set stays unseen, even for the best point
        s = json.loads((folder / "runs" / r["run"] / "summary.json").read_text())
        assert s["test"] == {"loss": None, "acc": None} and "test_held_back" in s
    assert json.loads((folder / "summary.json").read_text()).get("test") is None
    stamps = {r["run"]: (folder / "runs" / r["run"] / "summary.json").stat().st_mtime_ns for r in rows}
    res = CliRunner().invoke(main, ["sweep", "--resume", str(folder), "--jobs", "2"])
    assert res.exit_code == 0, res.output
    assert "4 runs kept" in res.output
    assert stamps == {r["run"]: (folder / "runs" / r["run"] / "summary.json").stat().st_mtime_ns for r in rows}
