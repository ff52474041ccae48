"""Damaged run folders (wrong-typed summary.json and config.yaml fields, mangled CSVs) never crash a reader.

Every command that reads run folders (runs, show, compare in all formats, report) must degrade to
warnings and 'damaged' values: one bad run may not kill the listing, and there is never a traceback.
"""

from __future__ import annotations

import pytest

import json
import math
import shutil
import tempfile
from pathlib import Path

import helpers
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.runs import find_runs, write_json
from nnlab.runs.compare import compare, to_csv, to_json, to_markdown

CONFIG = {"name": "good", "seed": 0, "data": {"name": "spiral", "n_samples": 100},
          "model": {"hidden": [8], "activation": "relu"},
          "train": {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.01},
                    "schedule": {"name": "constant"}}}
METRICS = ("epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n"
           "1,0.01,1.2,0.40,1.3,0.35,0.1\n2,0.01,0.9,0.60,1.0,0.55,0.1\n3,0.01,0.7,0.70,0.9,0.60,0.1\n")
DIAGNOSTICS = ("epoch,layer,grad_norm,dead_fraction,saturated_fraction\n"
               "1,dense1,0.5,0.1,\n1,dense2,0.2,,\n2,dense1,0.4,0.2,\n2,dense2,0.1,,\n")
SUMMARY = {"name": "good", "status": "completed", "started": "2026-01-02T03:04:05", "seed": 0, "pid": 1,
           "host": "elsewhere", "pid_start": 5, "command": "nnlab train", "versions": {"python": "3"},
           "data": {"name": "spiral", "task": "classification", "n_train": 60, "n_val": 20, "n_test": 20},
           "n_params": 42, "epochs": 3, "message": None,
           "best": {"metric": "val_acc", "epoch": 3, "val_acc": 0.6, "val_loss": 0.9, "lr": 0.01},
           "final": {"train_loss": 0.7, "val_loss": 0.9}, "test": {"loss": 0.95, "acc": 0.58},
           "train_seconds": 0.3, "samples_per_second": 600.0, "stopped_early": False, "restored_epoch": None,
           "diagnosis": [{"code": "x", "message": "all fine", "evidence": {}}], "wall_seconds": 0.4}

# JSON-like values: what a hand-edited or corrupted file could hold
scalars = (st.none() | st.booleans() | st.integers(-10 ** 20, 10 ** 20) | st.floats()
           | st.sampled_from(["NaN", "inf", "-inf", "[bold]x[/]", "", "val_acc", "completed"]) | st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6) | st.sampled_from(["metric", "epoch", "message",
                                                                                     "val_acc", "acc", "loss"]),
                                             inner, max_size=3), max_leaves=8)
summary_damage = st.dictionaries(st.sampled_from(sorted(SUMMARY) + ["status"]), json_values, max_size=4)
config_damage = st.dictionaries(st.sampled_from(["name", "seed", "data", "model", "train"]), json_values, max_size=3)


def csv_damage(text: str):
    return st.one_of(
        st.just(text),
        st.integers(0, len(text)).map(lambda n: text[:n]),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.just("a,b,c\n1,2,3\n"),
        st.just(text.replace("epoch", "epoc")),
        st.just(text.replace("0.1\n", "x\n", 1)),
        st.just(text.splitlines()[0] + "\n" + "inf,nan,1e999,-1,2,3,4\n"),
    )


