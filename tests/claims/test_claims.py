"""Claim files (nnlab.claims.claim) and running a claim (nnlab.claims.run) end to end on a tiny data set.

A claim quotes its note word for word, so each test claim gets a notes/ folder beside it with the quoted
sentence.  Runs are tiny (blobs, one hidden layer of 8, 2-3 epochs); still, a claim is 16 runs or more, so the
tests that run one are slow, and the inner loop checks the claim files, the shared starts and unique().
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import invoke
from nnlab.claims import claim_metrics
from nnlab.claims.claim import MAX_WIDEN, load_claim
from nnlab.claims.run import Progress, made_in_claim_folder, read_run_data, read_values, run_claim, unique
from nnlab.config.schema import validate
from nnlab.errors import ConfigError
from nnlab.sweep.record import read_sweep

NOTE = "007_test.txt"
SENTENCE = "ReLU 比 sigmoid 训练得更好。"
BASE = {"data": {"name": "blobs", "n_samples": 120, "classes": 3, "val_fraction": 0.25},
        "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 3, "batch_size": 30, "optimizer": {"name": "sgd", "lr": 0.1}}}
QUIET = Progress(say=lambda s: None)
SLOW_FIXTURES = ("finished",)  # the full tiny claim, run once for the module (88 runs): seconds


def claim_doc(**top) -> dict:
    doc = {"claim": {"title": "ReLU beats sigmoid",
                     "source": {"note": NOTE, "section": "activations", "original": SENTENCE},
                     "quote": "ReLU trains better than sigmoid.", "design": "Both at their own best rate.",
                     "expect": [{"metric": "test_acc", "better": "relu", "than": "sigmoid"}]},
           "config": copy.deepcopy(BASE),
           "variants": {"relu": {"model.activation": "relu"}, "sigmoid": {"model.activation": "sigmoid"}},
           "tune": {"train.optimizer.lr": [0.03, 0.3]},
           "regimes": {"small": {}, "wide": {"model.hidden": [16]}},
           "seeds": 10, "quick": {"train.epochs": 2}}
    doc.update(top)
    return doc


def write(tmp_path: Path, doc: dict, name: str = "tiny") -> Path:
    (tmp_path / "notes").mkdir(exist_ok=True)
    (tmp_path / "notes" / NOTE).write_text(f"第七章\n{SENTENCE}\n其他。\n", encoding="utf-8")
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return p


def errors_of(tmp_path, doc, quick: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_claim(write(tmp_path, doc), quick=quick)
    for line in exc.value.lines:
        assert "\n" not in line
    return exc.value.lines


# ------------------------------------------------------------------ the file


def test_a_valid_claim_loads_with_its_variants_regimes_checks_and_grids(tmp_path):
    c = load_claim(write(tmp_path, claim_doc()))
    assert c.id == "tiny" and [v.name for v in c.variants] == ["relu", "sigmoid"]
    assert [r.name for r in c.regimes] == ["small", "wide"] and c.seeds == list(range(10))
    assert c.tune_seeds == [100, 101] and not set(c.seeds) & set(c.tune_seeds)
    assert c.original == [SENTENCE] and c.extension is None and c.max_widen == MAX_WIDEN
    assert c.grid(c.regimes[0], c.variants[0]) == {"train.optimizer.lr": [0.03, 0.3]}
    assert c.checks[0].text() == "test_acc: relu better than sigmoid (higher is better)"
    assert c.checks[0].key == "test_acc" and c.metric_keys() == ["test_acc", "val_acc"]
    j = c.as_json()
    assert j["checks"][0]["higher"] is True and j["checks"][0]["percent"] is True and j["mode"] == "full"


def test_quick_uses_two_judging_seeds_one_tuning_seed_no_widening_and_its_overrides(tmp_path):
    c = load_claim(write(tmp_path, claim_doc()), quick=True)
    assert c.seeds == [0, 1] and c.tune_seeds == [100] and c.max_widen == 0
    assert c.base["train"]["epochs"] == 2 and c.as_json()["mode"] == "quick"


def test_an_original_that_is_not_in_the_note_word_for_word_is_refused(tmp_path):
    doc = claim_doc()
    doc["claim"]["source"]["original"] = "ReLU 比 sigmoid 训练得好多了。"
    lines = errors_of(tmp_path, doc)
    assert lines == [f"{tmp_path / 'tiny.yaml'}: claim: source: original: not found word for word in "
                     f"{tmp_path / 'notes' / NOTE} (only whitespace may differ); copy the note's own sentence"]
    doc["claim"]["source"]["original"] = "ReLU 比 sigmoid\n   训练得更好。"  # whitespace aside: the same words
    assert load_claim(write(tmp_path, doc)).original == ["ReLU 比 sigmoid 训练得更好。"]


def test_an_extension_needs_no_original_but_names_its_source(tmp_path):
    doc = claim_doc()
    doc["claim"].pop("source")
    doc["claim"]["extension"] = "Huang et al. 2017, Snapshot Ensembles (ICLR)"
    c = load_claim(write(tmp_path, doc))
    assert c.extension.startswith("Huang") and c.original == [] and c.note == ""
    doc["claim"].pop("extension")
    assert errors_of(tmp_path, doc) == [
        f"{tmp_path / 'tiny.yaml'}: claim: source: give the note's own words ({{note, section, original}}), or "
        "extension: <its reference> for a claim the notes do not make"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(sweep={"params": {}}),
     "sweep: the claim format changed: variants:, tune:, regimes: and seeds: replace sweep: "
     "(docs/claims-guide.md)"),
    (lambda d: d.update(seeds=5), "seeds: a claim is judged on at least 10 seeds, got 5"),
    (lambda d: d.update(tune_seeds=[9, 100]),
     "tune_seeds: [9] also judge; the seeds that choose a setting must not be the seeds that judge it"),
    (lambda d: d.update(regimes={"only": {}}),
     "regimes: a claim is judged in at least 2 regimes where the note's reasoning applies, got 1"),
    (lambda d: d["claim"].update(expect=[{"metric": "test_acc", "better": "relux", "than": "sigmoid"}]),
     "claim: expect: better: 'relux' is not a variant; the variants are relu, sigmoid (did you mean 'relu'?)"),
    (lambda d: d["claim"].update(expect=[{"metric": "test_acc", "better": "relu"}]),
     "claim: expect: give one form: better + than, order, same + within, gain + near + within, gain + exceeds, "
     "below + for, above + for, or near + within + for; got better"),
    (lambda d: d["claim"].update(expect=[{"metric": "test_accuracy", "better": "relu", "than": "sigmoid"}]),
     "did you mean 'test_acc'?"),
    (lambda d: d.update(tune={"train.optimizer.lr": [0.1]}),
     "tune: train.optimizer.lr: at least two values to choose from, got [0.1]"),
    (lambda d: d["variants"].update(high={"relative": {"to": "relux", "factor": 10}}),
     "variants: high: relative: to: 'relux' is not a variant; the variants are relu, sigmoid, high (did you "
     "mean 'relu'?)"),
    (lambda d: d["regimes"]["small"].update(variants={"tanh": {"model.hidden": [4]}}),
     "regimes: small: variants: tanh is not a variant; the variants are relu, sigmoid"),
    (lambda d: d["variants"].update(sigmoid={"model.activation": "sigmoyd"}), "did you mean 'sigmoid'?"),
])
def test_each_problem_is_one_line_naming_the_file_and_the_key(tmp_path, change, message):
    doc = claim_doc()
    change(doc)
    lines = errors_of(tmp_path, doc)
    assert any(message in ln for ln in lines), lines
    assert all(ln.startswith(str(tmp_path / "tiny.yaml")) for ln in lines), lines


def test_every_problem_is_reported_at_once(tmp_path):
    doc = claim_doc(seeds=3, colour="red")
    doc["claim"]["expect"] = [{"metric": "test_acc", "better": "relux", "than": "sigmoid"}]
    lines = errors_of(tmp_path, doc)
    assert len(lines) == 3 and any("colour" in ln for ln in lines) and any("seeds" in ln for ln in lines)


def test_quick_accepts_fewer_seeds_and_one_regime(tmp_path):
    doc = claim_doc(seeds=3, regimes={"only": {}})
    c = load_claim(write(tmp_path, doc), quick=True)
    assert c.seeds == [0, 1] and [r.name for r in c.regimes] == ["only"]


def test_a_grid_of_several_keys_is_every_combination_and_a_variant_keeps_what_it_sets(tmp_path):
    doc = claim_doc(tune={"train.optimizer.lr": [0.03, 0.3], "model.hidden": [[4], [8]]})
    doc["variants"]["sigmoid"]["model.hidden"] = [6]
    c = load_claim(write(tmp_path, doc))
    r = c.regimes[0]
    assert c.grid(r, c.variant("relu")) == {"train.optimizer.lr": [0.03, 0.3], "model.hidden": [[4], [8]]}
    assert c.grid(r, c.variant("sigmoid")) == {"train.optimizer.lr": [0.03, 0.3]}  # it sets model.hidden itself


# ------------------------------------------------------------------ the same seed, the same start


def test_variants_share_the_initial_weights_and_the_data_order_of_a_seed():
    """Paired statistics rest on this: two variants trained with seed s start from the same weights (where the
    shapes agree) and see the batches in the same order, whatever else differs (activation, dropout, rate)."""
    from nnlab.experiment import load_data
    from nnlab.train.trainer import Trainer

    raw = {**copy.deepcopy(BASE), "seed": 3, "name": "a"}
    cfgs = [validate(raw)]
    for path, value in (("activation", "tanh"), ("dropout", 0.5)):
        other = copy.deepcopy(raw)
        other["model"][path] = value
        cfgs.append(validate(other))
    faster = copy.deepcopy(raw)
    faster["train"]["optimizer"] = {"name": "adam", "lr": 0.01}
    cfgs.append(validate(faster))
    data = load_data(cfgs[0])
    trainers = [Trainer(c, data) for c in cfgs]
    first = trainers[0]
    for t in trainers[1:]:
        np.testing.assert_array_equal(t.model.params, first.model.params)
    orders = [[t.batches.start_epoch().copy() for _ in range(3)] for t in trainers]
    for o in orders[1:]:
        for a, b in zip(o, orders[0]):
            np.testing.assert_array_equal(a, b)
    seed4 = validate({**raw, "seed": 4})
    assert not np.array_equal(Trainer(seed4, data).model.params, first.model.params)


# ------------------------------------------------------------------ running a claim


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One full run of the tiny claim (2 regimes, 2 variants, 2 rates, 2 tuning and 10 judging seeds)."""
    tmp = tmp_path_factory.mktemp("claim")
    c = load_claim(write(tmp, claim_doc()))
    folder, how, n = run_claim(c, tmp / "out", 2, QUIET)
    return tmp, c, folder, how, n


