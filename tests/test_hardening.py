"""Defects found by hostile inputs, each with the test that keeps it fixed (issue 8 numbering)."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nnlab.cli import main
from nnlab.config import validate
from nnlab.data import load_dataset
from nnlab.errors import ConfigError, RunError
from nnlab.experiment import check_against_data, run_experiment
from nnlab.train.batching import batch_bounds, steps_per_epoch
from nnlab.train.model import build_model
from nnlab.train.trainer import Trainer, rng_streams, train

SPIRAL = {"name": "spiral", "n_samples": 150, "val_fraction": 0.2}


def cfg_of(**sections):
    raw = {"name": "h", "seed": 0, "data": dict(SPIRAL), "model": {"hidden": [8]},
           "train": {"epochs": 3, "batch_size": 16}}
    for k, v in sections.items():
        raw[k] = {**raw[k], **v} if isinstance(v, dict) and isinstance(raw.get(k), dict) else v
    return validate(raw)


def write(folder, name, text):
    p = folder / name
    p.write_text(text)
    return p


# 4. metrics the run will not have are refused before training ------------------------------

@pytest.mark.parametrize("train_sec, data_sec, message", [
    ({"early_stopping": {"metric": "val_acc"}}, {"name": "npz"},
     "train.early_stopping.metric: val_acc is not recorded for regression data"),
    ({"schedule": {"name": "plateau", "metric": "val_acc"}}, {"name": "npz"},
     "train.schedule.metric: val_acc is not recorded for regression data"),
    ({"schedule": {"name": "plateau", "metric": "val_loss"}}, {"val_fraction": 0},
     "train.schedule.metric: val_loss needs a validation split, but data.val_fraction is 0"),
    ({"schedule": {"name": "plateau", "metric": "train_acc"}}, {"name": "npz"},
     "train.schedule.metric: train_acc is not recorded for regression data"),
])
def test_metrics_the_run_will_not_record_are_refused_before_training(tmp_path, train_sec, data_sec, message):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "reg.npz", x=rng.normal(size=(40, 3)), y=rng.normal(size=40) + 0.5)
    data = {**SPIRAL, **data_sec}
    if data["name"] == "npz":
        data = {"name": "npz", "path": str(tmp_path / "reg.npz"), "val_fraction": data_sec.get("val_fraction", 0.2)}
    cfg = validate({"name": "m", "data": data, "model": {"hidden": [4]}, "train": {"epochs": 2, **train_sec}})
    with pytest.raises(ConfigError) as exc:
        check_against_data(cfg, load_dataset(cfg.data))
    assert message in str(exc.value)
    with pytest.raises(ConfigError):
        run_experiment(cfg, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # refused before any folder was made


def test_plateau_on_regression_val_loss_is_fine_and_cuts():
    cfg = cfg_of(data={"val_fraction": 0.2}, train={"epochs": 6, "optimizer": {"name": "sgd", "lr": 1e-6},
                                                   "schedule": {"name": "plateau", "patience": 0,
                                                                "factor": 0.5, "metric": "val_loss"}})
    data = load_dataset(cfg.data)
    check_against_data(cfg, data)  # nothing to complain about
    lrs = [r["lr"] for r in train(cfg, data).history]
    assert lrs[0] == 1e-6 and lrs[-1] < lrs[0]  # fed: the rate cannot improve the loss, so it is cut


# 5. every config's data is checked before the first run trains --------------------------------

def test_a_data_error_in_the_second_config_stops_before_the_first_trains(tmp_path):
    good = write(tmp_path, "a.yaml", "data: {name: spiral, n_samples: 60}\ntrain: {epochs: 2}\n")
    bad = write(tmp_path, "b.yaml", f"data: {{name: csv, path: {tmp_path / 'missing.csv'}}}\ntrain: {{epochs: 2}}\n")
    r = CliRunner().invoke(main, ["train", str(good), str(bad), "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 2
    assert "missing.csv: file not found" in r.output and "b.yaml" in r.output
    assert not (tmp_path / "runs").exists()


def test_a_metric_error_in_the_second_config_stops_before_the_first_trains(tmp_path):
    good = write(tmp_path, "a.yaml", "data: {name: spiral, n_samples: 60}\ntrain: {epochs: 2}\n")
    bad = write(tmp_path, "b.yaml", "data: {name: spiral, n_samples: 60, val_fraction: 0}\n"
                                    "train: {epochs: 2, early_stopping: {metric: train_loss}, "
                                    "schedule: {name: plateau, metric: val_acc}}\n")
    r = CliRunner().invoke(main, ["train", str(good), str(bad), "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "b.yaml: train.schedule.metric: val_acc needs a validation split" in r.output
    assert not (tmp_path / "runs").exists()


# 9. batch norm never sees a one-row batch -------------------------------------------------------

def test_batch_bounds_merge_a_lone_last_row_only_with_batch_norm():
    assert batch_bounds(33, 16) == [(0, 16), (16, 32), (32, 33)]
    assert batch_bounds(33, 16, merge_single=True) == [(0, 16), (16, 33)]
    assert batch_bounds(34, 16, merge_single=True) == [(0, 16), (16, 32), (32, 34)]
    assert batch_bounds(1, 16, merge_single=True) == [(0, 1)]
    assert batch_bounds(32, 16, merge_single=True) == [(0, 16), (16, 32)]


def test_batch_norm_running_variance_never_blends_a_zero_batch_variance():
    # 120 spiral rows, 0.2 validation -> 96 training rows; batch 19 leaves one row over (5 * 19 + 1)
    cfg = cfg_of(model={"hidden": [6], "batch_norm": {"momentum": 0.0}},
                 data={"n_samples": 120}, train={"epochs": 1, "batch_size": 19, "shuffle": False,
                                                 "optimizer": {"name": "sgd", "lr": 1e-12}})
    data = load_dataset(cfg.data)
    assert len(data.x_train) == 96
    assert steps_per_epoch(cfg, 96) == 5  # 19, 19, 19, 19, 20
    trainer = Trainer(cfg, data)
    trainer.run()
    bn = trainer.model.layers[1]
    # momentum 0: the running variance is the last batch's (rows 76..95), not the variance 0 of one row
    z = data.x_train[76:] @ trainer.model.view("dense1.W") + trainer.model.view("dense1.b")
    np.testing.assert_allclose(bn.running_var, z.var(axis=0), rtol=1e-4)
    assert trainer.opt.t == 5


def test_step_schedules_count_the_merged_batches():
    cfg = cfg_of(model={"batch_norm": True}, data={"n_samples": 120},
                 train={"batch_size": 19, "schedule": {"name": "step", "step_size": 5, "gamma": 0.5, "unit": "step"}})
    hist = train(cfg, load_dataset(cfg.data)).history
    assert [r["lr"] for r in hist] == [1e-3, 5e-4, 2.5e-4]  # 5 steps an epoch, one halving each


# 12. a failed plot is said, a failed start leaves nothing ---------------------------------------

@pytest.mark.slow
def test_a_plot_that_fails_is_said_and_the_run_is_not_called_completed(tmp_path, monkeypatch):
    import nnlab.experiment as experiment

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(experiment, "plot_curves", full_disk)
    cfg = write(tmp_path, "p.yaml", "data: {name: spiral, n_samples: 60}\ntrain: {epochs: 2}\n")
    r = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 1  # every final file written, or the run is not completed
    assert "No space left on device" in r.stderr
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["plot_error"].startswith("OSError") and summary["status"] == "failed"
    assert summary["trained"] == "completed" and "curves.png not written" in summary["message"]
    assert (run / "checkpoint.npz").is_file()
    monkeypatch.undo()  # room again: the resume writes the files and the run is completed
    r = CliRunner().invoke(main, ["train", "--resume", str(run), "-q"])
    assert r.exit_code == 0, r.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and (run / "curves.png").is_file() and (run / "model.npz").is_file()


def test_a_full_disk_at_the_start_leaves_no_empty_run_folder(tmp_path, monkeypatch):
    import nnlab.runs as runs

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "atomic_write", full_disk)
    cfg = cfg_of()
    with pytest.raises(RunError, match="No space left on device"):
        run_experiment(cfg, tmp_path / "runs")
    assert list((tmp_path / "runs").iterdir()) == []


# 15. the public forward returns arrays the caller owns --------------------------------------------

def test_public_forward_and_predict_return_owned_arrays():
    cfg = cfg_of()
    r = rng_streams(0)
    model = build_model(cfg.model, 2, 3, "float32", r["init"], r["noise"])
    x1, x2 = np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32)
    a = model.forward(x1)
    a_copy = a.copy()
    model.forward(x2)
    model.predict(x2)
    np.testing.assert_array_equal(a, a_copy)  # not overwritten by the next call
    p = model.predict(x1)
    np.testing.assert_array_equal(p, a_copy)
    model.forward_buffered(x2)
    np.testing.assert_array_equal(p, a_copy)


def test_forward_is_evaluation_mode_by_default():
    cfg = cfg_of(model={"dropout": 0.5})
    r = rng_streams(0)
    model = build_model(cfg.model, 2, 3, "float32", r["init"], r["noise"])
    x = np.ones((64, 2), np.float32)
    np.testing.assert_array_equal(model.forward(x), model.forward(x))  # no dropout masks drawn
    assert not np.array_equal(model.forward(x, train=True), model.forward(x))


def test_batch_norm_with_batches_of_one_row_is_a_config_error():
    with pytest.raises(ConfigError, match="batch normalization needs batches of at least 2 rows"):
        cfg_of(model={"batch_norm": True}, train={"batch_size": 1})
    cfg_of(model={"batch_norm": True}, train={"batch_size": 2})  # fine


@pytest.mark.slow
def test_runs_dir_that_is_a_file_and_resume_of_a_folder_of_runs(tmp_path):
    cfg = write(tmp_path, "c.yaml", "data: {name: spiral, n_samples: 60}\ntrain: {epochs: 1}\n")
    a_file = write(tmp_path, "f", "x")
    r = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(a_file)])
    assert r.exit_code == 2 and "--runs-dir" in r.output and "is a file, not a folder" in r.output
    assert a_file.read_text() == "x"
    runs = tmp_path / "runs"
    assert CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(runs), "-q"]).exit_code == 0
    (run,) = runs.iterdir()
    r = CliRunner().invoke(main, ["train", "--resume", str(runs)])
    assert r.exit_code == 1 and f"it holds runs: name one, e.g. {run}" in r.output
    r = CliRunner().invoke(main, ["train", "--resume", str(a_file)])
    assert r.exit_code == 1 and "is a file, not a run folder" in r.output


def test_plot_without_extension_says_so():
    r = CliRunner().invoke(main, ["compare", "runs", "--plot", "plot"])
    assert r.exit_code == 2 and "--plot plot: has no file extension; name a .png, .svg or .pdf file" in r.output


@pytest.mark.slow
def test_train_says_in_one_line_when_float_targets_make_a_run_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    data = tmp_path / "r.csv"
    data.write_text("\n".join(f"{a},{b},{a + 0.5 * b:.3f}" for a, b in x) + "\n")
    cfg = write(tmp_path, "r.yaml", f"data: {{name: csv, path: {data}}}\nmodel: {{hidden: [4]}}\ntrain: {{epochs: 1}}\n")
    r = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 0
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "so this is regression (mean squared error)" in notes[0] and "r.yaml" in notes[0]
    whole = tmp_path / "c.csv"
    whole.write_text("\n".join(f"{a},{b},{float(a > 0)}" for a, b in x) + "\n")
    cfg2 = write(tmp_path, "c.yaml", f"data: {{name: csv, path: {whole}}}\nmodel: {{hidden: [4]}}\ntrain: {{epochs: 1}}\n")
    r = CliRunner().invoke(main, ["train", str(cfg2), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert r.exit_code == 0 and "note:" not in r.stderr  # whole-number labels are classes: nothing to say