def write_run(folder: Path, summary, config, metrics: str, diagnostics: str, raw_config: str | None = None):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(raw_config if raw_config is not None else
                                        yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (folder / "metrics.csv").write_text(metrics, encoding="utf-8", errors="surrogateescape")
    (folder / "diagnostics.csv").write_text(diagnostics, encoding="utf-8", errors="surrogateescape")
    if isinstance(summary, dict):
        write_json(folder / "summary.json", summary)
    else:
        (folder / "summary.json").write_text(json.dumps(summary))


def ok(result) -> None:
    """No traceback: no exception but SystemExit, and an exit code a user can read (0 or 1)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    assert "Traceback" not in result.output


def invoke(*args):
    return helpers.invoke(*args, env={"COLUMNS": "140"})


fuzz = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@fuzz
@given(summary=summary_damage, whole=st.none() | json_values, config=config_damage,
       config_whole=st.none() | json_values, metrics=csv_damage(METRICS), diagnostics=csv_damage(DIAGNOSTICS))
@pytest.mark.slow
def test_damaged_folders_never_crash_the_readers(summary, whole, config, config_whole, metrics, diagnostics):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        good = root / "2026-01-01_00-00-00_good"
        write_run(good, SUMMARY, CONFIG, METRICS, DIAGNOSTICS)
        bad = root / "2026-01-02_00-00-00_bad"
        write_run(bad, whole if whole is not None else {**SUMMARY, **summary},
                  config_whole if config_whole is not None else {**CONFIG, **config}, metrics, diagnostics)
        found, warnings = find_runs([root])
        assert len(found) == 2
        for metric in (None, "val_acc", "train_loss"):
            for group in (True, False):
                comp = compare(found, metric=metric, group=group)
                to_csv(comp), to_markdown(comp)
                json.loads(to_json(comp))
        for sort in ("best", "name", "seconds"):
            compare(found, sort=sort)
        r = invoke("runs", root)
        ok(r)
        assert r.exit_code == 0 and "2026-01-01_00-00-00_good" in r.stdout  # one bad run does not hide the rest
        ok(invoke("show", bad))
        for fmt in ("table", "csv", "json", "markdown"):
            ok(invoke("compare", good, bad, "--format", fmt))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(summary=summary_damage, config=config_damage, metrics=csv_damage(METRICS),
       diagnostics=csv_damage(DIAGNOSTICS), raw_config=st.none() | st.text(max_size=30))
@pytest.mark.slow
def test_damaged_folders_never_crash_the_report(summary, config, metrics, diagnostics, raw_config):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        write_run(root / "good", SUMMARY, CONFIG, METRICS, DIAGNOSTICS)
        write_run(root / "bad", {**SUMMARY, **summary}, {**CONFIG, **config}, metrics, diagnostics, raw_config)
        r = invoke("report", root / "good", root / "bad", "-o", Path(tmp) / "r.html")
        ok(r)
        assert r.exit_code == 0 and (Path(tmp) / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_wrong_types_become_warnings_not_crashes(tmp_path):
    """Examples the fuzzing above found, pinned: the field is dropped with a warning naming it."""
    bad = tmp_path / "bad"
    write_run(bad, {**SUMMARY, "best": "NaN", "test": {"acc": "x", "loss": 0.5}, "train_seconds": [1],
                    "diagnosis": [{"message": 3}, "x", {"message": "[red]kept[/]"}], "epochs": 2.5,
                    "pid": "1", "started": "[/]"},
              {**CONFIG, "train": "fast"}, METRICS, DIAGNOSTICS)
    (run,), warnings = find_runs([bad])
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "config.yaml 'train' is not a mapping, ignored",
        "summary.json: field 'pid' is not a whole number, ignored",
        "summary.json: field 'epochs' is not a whole number, ignored",
        "summary.json: field 'best' is not a mapping, ignored",
        "summary.json: field 'test.acc' is not a number, ignored",
        "summary.json: field 'train_seconds' is not a number, ignored",
        "summary.json: a 'diagnosis' entry without a text message, ignored",
        "summary.json: a 'diagnosis' entry without a text message, ignored",
    ]
    assert run.config is None and run.status == "completed" and run.summary["test"] == {"loss": 0.5}
    assert run.summary["diagnosis"] == [{"message": "[red]kept[/]", "code": ""}] and "best" not in run.summary
    assert run.started is None  # '[/]' is no date; the folder name is none either
    r = invoke("show", bad)
    ok(r)
    assert r.exit_code == 0 and "• [red]kept[/]" in r.stdout
    assert "warning:" in r.stderr and "field 'best' is not a mapping" in r.stderr
    r = invoke("runs", tmp_path)  # piped: a header row and one tab-separated line
    assert r.exit_code == 0 and r.stdout.splitlines()[1].endswith("\tbad")
    assert math.isclose(compare([run]).rows[0].values["test_loss"], 0.5)


def test_best_without_a_known_metric_is_ignored(tmp_path):
    bad = tmp_path / "bad"
    write_run(bad, {**SUMMARY, "best": {"metric": ["val_acc"], "val_acc": 1}}, CONFIG, METRICS, DIAGNOSTICS)
    (run,), warnings = find_runs([bad])
    assert warnings == [f"{bad}: summary.json: field 'best' names no known metric "
                        "(val_acc, val_loss, train_acc, train_loss), ignored"]
    assert "best" not in run.summary
    shutil.rmtree(bad)