def test_a_claim_tunes_each_variant_on_the_tuning_seeds_then_judges_it_on_the_judging_seeds(finished):
    tmp, c, folder, how, n = finished
    assert how == "ran" and n == 2 * (2 * 2 * 2 + 2 * 10) and folder == tmp / "out" / "tiny-full"
    for r in ("small", "wide"):
        tune = read_sweep(folder / r / "tune")
        assert {rec.seed for t in tune.trials for rec in t.records} == {100, 101}
        means = {(t.params["model.activation"], t.params["train.optimizer.lr"]): t.value for t in tune.trials}
        choice = json.loads((folder / r / "choice.json").read_text())
        for v in ("relu", "sigmoid"):
            best = max((0.03, 0.3), key=lambda lr: (means[(v, lr)], -lr))  # the first of equals in order
            assert choice[v]["values"] == {"train.optimizer.lr": best}
            assert choice[v]["scores"] == {"0.03": means[(v, 0.03)], "0.3": means[(v, 0.3)]}
        judge = yaml.safe_load((folder / r / "judge" / "sweep.yaml").read_text())
        assert judge["seeds"] == list(range(10)) and judge["test"] == "all"
        assert [p["train.optimizer.lr"] for p in judge["points"]] == [choice["relu"]["values"]["train.optimizer.lr"],
                                                                       choice["sigmoid"]["values"]["train.optimizer.lr"]]
        tune_yaml = yaml.safe_load((folder / r / "tune" / "sweep.yaml").read_text())
        assert tune_yaml["test"] == "none"  # the test set plays no part in the choice
        for run in (folder / r / "tune" / "runs").iterdir():
            assert json.loads((run / "summary.json").read_text())["test"] == {"loss": None, "acc": None}


