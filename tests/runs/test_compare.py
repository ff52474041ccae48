"""compare/runs/show: the differing settings next to results that match the run folders' own files."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import shutil
import socket
import statistics
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke

import nnlab.config
import nnlab.look.figures
from nnlab.experiment import run_experiment
from nnlab.runs import find_runs, load_run, write_json
from nnlab.runs.compare import (COLUMNS, compare, differing_keys, flatten, label, setting_groups, short_key, sparkline,
                                to_csv, to_json, to_markdown)

BASE = {"name": "a", "seed": 0, "data": {"name": "spiral", "n_samples": 150},
        "model": {"hidden": [16]},
        "train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01}}}
DEAD_PID = 2 ** 22 + 12345  # above Linux's largest pid_max: no such process


def raw(**changes):
    """BASE with dotted-key changes, e.g. raw(**{'train.optimizer.lr': 0.05})."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return out


def strict_json(text):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


SLOW_FIXTURES = ('lab',)  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Real tiny runs, trained once for the module (PNG plots stubbed out: they are not under test here)."""
    root = tmp_path_factory.mktemp("lab")
    x = np.random.default_rng(0).normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * np.random.default_rng(1).normal(size=200)
    np.savez(root / "reg.npz", x=x, y=y)
    specs = {
        "a": raw(),
        "b": raw(name="b", **{"train.optimizer.lr": 0.05, "model.hidden": [8]}),
        "sgd": raw(name="sgd", **{"train.optimizer": {"name": "sgd", "lr": 0.01}}),
        "s0": raw(name="s", seed=0, **{"model.hidden": [12]}),
        "s1": raw(name="s", seed=1, **{"model.hidden": [12]}),
        "s2": raw(name="s", seed=2, **{"model.hidden": [12]}),
        "reg": raw(name="reg", data={"name": "npz", "path": str(root / "reg.npz")}),
    }
    dirs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nnlab.look.figures, "plot_curves", lambda *a, **k: None)
        mp.setattr(nnlab.look.figures, "plot_diagnostics", lambda *a, **k: None)
        for key, spec in specs.items():
            folder = root / "runs" / key  # one folder per group of runs for selective globbing
            run_dir, _, summary = run_experiment(nnlab.config.validate(spec), runs_dir=folder)
            assert summary["status"] == "completed"
            dirs[key] = run_dir
    return root, dirs


def runs_of(lab, *keys):
    return [load_run(lab[1][k]) for k in keys]


def file_numbers(run_dir: Path, metric: str) -> dict:
    """What the run's own files say, read without nnlab: csv and json modules only."""
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = [{k: (float(v) if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]
    summary = json.loads((run_dir / "summary.json").read_text())
    vals = [r[metric] for r in rows]
    pick = max if metric.endswith("acc") else min
    best = pick(vals)
    return {"best": best, "best_epoch": int(rows[vals.index(best)]["epoch"]),
            "final_train_loss": rows[-1]["train_loss"], "final_val_loss": rows[-1]["val_loss"],
            "test_acc": summary["test"]["acc"], "test_loss": summary["test"]["loss"], "epochs": len(rows),
            "seconds": summary["train_seconds"]}


# ------------------------------------------------------------------ differing keys


@pytest.mark.slow
def test_differing_keys_are_exactly_the_keys_that_differ(lab):
    comp = compare(runs_of(lab, "a", "b"))
    assert comp.keys == ["model.hidden", "train.optimizer.lr"]
    assert [r.settings for r in comp.rows] == [{"model.hidden": [16], "train.optimizer.lr": 0.01},
                                               {"model.hidden": [8], "train.optimizer.lr": 0.05}]
    assert [r.name for r in comp.rows] == ["a", "b"]  # names differ, yet 'name' is never a key
    # legend labels: optimizer settings before model ones
    assert label(comp.rows[0]) == "a (lr=0.01, hidden=[16])"
    assert label(comp.rows[1], most=1) == "b (lr=0.05)"


def test_a_different_optimizer_is_one_key_not_its_options(lab):
    comp = compare(runs_of(lab, "a", "sgd"))
    assert comp.keys == ["train.optimizer.name"]
    assert [r.settings["train.optimizer.name"] for r in comp.rows] == ["adam", "sgd"]
    assert label(comp.rows[1]) == "sgd (optimizer=sgd)"


def test_differing_keys_on_plain_configs():
    adam = {"name": "x", "train": {"optimizer": {"name": "adam", "lr": 0.1, "beta1": 0.9}}}
    adam_b = {"name": "y", "train": {"optimizer": {"name": "adam", "lr": 0.1, "beta1": 0.5}}}
    sgd = {"name": "z", "train": {"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}}
    sgd_plain = {"name": "w", "train": {"optimizer": {"name": "sgd", "lr": 0.1}}}
    # adam's beta1 is its default and sgd has none: not a difference; sgd's momentum 0.9 is not sgd's default
    assert differing_keys([adam, sgd]) == ["train.optimizer.momentum", "train.optimizer.name"]
    assert differing_keys([adam, sgd_plain]) == ["train.optimizer.name"]
    # two adam runs with different beta1 still differ in beta1, even next to an sgd run
    assert differing_keys([adam, adam_b, sgd_plain]) == ["train.optimizer.beta1", "train.optimizer.name"]
    # the same optimizer with an option only one of them has: the option is the difference
    assert differing_keys([sgd, sgd_plain]) == ["train.optimizer.momentum"]
    assert differing_keys([adam, adam]) == []
    assert differing_keys([{"seed": 1}, {"seed": 2}, {}]) == ["seed"]
    # a component switched on in one run only is one key, its own: its options are not differences
    assert differing_keys([{"model": {"batch_norm": False}}, {"model": {"batch_norm": {"momentum": 0.9}}}]) \
        == ["model.batch_norm"]
    # ... unless they differ among the runs that use it
    assert differing_keys([{"model": {"batch_norm": False}}, {"model": {"batch_norm": {"momentum": 0.9}}},
                           {"model": {"batch_norm": {"momentum": 0.5}}}]) \
        == ["model.batch_norm", "model.batch_norm.momentum"]
    assert differing_keys([]) == []


def test_an_option_of_one_component_only_is_shown_where_it_is_not_that_components_default():
    """step vs exponential vs constant: step's step_size (required) and each gamma are what the user chose;
    a default written as a whole number (t_mult: 1 for 1.0) is still the default."""
    def sched(**spec):
        return {"train": {"schedule": spec}}
    step = sched(name="step", step_size=2.0, gamma=0.5, unit="epoch", warmup=0)
    restarts = sched(name="warm_restart", t_0=10, t_mult=1, eta_min=0, unit="epoch", warmup=0)
    expo = sched(name="exponential", k=None, gamma=0.9, unit="epoch", warmup=0)
    const = sched(name="constant", unit="epoch", warmup=0)
    keys = differing_keys([step, expo, const])
    assert keys == ["train.schedule.gamma", "train.schedule.name", "train.schedule.step_size"]
    assert differing_keys([restarts, const]) == ["train.schedule.name", "train.schedule.t_0"]
    assert differing_keys([dict(restarts, train={"schedule": dict(restarts["train"]["schedule"], t_mult=2)}),
                           const]) == ["train.schedule.name", "train.schedule.t_0", "train.schedule.t_mult"]
    assert setting_groups(keys, step) == [("schedule", "step gamma=0.5 step_size=2")]
    assert setting_groups(keys, expo) == [("schedule", "exponential gamma=0.9")]
    assert setting_groups(keys, const) == [("schedule", "constant")]
    # a component this version does not know: its options are not guessed to be choices
    unknown = sched(name="from_an_older_nnlab", rate=0.5)
    assert differing_keys([unknown, const]) == ["train.schedule.name"]


def test_flatten_and_short_key():
    assert flatten({"train": {"optimizer": {"lr": 1, "name": "sgd"}, "x": {}}, "h": [1, 2]}) == \
        {"train.optimizer.lr": 1, "train.optimizer.name": "sgd", "train.x": {}, "h": [1, 2]}
    assert flatten(None) == {}
    assert (short_key("train.optimizer.name"), short_key("train.optimizer.lr"), short_key("seed")) == \
        ("optimizer", "lr", "seed")


def test_all_keys_lists_every_key_but_the_name(lab):
    runs = runs_of(lab, "a", "b")
    comp = compare(runs, all_keys=True)
    expected = sorted(set(flatten(runs[0].config)) | set(flatten(runs[1].config)))
    expected.remove("name")
    assert comp.keys == expected
    assert {"seed", "data.n_samples", "train.epochs", "train.optimizer.beta1", "model.hidden"} <= set(comp.keys)
    assert comp.rows[0].settings["train.epochs"] == 6 and comp.rows[1].settings["data.n_samples"] == 150


# ------------------------------------------------------------------ the numbers


@pytest.mark.parametrize("key", ["a", "b", "sgd"])
def test_numbers_equal_the_run_files(lab, key):
    run_dir = lab[1][key]
    expected = file_numbers(run_dir, "val_acc")
    comp = compare([load_run(run_dir)])
    assert comp.metric == "val_acc"
    (row,) = comp.rows
    assert row.values == expected
    assert row.status == "completed" and row.spread == {} and row.runs == [str(run_dir)]
    assert row.curve == [r["val_acc"] for r in json_rows(run_dir)]
    # the same numbers, exactly, in JSON and CSV
    (obj,) = strict_json(to_json(comp))
    assert obj["best_val_acc"] == expected["best"]
    assert {c: obj[c] for c in COLUMNS if c != "best"} == {c: expected[c] for c in COLUMNS if c != "best"}
    (line,) = list(csv.DictReader(io.StringIO(to_csv(comp))))
    assert float(line["best_val_acc"]) == expected["best"]
    for c in COLUMNS[1:]:
        assert float(line[c]) == expected[c], c
    assert line["runs"] == str(run_dir)


def json_rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: (float(v) if v else None) for k, v in r.items()} for r in csv.DictReader(f)]


def test_val_loss_metric_picks_the_minimum(lab):
    run_dir = lab[1]["b"]
    expected = file_numbers(run_dir, "val_loss")
    comp = compare([load_run(run_dir)], metric="val_loss")
    assert comp.metric == "val_loss"
    assert comp.rows[0].values["best"] == expected["best"] == min(r["val_loss"] for r in json_rows(run_dir))
    assert comp.rows[0].values["best_epoch"] == expected["best_epoch"]
    assert "best_val_loss" in strict_json(to_json(comp))[0]
    train = compare([load_run(run_dir)], metric="train_acc").rows[0].values
    assert train["best"] == max(r["train_acc"] for r in json_rows(run_dir))


def test_seed_groups_are_mean_and_stdev(lab):
    keys = ("s0", "s1", "s2")
    runs = runs_of(lab, *keys)
    per_run = [file_numbers(lab[1][k], "val_acc") for k in keys]
    comp = compare(runs)
    assert comp.keys == []  # only the seed differs, and the group says that
    (row,) = comp.rows
    assert row.name == "s (3 seeds)" and row.seeds == [0, 1, 2] and row.status == "completed"
    assert row.runs == [str(lab[1][k]) for k in keys]
    for col in COLUMNS:
        nums = [p[col] for p in per_run]
        assert row.values[col] == pytest.approx(statistics.fmean(nums), rel=1e-12, abs=1e-15), col
        assert row.spread[col] == pytest.approx(statistics.stdev(nums), rel=1e-9, abs=1e-15), col
    assert row.spread["best"] > 0 or len({p["best"] for p in per_run}) == 1
    (obj,) = strict_json(to_json(comp))
    assert obj["run"] == "s (3 seeds)" and obj["seeds"] == [0, 1, 2]
    assert obj["std"]["best_val_acc"] == pytest.approx(statistics.stdev([p["best"] for p in per_run]))
    assert " ± " in to_markdown(comp)

    flat = compare(runs, group=False)
    assert flat.keys == ["seed"] and [r.name for r in flat.rows] == ["s", "s", "s"]
    assert [r.values for r in flat.rows] == per_run


def test_seed_groups_next_to_other_runs(lab):
    comp = compare(runs_of(lab, "a", "s0", "s1", "s2"))
    assert comp.keys == ["model.hidden"]
    assert [(r.name, r.settings) for r in comp.rows] == [("a", {"model.hidden": [16]}),
                                                         ("s (3 seeds)", {"model.hidden": [12]})]


def test_the_same_seed_twice_is_two_runs_not_two_seeds(lab, tmp_path):
    copy_dir = tmp_path / "copy"
    shutil.copytree(lab[1]["a"], copy_dir)
    row = compare([load_run(lab[1]["a"]), load_run(copy_dir)]).rows[0]
    assert row.name == "a (2 runs)" and row.spread["best"] == 0.0


def test_sort_and_top(lab):
    runs = runs_of(lab, "a", "b", "sgd")
    test_accs = [file_numbers(r.path, "val_acc")["test_acc"] for r in runs]
    val_losses = [file_numbers(r.path, "val_loss")["best"] for r in runs]
    assert len(set(test_accs)) == 3 and len(set(val_losses)) == 3, "the fixture runs must differ"
    by_test = [r.name for _, r in sorted(zip(test_accs, runs), key=lambda t: -t[0])]
    assert [r.name for r in compare(runs, sort="test_acc").rows] == by_test
    # test accuracy is an accuracy whatever the metric: best first with --metric val_loss too
    assert [r.name for r in compare(runs, metric="val_loss", sort="test_acc").rows] == by_test
    assert [r.name for r in compare(runs, metric="val_loss", sort="best").rows] == \
        [r.name for _, r in sorted(zip(val_losses, runs), key=lambda t: t[0])]
    assert [r.name for r in compare(runs, sort="name").rows] == ["a", "b", "sgd"]
    top = compare(runs, sort="test_acc", top=1)
    assert [r.name for r in top.rows] == by_test[:1]
    assert len(compare(runs, top=2).rows) == 2
    with pytest.raises(ValueError, match="unknown column 'nonsense'"):
        compare(runs, sort="nonsense")


# ------------------------------------------------------------------ sparkline


def test_sparkline_hand_computed():
    assert sparkline([0, 1]) == "▁█"
    assert sparkline([1, 0]) == "█▁"
    assert sparkline([3.5, 3.5, 3.5]) == "▄▄▄"
    assert sparkline([None, 0, None, float("nan"), 1, float("inf")]) == "▁█"
    assert sparkline(list(range(8))) == "▁▂▃▄▅▆▇█"
    assert sparkline([0, 0.5, 1]) == "▁▅█"
    assert sparkline([]) == "" and sparkline([None, float("nan")]) == ""
    # 31 values into 16: every second one (0, 2, ..., 30), bin int(v / 30 * 8), capped at 7
    assert sparkline(list(range(31)), width=16) == "▁▁▂▂▃▃▄▄▅▅▆▆▇▇██"
    assert sparkline(list(range(100)), width=12)[-1] == "█" and len(sparkline(list(range(100)), width=12)) == 12
    assert len(sparkline(list(range(16)), width=16)) == 16
    assert sparkline([0, 1, 2], width=1) == "▄" and sparkline([0, 1], width=0) == ""


# ------------------------------------------------------------------ regression


def test_regression_runs_default_to_val_loss(lab):
    run = load_run(lab[1]["reg"])
    assert run.task == "regression"
    comp = compare([run])
    assert comp.metric == "val_loss"
    expected = file_numbers(run.path, "val_loss") | {"test_acc": None}
    assert comp.rows[0].values == expected
    (obj,) = strict_json(to_json(comp))
    assert obj["metric"] == "val_loss" and obj["best_val_loss"] == expected["best"] and obj["test_acc"] is None
    # mixed with classification runs, accuracy wins the default
    assert compare([run, load_run(lab[1]["a"])]).metric == "val_acc"


# ------------------------------------------------------------------ broken folders


@pytest.fixture
def broken(lab, tmp_path):
    """A folder with good runs and every kind of broken one."""
    src = lab[1]["a"]
    d = tmp_path / "mix"
    d.mkdir()
    shutil.copytree(src, d / "good")
    (d / "empty").mkdir()
    (d / "only_config").mkdir()
    shutil.copy(src / "config.yaml", d / "only_config" / "config.yaml")
    # killed mid-row: metrics.csv cut inside its last line, summary still says running, pid gone
    shutil.copytree(src, d / "killed")
    text = (src / "metrics.csv").read_bytes()
    (d / "killed" / "metrics.csv").write_bytes(text[:-9])
    summary = json.loads((src / "summary.json").read_text())
    write_json(d / "killed" / "summary.json", {**summary, "status": "running", "pid": DEAD_PID,
                                               "host": socket.gethostname()})
    shutil.copytree(src, d / "damaged")
    (d / "damaged" / "summary.json").write_text('{"status": "completed", "test": {"acc": 0.')
    shutil.copytree(src, d / "live")
    write_json(d / "live" / "summary.json", {**summary, "status": "running", "pid": os.getpid(),
                                             "host": socket.gethostname()})
    shutil.copytree(src, d / "elsewhere")
    write_json(d / "elsewhere" / "summary.json", {**summary, "status": "running", "pid": DEAD_PID,
                                                  "host": "another-host.invalid"})
    shutil.copytree(src, d / "bad_csv")
    (d / "bad_csv" / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage")
    shutil.copytree(src, d / "bad_config")
    (d / "bad_config" / "config.yaml").write_text("- just\n- a list\n")
    shutil.copytree(src, d / "odd_status")
    write_json(d / "odd_status" / "summary.json", {**summary, "status": "weird"})
    shutil.copytree(src, d / "json_list")
    (d / "json_list" / "summary.json").write_text("[1, 2]")
    return d, len(text.decode().splitlines()) - 1  # epochs in the good run


def test_find_runs_reads_broken_folders_without_raising(broken):
    d, epochs = broken
    found, warnings = find_runs([d])
    by = {r.path.name: r for r in found}
    assert sorted(by) == ["bad_config", "bad_csv", "damaged", "elsewhere", "good", "json_list", "killed", "live",
                          "odd_status", "only_config"]
    assert by["good"].status == "completed" and len(by["good"].metrics) == epochs
    assert by["only_config"].status == "incomplete" and by["only_config"].metrics == []
    assert by["only_config"].config["name"] == "a" and by["only_config"].name == "a"
    # the complete rows are read, the partial last line dropped
    assert by["killed"].status == "crashed"
    assert by["killed"].metrics == by["good"].metrics[:-1]
    assert by["damaged"].status == "incomplete" and by["damaged"].summary == {}
    assert by["live"].status == "running"
    assert by["elsewhere"].status == "running"  # another host: cannot tell, so not called crashed
    assert by["bad_csv"].metrics == []
    assert by["bad_config"].config is None and by["bad_config"].name == "bad_config"
    assert by["odd_status"].status == "incomplete"
    assert by["json_list"].status == "incomplete" and by["json_list"].summary == {}
    assert sorted(warnings) == sorted([f"{d / 'bad_config'}: config.yaml is not a mapping, ignored",
                                       f"{d / 'bad_csv'}: metrics.csv is unreadable",
                                       f"{d / 'damaged'}: summary.json is damaged",
                                       f"{d / 'json_list'}: summary.json is damaged"])


def test_an_empty_folder_is_not_a_run(broken):
    d, _ = broken
    assert load_run(d / "empty") is None
    found, warnings = find_runs([d / "empty"])
    assert found == [] and warnings == [f"{d / 'empty'}: not a run folder, skipped"]


def test_compare_on_good_and_broken_runs_never_raises(broken):
    d, epochs = broken
    found, _ = find_runs([d])
    comp = compare(found, group=False)
    assert len(comp.rows) == len(found)
    rows = {r.runs[0].rsplit(os.sep, 1)[-1]: r for r in comp.rows}
    assert rows["only_config"].values["best"] is None and rows["only_config"].values["epochs"] == 0
    assert rows["killed"].values["epochs"] == epochs - 1
    assert rows["damaged"].values["test_acc"] is None
    for text in (to_json(comp), to_csv(comp), to_markdown(comp)):
        assert text
    assert len(strict_json(to_json(comp))) == len(found)
    grouped = compare(found)  # groups by config: the damaged-config run stays on its own
    assert sum(len(r.runs) for r in grouped.rows) == len(found)
    assert compare([]).rows == []


def test_summary_values_of_the_wrong_type_do_not_break_reading(lab, tmp_path):
    src = lab[1]["a"]
    summary = json.loads((src / "summary.json").read_text())
    odd = {**summary, "test": {"loss": "inf", "acc": 0.5}, "started": 12345, "data": [1], "wall_seconds": "x",
           "train_seconds": "abc"}
    folders = []
    for i, extra in enumerate([{}, {"test": [0.1]}]):
        d = tmp_path / f"2024-05-06_07-08-0{i}_odd"
        shutil.copytree(src, d)
        write_json(d / "summary.json", {**odd, **extra})
        folders.append(d)
    runs, warnings = find_runs(folders)
    assert [r.status for r in runs] == ["completed", "completed"]
    # each wrong-typed field is dropped with one warning naming it
    common = ["summary.json: field 'started' is not text, ignored", "summary.json: field 'data' is not a mapping, ignored",
              "summary.json: field 'wall_seconds' is not a number, ignored",
              "summary.json: field 'train_seconds' is not a number, ignored"]
    assert sorted(warnings) == sorted([f"{folders[0]}: {w}" for w in common] + [f"{folders[1]}: {w}" for w in common]
                                      + [f"{folders[1]}: summary.json: field 'test' is not a mapping of numbers, ignored"])
    assert "started" not in runs[0].summary and runs[0].summary["test"] == {"loss": float("inf"), "acc": 0.5}
    r = runs[0]
    assert r.started.isoformat() == "2024-05-06T07:08:00"  # from the folder name
    assert r.task == "classification"  # from the metrics
    assert r.seconds == pytest.approx(sum(m["seconds"] for m in r.metrics))
    one = compare([r]).rows[0].values
    assert one["test_loss"] == float("inf") and one["test_acc"] == 0.5 and one["seconds"] == r.seconds
    both = compare(runs)  # the same config twice: a group, whose means skip what is not a finite number
    (row,) = both.rows
    assert row.values["test_acc"] == 0.5 and row.values["test_loss"] is None
    obj = strict_json(to_json(compare([r])))[0]
    assert obj["test_loss"] == "inf"


def test_json_of_a_nan_loss_is_still_json(tmp_path):
    d = tmp_path / "nanrun"
    d.mkdir()
    (d / "metrics.csv").write_text("epoch,train_loss,train_acc,val_loss,val_acc\n1,0.9,0.5,0.8,0.5\n"
                                   "2,0.7,0.6,nan,0.4\n")
    comp = compare([load_run(d)])
    (obj,) = strict_json(to_json(comp))
    assert obj["final_val_loss"] is None and obj["final_train_loss"] == 0.7 and obj["best_val_acc"] == 0.5
    assert obj["best_epoch"] == 1


# ------------------------------------------------------------------ the command line


def test_cli_compare_formats(lab):
    a, b = lab[1]["a"], lab[1]["b"]
    for fmt in ("table", "csv", "json", "markdown"):
        r = invoke("compare", a, b, "--format", fmt)
        assert r.exit_code == 0, (fmt, r.output, r.stderr)
        assert "Traceback" not in r.output
    objs = strict_json(invoke("compare", a, b, "--format", "json").stdout)
    assert [o["run"] for o in objs] == ["a", "b"]
    for o, folder in zip(objs, (a, b)):
        expected = file_numbers(folder, "val_acc")
        assert set(o["settings"]) == {"model.hidden", "train.optimizer.lr"}
        assert o["best_val_acc"] == expected["best"] and o["test_acc"] == expected["test_acc"]
        assert o["epochs"] == expected["epochs"] and o["runs"] == [str(folder)]
    assert objs[1]["settings"] == {"model.hidden": [8], "train.optimizer.lr": 0.05}

    rows = list(csv.DictReader(io.StringIO(invoke("compare", a, b, "--format", "csv").stdout)))
    assert [(r["run"], r["model.hidden"], r["train.optimizer.lr"]) for r in rows] == \
        [("a", "[16]", "0.01"), ("b", "[8]", "0.05")]

    md = invoke("compare", a, b, "--format", "markdown").stdout.splitlines()
    assert md[0].startswith("| run | status | model.hidden | train.optimizer.lr | best_val_acc |")
    assert len(md) == 4 and md[2].startswith("| a | completed | [16] | 0.01 |")

    # in a terminal: each run's settings grouped by component, after its results
    table = invoke("compare", a, b, env={"COLUMNS": "200", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"}).stdout
    assert re.search(r"^a\s+completed\s.*\soptimizer: adam lr=0\.01; model: hidden=\[16\]$", table, re.M)
    assert re.search(r"^b\s+completed\s.*\soptimizer: adam lr=0\.05; model: hidden=\[8\]$", table, re.M)
    # piped: tab-separated, the same columns on every line
    piped = invoke("compare", a, b).stdout.splitlines()
    assert piped[0].split("\t")[:3] == ["run", "status", "best_val_acc"]
    assert len({line.count("\t") for line in piped}) == 1
    assert piped[1].split("\t")[-1] == "optimizer: adam lr=0.01; model: hidden=[16]"


def test_cli_compare_groups_and_no_group(lab):
    folder = lab[0] / "runs"
    objs = strict_json(invoke("compare", folder / "s0", folder / "s1", folder / "s2", "--format", "json").stdout)
    assert [o["run"] for o in objs] == ["s (3 seeds)"]
    objs = strict_json(invoke("compare", folder / "s0", folder / "s1", folder / "s2", "--format", "json",
                              "--no-group").stdout)
    assert [o["settings"] for o in objs] == [{"seed": 0}, {"seed": 1}, {"seed": 2}]


@pytest.mark.slow
def test_cli_compare_plot_writes_a_png(lab, tmp_path):
    out = tmp_path / "cmp.png"
    r = invoke("compare", lab[1]["a"], lab[1]["b"], "--plot", out)
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {out}" in r.stderr


def test_cli_compare_bad_sort_is_one_line_exit_2(lab):
    r = invoke("compare", lab[1]["a"], "--sort", "nonsense")
    assert r.exit_code == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "unknown column 'nonsense'" in r.stderr


def test_cli_compare_skips_non_runs_with_a_warning(lab, tmp_path):
    (tmp_path / "empty").mkdir()
    r = invoke("compare", lab[1]["a"], tmp_path / "empty", "--format", "json")
    assert r.exit_code == 0
    assert [o["run"] for o in strict_json(r.stdout)] == ["a"]
    assert "not a run folder, skipped" in r.stderr
    # nothing at all to compare: a one-line message and exit 1 (as nnlab report), so scripts notice
    r = invoke("compare", tmp_path / "empty")
    assert r.exit_code == 1 and "no runs found" in r.stderr and "Traceback" not in r.output


@pytest.fixture
def history(lab, tmp_path):
    """Three copies of a run with known start times, one of them diverged."""
    src = lab[1]["a"]
    summary = json.loads((src / "summary.json").read_text())
    d = tmp_path / "hist"
    for name, started, status in [("r_old", "2024-01-01T10:00:00", "completed"),
                                  ("r_new", "2024-03-01T10:00:00", "completed"),
                                  ("r_mid", "2024-02-01T10:00:00", "diverged")]:
        shutil.copytree(src, d / name)
        write_json(d / name / "summary.json", {**summary, "started": started, "status": status})
    return d


def test_cli_runs_lists_newest_first_and_filters(history):
    r = invoke("runs", history, env={"COLUMNS": "200", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert r.exit_code == 0, r.stderr
    names = re.findall(r"r_(?:old|mid|new)", r.stdout)
    assert names == ["r_new", "r_mid", "r_old"]
    assert "3 runs in" in r.stdout
    piped = invoke("runs", history).stdout.splitlines()  # for cut and awk: a header and one line a run
    assert piped[0] == "status\tepochs\ttrain s\tbest\ttest acc\trun folder"
    assert [line.split("\t")[-1] for line in piped[1:]] == ["r_new", "r_mid", "r_old"]
    r = invoke("runs", history, "--status", "diverged", env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert re.findall(r"r_(?:old|mid|new)", r.stdout) == ["r_mid"] and "diverged" in r.stdout
    r = invoke("runs", history, "--status", "nonsense")
    assert r.exit_code == 2


def _flat(text):
    return re.sub(r"[│╭╮╰╯─\s]+", " ", text)


def test_cli_show_prints_the_diagnosis(lab, tmp_path):
    run_dir = lab[1]["a"]
    summary = json.loads((run_dir / "summary.json").read_text())
    r = invoke("show", run_dir, env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.stderr
    out = _flat(r.stdout)
    # six epochs of a small net: training accuracy is still low (deterministic with the seed)
    assert [f["code"] for f in summary["diagnosis"]] == ["poor_training"]
    assert re.search(r"Training accuracy is only \d+\.\d% after 6 epochs: this is an optimization problem", out)
    assert _flat(summary["diagnosis"][0]["message"]) in out
    assert "completed" in out and "config" in out and "train loss" in out

    # a diagnosis that names a problem: this copy says so in its summary
    copy_dir = tmp_path / "told"
    shutil.copytree(run_dir, copy_dir)
    message = "The training loss went up early, from 1 in epoch 1 to 2 in epoch 2: the learning rate is too high."
    write_json(copy_dir / "summary.json", {**summary, "diagnosis": [{"code": "loss_up_early", "message": message,
                                                                     "evidence": {}}]})
    r = invoke("show", copy_dir, "--no-config", env={"COLUMNS": "160"})
    assert r.exit_code == 0 and _flat(message) in _flat(r.stdout)


def test_cli_show_rediagnoses_a_crashed_run(lab, tmp_path):
    run_dir = tmp_path / "crashed"
    shutil.copytree(lab[1]["a"], run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [{"epoch": i + 1, "train_loss": loss, "train_acc": 0.5, "val_loss": loss, "val_acc": 0.5}
            for i, loss in enumerate([1.0, 2.0, 2.5, 2.0])]
    text = "epoch,train_loss,train_acc,val_loss,val_acc\n" + "".join(
        f"{r['epoch']},{r['train_loss']},{r['train_acc']},{r['val_loss']},{r['val_acc']}\n" for r in rows)
    (run_dir / "metrics.csv").write_text(text)
    write_json(run_dir / "summary.json", {**summary, "status": "running", "pid": DEAD_PID,
                                          "host": socket.gethostname(), "diagnosis": []})
    r = invoke("show", run_dir, env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.stderr
    out = _flat(r.stdout)
    assert "crashed" in out
    assert "The training loss went up early, from 1 in epoch 1 to 2.5 in epoch 3" in out


def test_cli_show_on_a_non_run_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing"):
        r = invoke("show", target)
        assert r.exit_code == 1
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "not a run folder" in r.stderr


# ------------------------------------------------------------------ text curves (nnlab show)


def test_line_chart_hand_computed():
    from nnlab.look.textplot import line_chart

    lines = line_chart({"a": [0, 1], "b": [None, float("nan")]}, width=20, height=3)
    assert lines == [
        "        1 ┤" + " " * 19 + "•",
        "      0.5 ┤" + " " * 20,
        "        0 ┤•" + " " * 19,
        " " * 10 + "└" + "─" * 20,
        " " * 11 + "epoch 1" + " " * 12 + "2",  # the last epoch's number under the last column
        " " * 11 + "• a   x b",
    ]
    assert len(lines[4]) == len(lines[0])


def test_line_chart_log_scale_constant_and_empty():
    from nnlab.look.textplot import line_chart

    lines = line_chart({"loss": [100.0, 10.0, 1.0, 0.0, -1.0]}, width=5, height=3, log=True)
    assert [l[:11] for l in lines[:3]] == ["      100 ┤", "       10 ┤", "        1 ┤"]
    assert [l[11:] for l in lines[:3]] == ["•    ", " •   ", "  •  "]  # 0 and -1 have no logarithm
    flat = line_chart({"acc": [0.5, 0.5, 0.5]}, width=3, height=3)
    assert flat[1] == "      0.5 ┤•••"
    assert line_chart({}) == ["(nothing to plot)"] == line_chart({"a": [None]}) == \
        line_chart({"a": [0.0]}, log=True)


HEADER = "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n"


def folder_run(root, folder, name="g", seed=0, status="completed", val_accs=(0.5, 0.6), best=None, **config):
    """A run folder written by hand: config, metrics.csv with these val accuracies, summary.json."""
    d = root / folder
    d.mkdir(parents=True)
    cfg = {**raw(), "name": name, "seed": seed, **config}
    (d / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (d / "metrics.csv").write_text(HEADER + "".join(
        f"{i + 1},0.01,{1 - a},{a},{1.1 - a},{a},0.1\n" for i, a in enumerate(val_accs)))
    summary = {"status": status, "name": name}
    if best is not None:
        summary["best"] = best
    write_json(d / "summary.json", summary)
    return d


def test_group_only_completed_runs_with_the_same_name_that_differ_in_the_seed(tmp_path):
    folders = [folder_run(tmp_path, "s0", seed=0, val_accs=(0.5, 0.6)),
               folder_run(tmp_path, "s1", seed=1, val_accs=(0.5, 0.8)),
               folder_run(tmp_path, "other", name="h", seed=2, val_accs=(0.5, 0.9)),  # same config, other name
               folder_run(tmp_path, "crash", seed=3, status="failed", val_accs=(0.1,)),
               folder_run(tmp_path, "div", seed=4, status="diverged", val_accs=(0.2,))]
    runs, warnings = find_runs(folders)
    assert warnings == []
    comp = compare(runs, metric="val_acc")
    assert [(r.name, r.status, r.seeds) for r in comp.rows] == [
        ("g (2 seeds)", "completed", [0, 1]), ("h", "completed", [2]), ("g", "failed", [3]), ("g", "diverged", [4])]
    assert comp.rows[0].values["best"] == pytest.approx(0.7)  # the mean of 0.6 and 0.8, the crash not in it
    assert comp.rows[2].values["best"] == pytest.approx(0.1)
    r = invoke("compare", *folders, "--format", "json")
    assert [o["run"] for o in strict_json(r.stdout)] == ["g (2 seeds)", "h", "g", "g"]


def test_compare_takes_the_best_epoch_recorded_in_summary(tmp_path):
    # early stopping with min_delta: epoch 3's 0.705 did not count as better than epoch 2's 0.70
    recorded = {"metric": "val_acc", "epoch": 2, "val_acc": 0.7, "val_loss": 0.4}
    d = folder_run(tmp_path, "es", val_accs=(0.5, 0.7, 0.705), best=recorded)
    (run,), _ = find_runs([d])
    assert run_values_of(run, "val_acc")[:2] == (0.7, 2)
    # another metric than the recorded one: found in metrics.csv
    assert run_values_of(run, "train_acc")[:2] == (0.705, 3)
    assert run_values_of(run, "val_loss")[:2] == (pytest.approx(1.1 - 0.705), 3)
    # an old or crashed run without a usable best: recomputed
    old = folder_run(tmp_path, "old", val_accs=(0.5, 0.7, 0.705), best={"metric": "val_acc", "epoch": 2})
    (run_old,), warnings = find_runs([old])
    assert run_values_of(run_old, "val_acc")[:2] == (0.705, 3)
    assert warnings == [f"{old}: summary.json: field 'best' has no number for val_acc, ignored"]
    # runs and compare agree
    out = invoke("compare", d, "--format", "csv").stdout
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["best_val_acc"], row["best_epoch"]) == ("0.7", "2")
    assert "val acc 70.0%" in invoke("runs", tmp_path, env={"COLUMNS": "200"}).stdout


def run_values_of(run, metric):
    from nnlab.runs.compare import run_values

    v = run_values(run, metric)
    return v["best"], v["best_epoch"], v["epochs"]
