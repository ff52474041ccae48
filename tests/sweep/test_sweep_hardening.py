"""A sweep folder as a hostile user leaves it: links, stray runs, damaged files, full disks, signals.

Each test reproduces one finding of the hardening tracker (its number in the test's name) and pins the
fix: one line and a non-zero exit where the input is wrong, nothing written through a link, nothing
deleted that nnlab did not make, no finished run retrained or lost.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import invoke, only_folder, small_disk, write_sweep

BASE = {"name": "b", "data": {"name": "blobs", "n_samples": 120},
        "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 3, "batch_size": 40, "optimizer": {"name": "sgd", "lr": 0.1}}}
GRID = {"name": "g", "method": "grid", "params": {"train.optimizer.lr": [0.1, 0.03]}}
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def rows(folder: Path) -> list[dict]:
    with open(folder / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def a_sweep(tmp_path, sweep=GRID, base=BASE, *extra) -> Path:
    res = invoke("sweep", write_sweep(tmp_path, sweep, base), "--runs-dir", tmp_path / "out", "-j", "1", *extra)
    assert res.exit_code == 0, res.output
    return only_folder(tmp_path / "out")


def one_line(res, code: int, needle: str) -> None:
    assert res.exit_code == code, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], res.output
    assert "Traceback" not in res.output


# 1 and 24: the lock is never written through a link, and must be a regular file


@pytest.mark.slow
def test_01_a_link_as_the_lock_is_refused_and_its_target_untouched(tmp_path):
    folder = a_sweep(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / ".lock").unlink()
    (folder / ".lock").symlink_to(victim)
    one_line(invoke("sweep", "--resume", folder), 1, ".lock: is a symbolic link")
    assert victim.read_text() == "keep me"
    (folder / ".lock").unlink()
    (folder / ".lock").symlink_to(tmp_path / "nowhere")  # a dangling link creates nothing
    one_line(invoke("sweep", "--resume", folder), 1, ".lock: is a symbolic link")
    assert not (tmp_path / "nowhere").exists()
    (folder / ".lock").unlink()
    (folder / ".lock").mkdir()
    one_line(invoke("sweep", "--resume", folder), 1, ".lock: is a folder, not nnlab's lock file")  # 24


# 4: a sweep extended on resume keeps its extension, and never shrinks


@pytest.mark.slow
def test_04_an_extension_is_saved_and_a_sweep_never_shrinks(tmp_path):
    sweep = {"name": "r", "method": "random", "trials": 2, "seed": 1,
             "params": {"train.optimizer.lr": {"low": 0.01, "high": 0.3, "log": True}}}
    folder = a_sweep(tmp_path, sweep)
    res = invoke("sweep", "--resume", folder, "--trials", "4", "-j", "1")
    assert res.exit_code == 0, res.output
    assert yaml.safe_load((folder / "sweep.yaml").read_text())["trials"] == 4
    res = invoke("sweep", "--resume", folder, "-j", "1")  # the printed command, without --trials
    assert res.exit_code == 0, res.output
    assert [r["trial"] for r in rows(folder)] == ["0", "1", "2", "3"]
    assert json.loads((folder / "summary.json").read_text())["trials"] == 4
    one_line(invoke("sweep", "--resume", folder, "--trials", "3"), 2, "has run 4 trials already; a sweep is never cut")
    assert len(rows(folder)) == 4


# 5: a run that is not its trial's point is never kept


@pytest.mark.slow
def test_05_a_run_copied_under_another_trial_or_an_edited_sweep_yaml_is_refused(tmp_path):
    folder = a_sweep(tmp_path)
    runs = folder / "runs"
    shutil.rmtree(runs / "t001-seed0")
    shutil.copytree(runs / "t000-seed0", runs / "t001-seed0")
    one_line(invoke("sweep", "--resume", folder), 1, "t001-seed0: its config.yaml is not trial 1's point with seed 0 "
                                                      "(name g-t000 -> g-t001)")
    (tmp_path / "again").mkdir()
    folder = a_sweep(tmp_path / "again")
    spec = yaml.safe_load((folder / "sweep.yaml").read_text())
    spec["params"]["train.optimizer.lr"]["choices"] = [0.1, 0.05]
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    one_line(invoke("sweep", "--resume", folder), 1, "train.optimizer.lr 0.03 -> 0.05")


# 6: a finished run whose files are gone is trained again, and said so


@pytest.mark.slow
def test_06_a_finished_run_that_lost_its_metrics_is_trained_again(tmp_path):
    folder = a_sweep(tmp_path)
    before = json.loads((folder / "runs" / "t000-seed0" / "summary.json").read_text())["started"]
    (folder / "runs" / "t001-seed0" / "metrics.csv").unlink()
    res = invoke("sweep", "--resume", folder, "-j", "1")
    assert res.exit_code == 0, res.output
    assert "1 run kept, 1 to run again (1 of them finished but damaged)" in res.output
    assert [r["status"] for r in rows(folder)] == ["completed", "completed"]
    assert all(r["val_acc"] for r in rows(folder))
    assert json.loads((folder / "runs" / "t000-seed0" / "summary.json").read_text())["started"] == before


# 7, 8, 19: params that are no params, points that collapse or leave their range, a grid of a billion


def test_07_seed_and_name_are_no_params(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    one_line(invoke("sweep", cfg, "-p", "seed=1,2"), 2, "seed is not a param: a sweep trains every point once per seed: "
                                                        "list them under seeds:")
    one_line(invoke("sweep", cfg, "-p", "name=a,b"), 2, "name is not a param")
    p = write_sweep(tmp_path, {"params": {"seed": [1, 2]}}, BASE)
    one_line(invoke("sweep", p), 2, "params: seed: seed is not a param")


def test_08_grid_points_stay_distinct_and_inside_their_range_and_tpe_labels_never_collide(tmp_path):
    from nnlab.sweep.space import TPESampler
    from nnlab.sweep.spec import Param, load_sweep

    assert Param("x", low=0.010001, high=0.010004, num=4).grid_values() == [0.010001, 0.010002, 0.010003, 0.010004]
    assert Param("x", low=1e-4, high=1e-1, log=True, num=4).grid_values() == [1e-4, 1e-3, 1e-2, 1e-1]  # 4 digits
    p = write_sweep(tmp_path, {"method": "tpe", "trials": 3, "params": {"train.optimizer.lr": [0.1, 0.1000001, 0.01]}},
                    BASE)
    spec = load_sweep(p)
    sampler = TPESampler(spec, tmp_path)
    assert sorted(sampler.labels["train.optimizer.lr"].values()) == [0.01, 0.1, 0.1000001]


def test_19_a_grid_of_a_billion_points_is_one_line_not_a_memory_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    one_line(invoke("sweep", cfg, "-p", "train.optimizer.lr=0:1:1000000000"), 2,
             "num: the number of grid points must be a whole number from 1 to 100,000, got 1000000000")


# 9, 10, 29: no best when all diverged, every failure's reason, combinations judged as a whole


def test_09_a_sweep_whose_every_trial_diverged_has_no_best(tmp_path):
    out = tmp_path / "out"
    res = invoke("sweep", write_sweep(tmp_path, {"name": "d", "params": {"train.optimizer.lr": [1e6, 1e7]}}, BASE),
                 "--runs-dir", out, "-j", "1")
    assert res.exit_code == 1, res.output
    assert "no best configuration: every trial diverged (2)" in res.output and "train the best" not in res.output
    folder = only_folder(out)
    assert json.loads((folder / "summary.json").read_text())["best"] is None and not (folder / "best.yaml").exists()


@pytest.mark.slow
def test_10_and_29_a_failed_trial_says_why_and_tpe_combinations_are_judged_together(tmp_path):
    base = {**BASE, "train": {**BASE["train"], "batch_size": 50}}
    sweep = {"name": "t", "method": "tpe", "trials": 4, "seed": 0,
             "params": {"train.optimizer.name": ["adam", "lbfgs"], "train.batch_size": ["full", 10]}}
    folder = a_sweep(tmp_path, sweep, base)  # lbfgs with batch_size 50 alone is invalid, with full it is not
    bad = [r for r in rows(folder) if r["train.optimizer.name"] == "lbfgs" and r["train.batch_size"] == "10"]
    for r in bad:
        assert r["status"] == "failed" and "lbfgs needs batch_size: full" in r["message"]
    p = write_sweep(tmp_path, {"params": {"train.optimizer.lr": [0.1, 0.2]}}, BASE)
    one_line(invoke("sweep", p, "--name", "n" * 197), 2, "name: at most 195 characters for a sweep of 2 trials")


@pytest.mark.slow
def test_11_jobs_are_capped_at_the_cores_and_the_runs(tmp_path):
    p = write_sweep(tmp_path, {"name": "one", "params": {"train.optimizer.lr": [0.1]}}, BASE)
    res = invoke("sweep", p, "--runs-dir", tmp_path / "out", "--jobs", "1000")
    assert res.exit_code == 0, res.output
    assert "1 at a time on this machine" in res.output and f"--jobs 1000: {os.cpu_count()} at a time" in res.output


# 20, 21: a TPE sweep's stray trials and its journal


def tpe_sweep(tmp_path) -> Path:
    sweep = {"name": "tpe", "method": "tpe", "trials": 3, "seed": 1,
             "params": {"train.optimizer.lr": {"low": 0.01, "high": 0.3, "log": True}}}
    return a_sweep(tmp_path, sweep)


@pytest.mark.slow
def test_20_a_stray_run_or_row_in_a_tpe_sweep_is_one_line(tmp_path):
    folder = tpe_sweep(tmp_path)
    shutil.copytree(folder / "runs" / "t000-seed0", folder / "runs" / "t050-seed0")
    one_line(invoke("sweep", "--resume", folder), 1, "trial 50 (in runs/ or trials.csv) is not one this TPE sweep asked "
                                                     "for (its study holds 3 trials)")
    shutil.rmtree(folder / "runs" / "t050-seed0")
    with open(folder / "trials.csv", "a") as f:
        f.write("7,0.1,0,completed,0.5,3,0.1,t007-seed0,\n")
    one_line(invoke("sweep", "--resume", folder), 1, "trial 7 (in runs/ or trials.csv) is not one this TPE sweep")


@pytest.mark.slow
def test_21_a_cut_journal_is_mended_and_a_garbage_one_refused_untouched(tmp_path):
    folder = tpe_sweep(tmp_path)
    journal = folder / "optuna.journal"
    text = journal.read_text()
    journal.write_text(text + '{"op_code": 5, "worker_id": "x", "study_id": 0, "trial_i')  # a kill mid-write
    res = invoke("sweep", "--resume", folder, "--trials", "4", "-j", "1")
    assert res.exit_code == 0, res.output
    assert "its last record was cut short" in res.output
    assert [r["trial"] for r in rows(folder)] == ["0", "1", "2", "3"]
    damaged = "garbage\n" + journal.read_text()
    journal.write_text(damaged)
    one_line(invoke("sweep", "--resume", folder), 1, "optuna.journal: line 1 is not one of Optuna's records")
    assert journal.read_text() == damaged


# 22: a disk that fills mid-sweep


@pytest.mark.slow
def test_22_a_disk_that_fills_mid_sweep_stops_it_consistently_and_resume_finishes(tmp_path):
    sweep = {"name": "f", "params": {"train.optimizer.lr": [0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.002, 0.001]}}
    p = write_sweep(tmp_path, sweep, {**BASE, "train": {**BASE["train"], "epochs": 40}})
    with small_disk(tmp_path / "disk", "120k") as disk:
        res = invoke("sweep", p, "--runs-dir", disk, "-j", "1")
        assert res.exit_code == 1, res.output
        assert "No space left on device; the sweep stopped with its finished runs kept" in res.output
        assert "Traceback" not in res.output
        folder = only_folder(disk)
        # a full disk may refuse trials.csv's last rewrite: the run folders are what resume reads
        kept = {r["run"] for r in rows(folder) if r["status"] == "completed"}
        assert kept
        started = {n: json.loads((folder / "runs" / n / "summary.json").read_text())["started"] for n in kept}
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        res = invoke("sweep", "--resume", folder, "-j", "1")
        assert res.exit_code == 0, res.output
        assert [r["status"] for r in rows(folder)] == ["completed"] * 8
        for n, s in started.items():  # no finished run trained twice
            assert json.loads((folder / "runs" / n / "summary.json").read_text())["started"] == s


# 23: a read-only folder on resume


@pytest.mark.slow
def test_23_a_read_only_sweep_folder_on_resume_is_one_line(tmp_path):
    folder = a_sweep(tmp_path)
    with small_disk(tmp_path / "ro", "2m") as disk:
        shutil.copytree(folder, disk / folder.name)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        res = invoke("sweep", "--resume", disk / folder.name)
        assert res.exit_code != 0 and "Traceback" not in res.output
        assert "Read-only file system" in res.output


# 25: Ctrl-C again and again


@pytest.mark.slow
def test_25_six_ctrl_c_in_a_row_leave_a_consistent_resumable_folder(tmp_path):
    slow = {**BASE, "data": {"name": "blobs", "n_samples": 4000}, "train": {**BASE["train"], "epochs": 400,
                                                                          "batch_size": 20}}
    p = write_sweep(tmp_path, {"name": "c", "params": {"train.optimizer.lr": [0.1, 0.05, 0.02, 0.01]}}, slow)
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "sweep", str(p), "--runs-dir", str(out), "-j", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("*/runs/t000-seed0/metrics.csv")):
        time.sleep(0.1)
    time.sleep(0.5)
    for _ in range(6):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    folder = only_folder(out)
    assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"
    assert f"resume: nnlab sweep --resume {folder}" in stdout and "Traceback" not in stderr
    assert not [r for r in rows(folder) if r["status"] == "running"]


# 26: paths and values are printed as they are


@pytest.mark.slow
def test_26_colons_in_paths_and_values_are_never_emoji(tmp_path):
    p = write_sweep(tmp_path, {"name": "e", "params": {"train.optimizer.lr": [0.1]}}, BASE)
    res = invoke("sweep", p, "--runs-dir", tmp_path / "exp:a:b", "-j", "1")
    assert res.exit_code == 0 and "exp:a:b" in res.output and "\N{NEGATIVE SQUARED LATIN CAPITAL LETTER A}" not in \
        res.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    res = invoke("sweep", cfg, "-p", "train.optimizer.lr=log:-1:0.1")
    assert res.exit_code == 2 and "log:-1:0.1" in res.output and "\N{THUMBS DOWN SIGN}" not in res.output


# 30: smaller ones


@pytest.mark.slow
def test_30_an_empty_sweep_yaml_on_resume_says_so(tmp_path):
    folder = a_sweep(tmp_path)
    (folder / "sweep.yaml").write_text("")
    one_line(invoke("sweep", "--resume", folder), 1, "sweep.yaml: holds no sweep (no config: empty or damaged)")


def test_30_switching_data_name_drops_the_old_datasets_options_only(tmp_path):
    from nnlab.sweep.spec import point_mapping

    base = {**BASE, "data": {"name": "blobs", "n_samples": 120, "classes": 4, "val_fraction": 0.2,
                             "preprocess": "none"}}
    raw = point_mapping(base, {"data.name": "moons"})
    assert raw["data"] == {"name": "moons", "n_samples": 120, "val_fraction": 0.2, "preprocess": "none"}


@pytest.mark.slow
def test_30_after_sigkill_of_a_sweep_its_workers_are_gone_within_seconds(tmp_path):
    slow = {**BASE, "data": {"name": "blobs", "n_samples": 4000}, "train": {**BASE["train"], "epochs": 2000,
                                                                          "batch_size": 20}}
    p = write_sweep(tmp_path, {"name": "k", "params": {"train.optimizer.lr": [0.1, 0.05, 0.02]}}, slow)
    proc = subprocess.Popen([*CLI, "sweep", str(p), "--runs-dir", str(tmp_path / "out"), "-j", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((tmp_path / "out").glob("*/runs/*/metrics.csv"))) < 2:
        time.sleep(0.1)
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                              text=True).stdout.split()]
    assert workers
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8 and any(os.path.exists(f"/proc/{w}") and "Z" not in
                                            open(f"/proc/{w}/stat").read().split(")")[1].split()[0] for w in workers):
        time.sleep(0.1)
    assert time.monotonic() - t0 < 5, "workers lingered after their sweep was killed"
    folder = only_folder(tmp_path / "out")
    statuses = [json.loads(s.read_text())["status"] for s in folder.glob("runs/*/summary.json")]
    assert statuses and all(s == "interrupted" for s in statuses)