def test_values_csv_holds_every_judging_runs_metrics_as_measured_from_its_folder(finished):
    tmp, c, folder, how, n = finished
    rows = read_values(folder)
    assert [(r["regime"], r["variant"], r["seed"]) for r in rows] == [
        (g, v, s) for g in ("small", "wide") for v in ("relu", "sigmoid") for s in range(10)]
    for row in rows[::7]:
        data = read_run_data(folder / row["run"])
        assert data.summary["seed"] == row["seed"]
        assert row["test_acc"] == claim_metrics.value("test_acc", data) == data.summary["test"]["acc"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["kind"] == "claim" and summary["runs"] == n


def test_a_finished_claim_is_reused_and_a_changed_one_runs_only_what_changed(finished, tmp_path):
    tmp, c, folder, how, n = finished
    import shutil

    shutil.copytree(tmp, tmp_path / "copy")
    out = tmp_path / "copy" / "out"
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("summary.json")}
    c1 = load_claim(tmp_path / "copy" / "tiny.yaml")
    f1, how1, _ = run_claim(c1, out, 2, QUIET)
    assert how1 == "reused" and stamp == {p: p.stat().st_mtime_ns for p in out.rglob("summary.json")}
    doc = claim_doc()
    doc["claim"]["expect"].append({"metric": "val_acc", "better": "relu", "than": "sigmoid"})  # a check: no run
    write(tmp_path / "copy", doc)
    said = []
    f2, how2, _ = run_claim(load_claim(tmp_path / "copy" / "tiny.yaml"), out, 2, Progress(say=said.append))
    assert how2 == "ran" and not said  # nothing to train again: every sweep kept, values and claim.json rewritten
    runs = [p for p in out.rglob("summary.json") if "runs" in p.parts]
    assert all(stamp[p] == p.stat().st_mtime_ns for p in runs)
    doc["regimes"]["wide"]["model.hidden"] = [12]  # one regime's config changed: only its sweeps run again
    write(tmp_path / "copy", doc)
    run_claim(load_claim(tmp_path / "copy" / "tiny.yaml"), out, 2, Progress(say=said.append))
    assert len(said) == 2 and all("the claim changed since" in s and "/wide/" in s for s in said)
    assert all(stamp[p] == p.stat().st_mtime_ns for p in runs if "/small/" in str(p))


