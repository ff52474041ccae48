"""Single runs, ensembles and the smaller commands as a hostile user meets them (hardening findings 12-17,
23, 27, 28 and 30): a resumed run is the run it was or one line, one resume at a time, no run called
completed without its files, an ensemble scored only on its members' data, and messages that name the
cause."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import invoke, small_disk

RAW = {"name": "h", "seed": 1, "data": {"name": "spiral", "n_samples": 300},
       "model": {"hidden": [16], "activation": "tanh"},
       "train": {"epochs": 6, "batch_size": 50, "optimizer": {"name": "momentum", "lr": 0.1}}}
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def write(tmp_path, raw=RAW, name="h.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw))
    return p


def one_line(res, code: int, needle: str) -> None:
    assert res.exit_code == code, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], res.output
    assert "Traceback" not in res.output


def stopped_run(tmp_path, epochs: int = 40, after: int = 3) -> Path:
    """A run stopped by Ctrl-C after ``after`` epochs, its checkpoint kept."""
    from nnlab.config import validate
    from nnlab.experiment import run_experiment

    raw = {**RAW, "train": {**RAW["train"], "epochs": epochs}}

    def ctrl_c(row):
        if row["epoch"] == after:
            raise KeyboardInterrupt

    run_experiment(validate(raw, source=str(write(tmp_path, raw))), runs_dir=tmp_path / "runs", on_epoch=ctrl_c,
                   checkpoint_seconds=0.0)
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    return run


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """stopped_run() made once for the module (its curves drawn: most of a second); each test that edits or
    resumes it takes its own copy (copy_of)."""
    return stopped_run(tmp_path_factory.mktemp("stopped"))


def copy_of(stopped: Path, tmp_path) -> Path:
    """A copy of the module's stopped run in this test's own runs/ folder: the test may change it."""
    run = tmp_path / "runs" / stopped.name
    shutil.copytree(stopped, run)
    return run


@pytest.mark.slow
def test_12_a_config_edited_before_resume_is_refused_naming_the_key(stopped, tmp_path):
    run = copy_of(stopped, tmp_path)
    original = (run / "config.yaml").read_text()
    cfg = yaml.safe_load(original)
    cfg["train"]["optimizer"]["lr"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    one_line(invoke("train", "--resume", run), 1, "config.yaml: changed since the run started "
                                                  "(train.optimizer.lr 0.1 -> 0.5)")
    cfg["train"]["optimizer"]["lr"], cfg["model"]["activation"] = 0.1, {"name": "relu"}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    one_line(invoke("train", "--resume", run), 1, "model.activation.name tanh -> relu")
    (run / "config.yaml").write_text(original)
    assert invoke("train", "--resume", run, "-q").exit_code == 0


@pytest.mark.slow
def test_13_two_resumes_of_one_run_at_once_one_refused(tmp_path):
    run = stopped_run(tmp_path, epochs=3000)
    first = subprocess.Popen([*CLI, "train", "--resume", str(run), "-q"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and json.loads((run / "summary.json").read_text())["status"] != "running":
        time.sleep(0.05)
    second = subprocess.run([*CLI, "train", "--resume", str(run), "-q"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "being resumed by another nnlab process (pid" in second.stderr or "still running" in second.stderr
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    s = json.loads((run / "summary.json").read_text())
    assert len(s["resumed"]) == 1  # one resume, not two


@pytest.mark.slow
def test_13_the_run_lock_is_held_from_prepare_to_the_end(stopped, tmp_path):
    from nnlab.errors import RunError
    from nnlab.experiment import prepare_resume, resume_experiment

    run = copy_of(stopped, tmp_path)
    prepared = prepare_resume(run)
    with pytest.raises(RunError, match="being resumed by another nnlab process"):
        prepare_resume(run)
    resume_experiment(run, prepared=prepared)
    prepare_resume_again = invoke("train", "--resume", run)  # completed now: refused for that, not for a lock
    assert "the run is completed" in prepare_resume_again.output


@pytest.mark.slow
def test_14_a_run_whose_model_could_not_be_written_is_not_completed(tmp_path, monkeypatch):
    import nnlab.runs as runs

    real = runs.atomic_savez

    def full(path, arrays):  # the disk has room for summary.json, not for the weights
        if Path(path).name == "model.npz":
            raise OSError(28, "No space left on device", str(path))
        return real(path, arrays)

    monkeypatch.setattr(runs, "atomic_savez", full)
    res = invoke("train", write(tmp_path), "--runs-dir", tmp_path / "runs", "-q")
    assert res.exit_code == 1, res.output
    (run,) = (tmp_path / "runs").iterdir()
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "failed" and s["trained"] == "completed"
    assert "model.npz not written (No space left on device)" in s["message"] and "model.npz not written" in res.output
    assert "failed" in invoke("runs", tmp_path / "runs").output
    monkeypatch.undo()
    assert invoke("train", "--resume", run, "-q").exit_code == 0  # room again: the files, and completed
    assert json.loads((run / "summary.json").read_text())["status"] == "completed" and (run / "model.npz").is_file()


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.update(epochs_done="x"), "epochs_done must be a whole number from 0 to the config's 40 epochs, "
                                          "got 'x'"),
    (lambda m: m.update(epochs_done=-5), "epochs_done must be a whole number from 0 to the config's 40 epochs, got -5"),
    (lambda m: m.update(history=m["history"][:1]), "history must hold one row per epoch done (2), got 1"),
    (lambda m: m.update(step=-1), "step must be a whole number >= 0"),
])
def test_15_a_hand_edited_checkpoint_is_refused_in_one_line(stopped, tmp_path, edit, needle):
    run = copy_of(stopped, tmp_path)
    with np.load(run / "checkpoint.npz") as z:
        state = {k: z[k] for k in z.files}
    meta = json.loads(str(state["meta"]))
    edit(meta)
    state["meta"] = np.array(json.dumps(meta))
    np.savez(run / "checkpoint.npz", **state)
    one_line(invoke("train", "--resume", run), 1, needle)
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"  # nothing changed


def test_15_a_wrong_shaped_optimizer_state_is_refused_not_reset(stopped, tmp_path):
    run = copy_of(stopped, tmp_path)
    with np.load(run / "checkpoint.npz") as z:
        state = {k: z[k] for k in z.files}
    (key,) = [k for k in state if k.startswith("opt.")]
    state[key] = state[key][:-3]
    np.savez(run / "checkpoint.npz", **state)
    one_line(invoke("train", "--resume", run), 1, f"optimizer state {key[4:]} has shape")


@pytest.mark.slow
def test_16_an_interrupted_members_ensemble_counts_right_and_resumes_like_any_run(tmp_path):
    from nnlab.config import validate
    from nnlab.sweep.members import run_members

    raw = {**RAW, "train": {**RAW["train"], "epochs": 30, "ensemble": {"members": 3}}}
    cfg = validate(raw, source=str(write(tmp_path, raw)))
    seen = []

    def ctrl_c(row):  # after the first member finished
        seen.append(row)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_members(cfg, runs_dir=tmp_path / "runs", jobs=1, on_epoch=ctrl_c)
    (run,) = (tmp_path / "runs").iterdir()
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "interrupted"
    assert s["message"].startswith("interrupted after 1 of 3 members finished; nnlab train --resume")
    first = json.loads((run / "members" / "runs" / "t000-seed1" / "summary.json").read_text())["started"]
    res = invoke("train", "--resume", run, "-q")
    assert res.exit_code == 0, res.output
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "completed" and s["ensemble"]["statuses"] == ["completed"] * 3
    assert json.loads((run / "members" / "runs" / "t000-seed1" / "summary.json").read_text())["started"] == first
    fresh = tmp_path / "fresh"
    assert invoke("train", write(tmp_path, raw, "fresh.yaml"), "--runs-dir", fresh, "-q").exit_code == 0
    (other,) = fresh.iterdir()
    assert json.loads((other / "summary.json").read_text())["ensemble"]["ensemble"] == s["ensemble"]["ensemble"]


@pytest.mark.slow
def test_17_and_27_an_ensemble_is_scored_on_its_members_data_and_names_the_key_that_differs(tmp_path):
    rows = "\n".join(f"{x:.3f},{x * 2:.3f},{int(x > 0)}" for x in np.linspace(-1, 1, 80)) + "\n"
    (tmp_path / "d.csv").write_text(rows)
    raw = {**RAW, "data": {"name": "csv", "path": str(tmp_path / "d.csv"), "val_fraction": 0.2}}
    runs = []
    for seed in (1, 2):
        res = invoke("train", write(tmp_path, {**raw, "seed": seed}), "--runs-dir", tmp_path / "runs", "-q")
        assert res.exit_code == 0, res.output
        runs.append(res.output.strip())
    assert invoke("ensemble", *runs).exit_code == 0
    (tmp_path / "d.csv").write_text(rows.replace(",1\n", ",0\n", 5))  # some labels changed
    one_line(invoke("ensemble", *runs), 1, "was trained on other data than csv's now")
    other = {**raw, "data": {**raw["data"], "val_fraction": 0.3, "preprocess": "none"}}
    (tmp_path / "d.csv").write_text(rows)
    res = invoke("train", write(tmp_path, other, "o.yaml"), "--runs-dir", tmp_path / "runs", "-q")
    one_line(invoke("ensemble", runs[0], res.output.strip()), 1, "its data.preprocess.name is none")


@pytest.mark.slow
def test_23_ensemble_plot_and_schedule_outputs_on_a_read_only_disk_are_one_line(tmp_path):
    runs = []
    for seed in (1, 2):
        res = invoke("train", write(tmp_path, {**RAW, "seed": seed}), "--runs-dir", tmp_path / "runs", "-q")
        runs.append(res.output.strip())
    with small_disk(tmp_path / "ro", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for args in (["ensemble", *runs, "-o", disk / "ens"], ["compare", *runs, "--plot", disk / "c.png"],
                     ["schedule", write(tmp_path), "--plot", disk / "s.png"], ["report", *runs, "-o", disk / "r.html"]):
            res = invoke(*args)
            assert res.exit_code != 0 and "Traceback" not in res.output, (args, res.output)
            assert "Read-only file system" in res.output, (args, res.output)


def test_28_a_divergence_under_a_huge_augmentation_names_it(tmp_path):
    raw = {**RAW, "data": {**RAW["data"], "augment": {"noise": 1e300}}}
    res = invoke("train", write(tmp_path, raw), "--runs-dir", tmp_path / "runs")
    assert res.exit_code == 1
    assert "data.augment's noise 1e+300 swamps the inputs: weaken the augmentation" in res.output


def test_30_lr_find_over_a_range_that_grows_too_fast_advises_a_smaller_end(tmp_path):
    res = invoke("lr-find", write(tmp_path), "--end", "1e308", "--runs-dir", tmp_path / "runs")
    assert res.exit_code == 1
    assert "a much smaller --end (or more --steps)" in res.output and "a smaller --start" not in res.output


@pytest.mark.slow
def test_30_report_and_compare_take_a_sweep_folder_without_its_sweep_yaml_for_a_folder_of_runs(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(RAW))
    res = invoke("sweep", base, "-p", "train.optimizer.lr=0.1,0.05", "--runs-dir", tmp_path / "out", "-j", "1")
    assert res.exit_code == 0, res.output
    (folder,) = (tmp_path / "out").iterdir()
    (folder / "sweep.yaml").unlink()
    res = invoke("report", folder, "-o", tmp_path / "r.html")
    assert res.exit_code == 0 and "(2 runs)" in res.output, res.output


def test_30_runs_of_a_missing_folder_and_a_non_ascii_name(tmp_path):
    one_line(invoke("runs", tmp_path / "nope"), 1, "nope: no such folder")
    one_line(invoke("train", write(tmp_path), "--name", "été"), 2, "must be ASCII letters, digits")
