"""The Python API (nnlab.api, the names of the package nnlab): the same engine as the command line, read back
with reference values: run folders equal to nnlab train's, predictions equal to the recorded test results,
compare's rows equal to compare --format json, Ctrl-C leaving a resumable run, bad input as one ConfigError."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import nnlab
from helpers import assert_same_run, ctrl_c_after, invoke, table

ROOT = Path(__file__).resolve().parents[1]
SLOW_FIXTURES = ("finished",)  # a trained run (its curves drawn): about a second
TINY = {"name": "tiny", "data": {"name": "spiral", "n_samples": 150, "classes": 3},
        "model": {"hidden": [16]}, "train": {"epochs": 6, "batch_size": 30, "optimizer": {"name": "adam", "lr": 0.01}}}


def write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------ the package stays light


@pytest.mark.slow
def test_import_nnlab_and_the_command_line_load_no_numpy():
    code = ("import sys, nnlab, nnlab.cli; assert 'numpy' not in sys.modules, 'numpy'; "
            "assert callable(nnlab.runs) and callable(nnlab.sweep) and callable(nnlab.train); "
            "assert 'numpy' not in sys.modules; print(sorted(n for n in dir(nnlab) if not n.startswith('_'))[:4])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import nnlab.cli"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert " numpy\n" not in res.stderr and "| numpy" not in res.stderr


def test_the_subpackages_that_are_also_functions_stay_packages():
    import nnlab.runs as runs_package
    import nnlab.sweep.spec  # noqa: F401 - imported before the API: the package must still be callable
    from nnlab.runs import load_run

    assert runs_package is nnlab.runs and nnlab.runs.load_run is load_run
    assert callable(nnlab.runs) and callable(nnlab.sweep) and callable(nnlab.train) and callable(nnlab.claims.run)
    assert nnlab.ConfigError is nnlab.errors.ConfigError and issubclass(nnlab.RunInterrupted, KeyboardInterrupt)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        nnlab.trian


# ------------------------------------------------------------------ train: the same run as nnlab train


@pytest.mark.slow
def test_train_with_overrides_writes_the_run_nnlab_train_writes(in_tmp):
    cfg = write(in_tmp / "tiny.yaml", TINY)
    run = nnlab.train(cfg, overrides={"train.optimizer.lr": 0.05, "model.hidden": (8, 8)}, runs_dir="api")
    r = invoke("train", cfg, "--set", "train.optimizer.lr=0.05", "--set", "model.hidden=[8,8]",
               "--runs-dir", "cli", "--quiet")
    assert r.exit_code == 0, r.stderr
    (cli_run,) = (in_tmp / "cli").iterdir()
    assert run.status == "completed" and run.path.parent == Path("api")
    assert run.config["train"]["optimizer"]["lr"] == 0.05 and run.config["model"]["hidden"] == [8, 8]
    assert (run.path / "config.yaml").read_text() == (cli_run / "config.yaml").read_text()
    assert_same_run(run.path, cli_run)


@pytest.mark.slow
def test_train_from_a_mapping_with_a_relative_data_path(in_tmp):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    np.savez(in_tmp / "d.npz", x=x, y=(x[:, 0] > 0).astype(int))
    run = nnlab.train({"data": {"name": "npz", "path": "d.npz"}, "model": {"hidden": [4]},
                       "train": {"epochs": 2}}, name="from_dict")
    assert run.name == "from_dict" and run.path.name.endswith("_from_dict")
    assert run.config["data"]["path"] == str(in_tmp / "d.npz")  # absolute: the run replays from anywhere
    again = nnlab.train(run.config)  # the resolved config trains the same run again
    assert_same_run(run.path, again.path)


@pytest.mark.parametrize("config, kwargs, needle", [
    ({"model": {"hiden": [3]}}, {}, "config: model.hiden: unknown key 'hiden'; choose from activation, batch_norm, "
                                    "dropout, hidden, init (did you mean 'hidden'?)"),
    (TINY, {"overrides": {"train.optimizer.lr": -1}}, "config: train.optimizer.lr: must be greater than 0, got -1"),
    (TINY, {"overrides": {"train..lr": 1}}, "overrides: train..lr: a key must be a dotted path"),
    (TINY, {"overrides": "lr=1"}, "overrides: must be a mapping of dotted keys to values"),
    (42, {}, "config: must be the path of a YAML config file or a mapping (dict) of config keys, got int"),
    ("no/such.yaml", {}, "no/such.yaml: config file not found"),
    (TINY, {"name": "a b"}, "name: must be ASCII letters, digits"),
    ({"extends": "base.yaml"}, {}, "config: extends: names the file a config builds on"),
    (TINY, {"runs_dir": ""}, "runs_dir: must name a folder, got ''"),
])
def test_bad_input_is_one_config_error_and_writes_nothing(in_tmp, config, kwargs, needle):
    with pytest.raises(nnlab.ConfigError) as exc:
        nnlab.train(config, **kwargs)
    assert needle in str(exc.value)
    assert not (in_tmp / "runs").exists()


def test_a_runs_dir_that_is_a_file_and_data_that_do_not_fit_are_refused_before_anything_is_written(in_tmp):
    (in_tmp / "runs").write_text("")
    with pytest.raises(nnlab.ConfigError, match="runs_dir='runs': is a file, not a folder"):
        nnlab.train(TINY)
    with pytest.raises(nnlab.ConfigError, match="train.early_stopping.metric: val_acc needs a validation split"):
        nnlab.train(TINY, overrides={"data.val_fraction": 0, "train.early_stopping": {"metric": "val_acc"}},
                    runs_dir="other")
    assert not (in_tmp / "other").exists()


# ------------------------------------------------------------------ Run: what the folder holds


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api_runs")
    return nnlab.train(TINY, runs_dir=folder / "runs")


def test_metrics_are_the_columns_of_metrics_csv(finished):
    rows = table(finished.path / "metrics.csv", drop=())
    m = finished.metrics
    assert list(m["epoch"]) == [1, 2, 3, 4, 5, 6] and m["epoch"].dtype == np.int64
    for key in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"):
        np.testing.assert_array_equal(m[key], [float(r[key]) for r in rows])
    assert np.isnan(m["raw_val_acc"]).all()  # no averaging: the column is empty
    assert finished.summary["best"]["val_acc"] == m["val_acc"].max()


def test_metrics_frame_is_indexed_by_epoch(finished):
    pd = pytest.importorskip("pandas")
    frame = finished.metrics_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == [1, 2, 3, 4, 5, 6]
    assert frame.loc[6, "val_acc"] == finished.metrics["val_acc"][-1]


def test_plot_is_a_figure_of_loss_accuracy_and_learning_rate(finished):
    fig = finished.plot()
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), finished.metrics["train_loss"])


def test_predict_gives_the_recorded_test_results(finished):
    from nnlab.config import load_config
    from nnlab.data import datasets

    cfg = load_config(finished.path / "config.yaml")
    raw = datasets.build({k: v for k, v in cfg.data.items() if k not in ("val_fraction", "preprocess", "augment")})
    proba = finished.predict_proba(raw.x_test)
    assert proba.shape == (len(raw.x_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    pred = finished.predict(raw.x_test)
    assert (pred == proba.argmax(axis=1)).all()
    assert np.mean(pred == raw.y_test) == finished.summary["test"]["acc"]
    loss = -np.mean(np.log(proba[np.arange(len(pred)), raw.y_test]))
    assert loss == pytest.approx(finished.summary["test"]["loss"], rel=1e-5)
    with pytest.raises(nnlab.DataError, match="x: has 3 features per row; tiny was trained on 2"):
        finished.predict(np.zeros((4, 3)))
    with pytest.raises(nnlab.DataError, match=r"x: must be rows of inputs, shape \(n, 2\)"):
        finished.predict(np.zeros(2))


@pytest.mark.slow
def test_a_regression_run_predicts_values(in_tmp):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    y = x @ [1.5, -2.0] + 0.3
    np.savez(in_tmp / "r.npz", x=x[:60], y=y[:60], x_test=x[60:], y_test=y[60:])
    run = nnlab.train({"data": {"name": "npz", "path": "r.npz", "val_fraction": 0}, "model": {"hidden": [8]},
                       "train": {"epochs": 20, "batch_size": 20}})
    pred = run.predict(x[60:])
    assert pred.shape == (20,)
    assert np.mean((pred - y[60:]) ** 2) == pytest.approx(run.summary["test"]["loss"], rel=1e-4)
    with pytest.raises(nnlab.RunError, match="a regression run has no class probabilities"):
        run.predict_proba(x[60:])


@pytest.mark.slow
def test_a_members_ensemble_trains_its_members_and_predicts_with_their_mean(in_tmp):
    run = nnlab.train({**TINY, "train": {**TINY["train"], "ensemble": {"members": 2}}})
    assert run.status == "completed" and len(list((run.path / "members" / "runs").iterdir())) == 2
    from nnlab.config import load_config
    from nnlab.data import datasets

    cfg = load_config(run.path / "config.yaml")
    raw = datasets.build({k: v for k, v in cfg.data.items() if k not in ("val_fraction", "preprocess", "augment")})
    acc = np.mean(run.predict(raw.x_test) == raw.y_test)
    assert acc == pytest.approx(run.summary["ensemble"]["ensemble"]["test_acc"])


def test_a_folder_that_is_no_run_is_one_line(in_tmp):
    with pytest.raises(nnlab.RunError, match="nothing: no such folder"):
        nnlab.Run("nothing")
    (in_tmp / "empty").mkdir()
    with pytest.raises(nnlab.RunError, match="empty: not a run folder"):
        nnlab.Run("empty")


# ------------------------------------------------------------------ Ctrl-C: interrupted, resumable


@pytest.mark.slow
def test_ctrl_c_leaves_the_run_interrupted_and_resume_finishes_it_as_if_never_stopped(in_tmp):
    reference = nnlab.train(TINY, runs_dir="ref")
    with pytest.raises(nnlab.RunInterrupted) as exc:
        nnlab.train(TINY, on_epoch=ctrl_c_after(2))
    run = exc.value.run
    assert isinstance(exc.value, KeyboardInterrupt)
    assert run.status == "interrupted" and len(run.metrics["epoch"]) == 2
    assert (run.path / "checkpoint.npz").is_file()
    assert f"nnlab.resume({str(run.path)!r}) continues it" in str(exc.value)
    early = run.predict_proba(np.zeros((1, 2)))  # the weights of the last finished epoch (model.npz)
    (run.path / "model.npz").unlink()
    with pytest.raises(nnlab.RunError, match="has no model.npz \\(the run is interrupted\\); resume it first"):
        nnlab.Run(run.path).predict(np.zeros((1, 2)))
    done = nnlab.resume(run)
    assert done.status == "completed" and done.path == run.path
    assert_same_run(reference.path, done.path)
    assert not np.allclose(done.predict_proba(np.zeros((1, 2))), early)


# ------------------------------------------------------------------ runs and compare: as the command line


@pytest.mark.slow
def test_runs_and_compare_are_the_command_lines(in_tmp):
    a = nnlab.train(TINY, overrides={"seed": 1})
    b = nnlab.train(TINY, overrides={"seed": 2})
    c = nnlab.train(TINY, overrides={"train.optimizer.lr": 0.1})
    listed = nnlab.runs("runs")
    assert listed == [c, b, a]  # newest first, as nnlab runs
    rows = nnlab.compare(listed)
    r = invoke("compare", *[x.path for x in listed], "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(json.dumps(rows, default=str)) == json.loads(r.stdout)
    by_name = {row["settings"]["train.optimizer.lr"]: row for row in rows}
    assert by_name[0.01]["seeds"] == [2, 1] and by_name[0.01]["std"]["test_acc"] is not None
    assert nnlab.compare("runs") == rows
    with pytest.raises(nnlab.ConfigError, match="metric: must be val_acc"):
        nnlab.compare(listed, metric="accuracy")


def test_dataset_by_name_gives_the_loaders_arrays():
    x, y, xt, yt = nnlab.dataset("spiral", classes=4, n_samples=100)
    assert x.shape == (100, 2) and sorted(set(y)) == [0, 1, 2, 3] and len(xt) == len(yt) == 25
    with pytest.raises(nnlab.ConfigError, match="unknown dataset 'spirals'"):
        nnlab.dataset("spirals")


# ------------------------------------------------------------------ sweeps


@pytest.mark.slow
def test_a_sweep_from_a_config_file_and_params_is_nnlab_sweeps(in_tmp):
    cfg = write(in_tmp / "tiny.yaml", TINY)
    s = nnlab.sweep(cfg, params={"train.optimizer.lr": [0.001, 0.05], "model.hidden": [[8], [16]]}, jobs=2,
                    seeds=[0, 1])
    assert isinstance(s, nnlab.Sweep) and s.status == "completed" and len(s.trials) == 4
    trials = {(t["params"]["train.optimizer.lr"], tuple(t["params"]["model.hidden"])): t for t in s.trials}
    for t in trials.values():  # the trial's value: the mean of its runs' scores (the kept weights': the last)
        scores = [nnlab.Run(p).metrics["val_acc"][-1] for p in t["runs"]]
        assert t["value"] == pytest.approx(np.mean(scores)) and t["seeds"] == [0, 1]
    best = max(s.trials, key=lambda t: (t["value"], -t["trial"]))
    assert s.best["trial"] == best["trial"] and s.best["test"]["acc"] is not None
    assert s.best_config["train"]["optimizer"]["lr"] == best["params"]["train.optimizer.lr"]
    assert s.best_config["model"]["hidden"] == best["params"]["model.hidden"]
    assert len(s.runs()) == 8
    r = invoke("sweep", cfg, "-p", "train.optimizer.lr=0.001,0.05", "-p", "model.hidden=[[8],[16]]",
               "--seeds", "0,1", "--runs-dir", "cli", "--jobs", "2", "--quiet")
    assert r.exit_code == 0, r.stderr
    (cli,) = (in_tmp / "cli").iterdir()
    assert (cli / "trials.csv").read_text().splitlines()[0] == (s.path / "trials.csv").read_text().splitlines()[0]
    assert [row["val_acc"] for row in table(cli / "trials.csv")] == \
        [row["val_acc"] for row in table(s.path / "trials.csv")]


@pytest.mark.slow
def test_a_sweep_of_a_mapping_and_its_errors(in_tmp):
    s = nnlab.sweep({**TINY, "train": {**TINY["train"], "epochs": 2}}, params={"train.optimizer.lr": [0.01, 0.1]},
                    jobs=1)
    assert [t["params"] for t in s.trials] == [{"train.optimizer.lr": 0.01}, {"train.optimizer.lr": 0.1}]
    assert s.path.parent == Path("sweeps") and s.name == "tiny"
    with pytest.raises(nnlab.ConfigError, match="params: nothing to search"):
        nnlab.sweep(TINY)
    with pytest.raises(nnlab.ConfigError, match="params: train.optimizer.lr: the value 0.1 is listed twice"):
        nnlab.sweep(TINY, params={"train.optimizer.lr": [0.1, 0.1]})
    with pytest.raises(nnlab.ConfigError, match="params: must be a mapping of config keys"):
        nnlab.sweep(TINY, params="lr")
    with pytest.raises(nnlab.ConfigError, match="resume: continues a sweep as its sweep.yaml says"):
        nnlab.sweep(TINY, resume=s.path)
    again = nnlab.sweep(resume=s.path)  # finished: nothing is retrained
    assert again.path == s.path and again.trials == s.trials
    with pytest.raises(nnlab.ConfigError, match="trials: a grid sweep runs every point once"):
        nnlab.sweep(resume=s.path, trials=5)


# ------------------------------------------------------------------ the claims


@pytest.mark.slow
def test_claims_run_and_report_from_python(in_tmp):
    sentence = "ReLU 比 sigmoid 训练得更好。"
    doc = {"claim": {"title": "ReLU beats sigmoid",
                     "source": {"note": "003_x.txt", "section": "activations", "original": sentence},
                     "quote": "ReLU trains better than sigmoid.", "design": "Both at their own best rate.",
                     "expect": [{"metric": "test_acc", "better": "relu", "than": "sigmoid"}]},
           "config": {"data": {"name": "blobs", "n_samples": 200}, "model": {"hidden": [8]},
                      "train": {"epochs": 3, "batch_size": 50}},
           "variants": {"relu": {"model.activation": "relu"}, "sigmoid": {"model.activation": "sigmoid"}},
           "tune": {"train.optimizer.lr": [0.03, 0.3]}, "regimes": {"blobs": {}}, "seeds": 10,
           "quick": {"train.epochs": 2}}
    (in_tmp / "claims" / "notes").mkdir(parents=True)
    (in_tmp / "claims" / "notes" / "003_x.txt").write_text(f"第三章\n{sentence}\n", encoding="utf-8")
    write(in_tmp / "claims" / "tiny.yaml", doc)
    rows = nnlab.claims.run("tiny", quick=True, jobs=2)
    assert [(r["id"], r["how"], r["runs"]) for r in rows] == [("tiny", "ran", 8)]  # 2 variants x (2 rates x 1 tuning seed + 2 judging seeds)
    assert nnlab.claims.run(quick=True)[0]["how"] == "reused"
    page = nnlab.claims.report("claims-out", "gallery.md")
    assert page["path"] == Path("gallery.md") and page["claims"] == [
        {"id": "tiny", "mode": "quick", "verdict": "inconclusive", "regimes": {"blobs": "inconclusive"},
         "folder": Path("claims-out") / "tiny-quick"}]
    assert "**Overall: inconclusive.**" in (in_tmp / "gallery.md").read_text()
    with pytest.raises(nnlab.ConfigError, match="tinny: no such claim file or claim id"):
        nnlab.claims.run(["tinny"])


# ------------------------------------------------------------------ progress


@pytest.mark.slow
def test_quiet_false_shows_the_epochs_and_quiet_shows_nothing(in_tmp, capsys):
    nnlab.train(TINY)
    assert capsys.readouterr() == ("", "")
    nnlab.train(TINY, quiet=False)
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" loss ")[0] for line in err] == ["tiny 1/6", "tiny 2/6", "tiny 3/6", "tiny 4/6", "tiny 5/6",
                                                         "tiny 6/6"]
    assert "val acc" in err[-1]