@pytest.mark.slow
def test_a_best_value_at_the_edge_of_the_grid_widens_it(tmp_path):
    doc = claim_doc(tune={"train.optimizer.lr": [0.01, 0.03, 0.1]}, regimes={"small": {}, "other": {}})
    c = load_claim(write(tmp_path, doc))
    folder, _, _ = run_claim(c, tmp_path / "out", 2, QUIET)
    choice = json.loads((folder / "small" / "choice.json").read_text())
    tried = [float(k) for k in choice["relu"]["scores"]]
    assert tried[:3] == [0.01, 0.03, 0.1] and len(tried) > 3  # SGD at 0.01..0.1 for 3 epochs: too slow
    assert tried[3:4] == [0.333]  # one more step of the grid's own ratio (0.1 * 0.1 / 0.03)
    rounds = sorted(p.name for p in (folder / "small").iterdir() if p.name.startswith("tune"))
    assert rounds == ["tune", *(f"tune-{i}" for i in range(2, len(tried) - 1))] and len(rounds) <= 1 + MAX_WIDEN
    best = max(choice["relu"]["scores"].items(), key=lambda kv: kv[1])[0]
    assert choice["relu"]["values"]["train.optimizer.lr"] == float(best)
    assert choice["relu"]["edge"] == (best in (min(choice["relu"]["scores"], key=float),
                                               max(choice["relu"]["scores"], key=float)))


@pytest.mark.slow
def test_relative_variants_regime_overrides_and_shared_points(tmp_path):
    doc = claim_doc(regimes={"small": {"variants": {"sigmoid": {"model.hidden": [5]}}}, "other": {}})
    doc["variants"]["ten_times"] = {"relative": {"to": "relu", "factor": 10}}
    doc["variants"]["same"] = {"model.activation": "relu"}  # the very config of relu: judged on its runs
    c = load_claim(write(tmp_path, doc), quick=True)
    folder, _, _ = run_claim(c, tmp_path / "out", 2, QUIET)
    choice = json.loads((folder / "small" / "choice.json").read_text())
    lr = choice["relu"]["values"]["train.optimizer.lr"]
    assert choice["ten_times"]["values"] == {"train.optimizer.lr": round(10 * lr, 6)}
    judge = yaml.safe_load((folder / "small" / "judge" / "sweep.yaml").read_text())
    assert len(judge["points"]) == 3  # relu and same share one point
    assert {"model.hidden": [5]}.items() <= judge["points"][1].items()
    other = yaml.safe_load((folder / "other" / "judge" / "sweep.yaml").read_text())
    assert "model.hidden" not in other["points"][1]
    rows = read_values(folder)
    relu = [r["run"] for r in rows if r["variant"] == "relu"]
    assert relu == [r["run"] for r in rows if r["variant"] == "same"]


def test_unique_keeps_first_seen_order_and_maps_each_point():
    pts, idx = unique([{"a": 1, "b": 2}, {"b": 2, "a": 1}, {}, {"a": 1}])
    assert pts == [{"a": 1, "b": 2}, {}, {"a": 1}] and idx == [0, 0, 1, 2]


@pytest.mark.slow
def test_a_range_test_variant_takes_the_rule_s_rate_and_keeps_it(tmp_path):
    doc = claim_doc()
    doc["variants"]["found"] = {"range_test": {"rule": "steepest", "steps": 30, "start": 0.001, "end": 10.0}}
    c = load_claim(write(tmp_path, doc), quick=True)
    said = []
    folder, _, _ = run_claim(c, tmp_path / "out", 2, Progress(say=said.append))
    rt = json.loads((folder / "small" / "range_test.json").read_text())["found"]
    assert rt["rule"].startswith("steepest") and rt["steps_done"] <= 30 and 0.001 <= rt["lr"] <= 10
    judge = yaml.safe_load((folder / "small" / "judge" / "sweep.yaml").read_text())
    assert judge["points"][2]["train.optimizer.lr"] == rt["lr"]
    assert any("the range test (steepest) gives found lr" in s for s in said)
    said.clear()
    assert run_claim(load_claim(tmp_path / "tiny.yaml", quick=True), tmp_path / "out", 2,
                     Progress(say=said.append))[1] == "reused" and not said


@pytest.mark.slow
def test_a_search_claim_runs_one_whole_sweep_per_method_and_seed(tmp_path):
    doc = claim_doc(variants={"grid": {"search": "grid"}, "random": {"search": "random"}},
                    search={"trials": 4, "params": {"train.optimizer.lr": {"low": 0.01, "high": 1.0, "log": True},
                                                    "model.hidden": [[4], [8], [16]]}})
    doc.pop("tune")
    doc["claim"]["expect"] = [{"metric": "search_test_acc", "better": "random", "than": "grid"}]
    c = load_claim(write(tmp_path, doc), quick=True)
    folder, _, n = run_claim(c, tmp_path / "out", 2, QUIET)
    for method in ("grid", "random"):
        for s in (0, 1):
            sweep = yaml.safe_load((folder / "small" / f"{method}-s{s}" / "sweep.yaml").read_text())
            assert sweep["method"] == method and sweep["seeds"] == [s] and sweep["seed"] == s
    grid = yaml.safe_load((folder / "small" / "grid-s0" / "sweep.yaml").read_text())
    assert grid["params"]["train.optimizer.lr"]["num"] == 1  # 1 x 3 choices: the grid within the budget of 4
    rows = read_values(folder)
    assert all(r["search_test_acc"] is not None and 0 <= r["search_test_acc"] <= 1 for r in rows)
    s0 = json.loads((folder / "small" / "random-s0" / "summary.json").read_text())
    assert rows[2]["search_test_acc"] == s0["best"]["test"]["acc"]


def test_the_claim_folder_holds_only_what_nnlab_makes_there(finished):
    tmp, c, folder, how, n = finished
    for p in folder.rglob("*"):
        assert made_in_claim_folder(p.relative_to(folder), p.is_dir()), p
    assert not made_in_claim_folder(Path("thesis.tex"), False)
    assert not made_in_claim_folder(Path("small") / "notes.txt", False)
    assert not made_in_claim_folder(Path("small") / "judge" / "runs" / "t000-seed0" / "x.txt", False)


# ------------------------------------------------------------------ the command line


@pytest.mark.slow
def test_claims_run_and_report_from_the_command_line(tmp_path):
    write(tmp_path, claim_doc())
    r = invoke("claims", "run", "--quick", "--claims-dir", tmp_path, "--out", tmp_path / "out", "-j", "2")
    assert r.exit_code == 0, r.output
    assert "tiny: ran (16 runs)" in r.output  # 2 regimes x (2 variants x 2 rates x 1 tuning seed + 2 x 2 seeds) and str(tmp_path / "out" / "tiny-quick") in r.output
    r = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "page" / "claims.md",
               "--claims-dir", tmp_path)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "page" / "claims.md").read_text(encoding="utf-8")
    assert "### tiny" in md and f"> {SENTENCE}" in md and "*ReLU trains better than sigmoid.*" in md
    assert "**Regime small** (the base config)" in md and "**Regime wide** (model.hidden=[16])" in md
    assert "- test_acc: relu better than sigmoid: mean difference" in md and "(quick)" in md
    assert str(tmp_path) not in md  # the page names no path of this machine
    assert (tmp_path / "page" / "claims" / "tiny-small.png").stat().st_size > 1000
    r = invoke("claims", "run", "nope", "--claims-dir", tmp_path)
    assert r.exit_code == 2 and "nope: no such claim file or claim id; the claims are tiny" in r.output


def test_a_bad_claim_file_stops_before_anything_trains(tmp_path):
    write(tmp_path, claim_doc(seeds=2))
    r = invoke("claims", "run", "--claims-dir", tmp_path, "--out", tmp_path / "out")
    assert r.exit_code == 2 and "seeds: a claim is judged on at least 10 seeds, got 2" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "out").exists()
