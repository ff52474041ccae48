"""The claims gallery: claim files checked, the verdict rule on hand-made numbers, run + report end to end."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnlab.claims.claim import load_claim
from nnlab.claims.verdict import FAILS, HOLDS, INCONCLUSIVE, Stats, judge, pair, threshold
from nnlab.cli import main
from nnlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"data": {"name": "blobs", "n_samples": 200}, "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 4, "batch_size": 50, "optimizer": {"name": "sgd", "lr": 0.1}}}


def claim_doc(**over) -> dict:
    doc = {"claim": {"title": "ReLU beats sigmoid", "source": {"note": "003_x.txt", "section": "activations"},
                     "quote": "ReLU trains better than sigmoid.",
                     "expect": {"metric": "test_acc", "by": "model.activation", "better": "relu",
                                "than": "sigmoid"}},
           "quick": {"train.epochs": 2},
           "sweep": {"config": BASE, "method": "grid", "seeds": [0, 1, 2, 3, 4],
                     "params": {"model.activation": ["relu", "sigmoid"]}}}
    for k, v in over.items():
        section, _, key = k.partition("__")
        if key:
            doc[section][key] = v
        else:
            doc[section] = v
    return doc


def write(tmp_path, doc, name="tiny") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return p


def errors_of(tmp_path, doc) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_claim(write(tmp_path, doc))
    for line in exc.value.lines:
        assert "\n" not in line
    return exc.value.lines


# ------------------------------------------------------------------ the schema


def test_a_valid_claim_loads_with_its_variants_and_test_all(tmp_path):
    claim, spec = load_claim(write(tmp_path, claim_doc()))
    assert claim.id == "tiny" and claim.variants == ["relu", "sigmoid"]
    assert spec.test == "all" and spec.seeds == [0, 1, 2, 3, 4] and spec.method == "grid"
    claim, spec = load_claim(write(tmp_path, claim_doc()), quick=True)
    assert spec.seeds == [0] and spec.base["train"]["epochs"] == 2


@pytest.mark.parametrize("expect, needle", [
    ({"metric": "tset_acc", "by": "model.activation", "better": "relu", "than": "sigmoid"},
     "metric: unknown metric 'tset_acc'; choose from val_acc, val_loss, test_acc"),
    ({"metric": "test_acc", "by": "model.init", "better": "relu", "than": "sigmoid"},
     "by: model.init is not a param of the sweep"),
    ({"metric": "test_acc", "by": "model.activation", "better": "relu", "than": "tanh"},
     "than: tanh is not a variant; the variants are relu, sigmoid"),
    ({"metric": "test_acc", "by": "model.activation", "order": ["relu"]}, "order: must list at least two"),
    ({"metric": "test_acc", "by": "model.activation", "better": "relu"}, "better needs than"),
    ({"metric": "test_acc", "by": "model.activation", "below": "x", "for": "relu"},
     "below: must be a finite number"),
    ({"metric": "test_acc", "by": "model.activation"}, "give exactly one of order"),
    ({"metric": "test_acc", "by": "model.activation", "better": "relu", "than": "sigmoid", "typo": 1},
     "typo: unknown"),
])
def test_bad_expect_is_one_line_each(tmp_path, expect, needle):
    doc = claim_doc()
    doc["claim"]["expect"] = expect
    lines = errors_of(tmp_path, doc)
    assert any(needle in ln for ln in lines), lines
    assert all(ln.startswith(str(tmp_path)) for ln in lines), lines


def test_other_schema_errors_are_reported_together(tmp_path):
    doc = claim_doc()
    doc["claim"]["quote"] = ""
    doc["claim"]["source"] = {"note": "003_x.txt"}
    doc["extra"] = 1
    doc["sweep"]["seeds"] = [0, 1]
    doc["sweep"]["method"] = "random"
    doc["sweep"]["params"]["model.activaton"] = ["relu"]
    lines = errors_of(tmp_path, doc)
    for needle in ("claim: quote: must be a line of text", "claim: source: section: must be text",
                   "extra: unknown key", "seeds: a claim needs at least 5 seeds", "method: a claim compares",
                   "activaton"):
        assert any(needle in ln for ln in lines), (needle, lines)


def test_a_second_varied_param_must_be_part_of_by(tmp_path):
    doc = claim_doc()
    doc["sweep"]["params"]["train.optimizer.lr"] = [0.1, 0.01]
    assert any("also varies train.optimizer.lr" in ln for ln in errors_of(tmp_path, doc))
    doc["claim"]["expect"] = {"metric": "val_acc", "by": ["model.activation", "train.optimizer.lr"],
                              "better": "relu+0.1", "than": "sigmoid+0.01"}
    claim, _ = load_claim(write(tmp_path, doc))
    assert claim.variants == ["relu+0.1", "relu+0.01", "sigmoid+0.1", "sigmoid+0.01"]


def test_the_shipped_claims_load():
    files = sorted((ROOT / "claims").glob("*.yaml"))
    assert len(files) >= 4
    for f in files:
        for quick in (False, True):
            claim, spec = load_claim(f, quick=quick)
            assert len(spec.seeds) == (1 if quick else 5)


# ------------------------------------------------------------------ the verdict rule


def test_pair_holds_fails_or_is_inconclusive_by_two_standard_errors():
    a, b = Stats(0.80, 0.02, 5), Stats(0.70, 0.02, 5)
    v, d, se = pair(a, b)
    assert v == HOLDS and d == pytest.approx(0.10) and se == pytest.approx(math.sqrt(2 * 0.0004 / 5))
    assert pair(b, a)[0] == FAILS
    assert pair(Stats(0.71, 0.05, 5), Stats(0.70, 0.05, 5))[0] == INCONCLUSIVE  # d = 0.01 < 2·0.0316
    assert pair(Stats(0.2, 0.01, 5), Stats(0.3, 0.01, 5), higher_is_better=False)[0] == HOLDS  # a loss
    assert pair(Stats(0.9, math.nan, 1), Stats(0.1, math.nan, 1))[0] == INCONCLUSIVE  # one seed


def test_stats_of_values_use_the_sample_std():
    s = Stats.of([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)


def test_order_holds_only_if_every_consecutive_pair_holds():
    st = {"a": Stats(0.9, 0.01, 5), "b": Stats(0.8, 0.01, 5), "c": Stats(0.7, 0.01, 5)}
    assert judge({"order": ["a", "b", "c"]}, st, True)[0] == HOLDS
    assert judge({"order": ["a", "c", "b"]}, st, True)[0] == FAILS
    st["c"] = Stats(0.799, 0.05, 5)  # b vs c within the spread
    verdict, lines = judge({"order": ["a", "b", "c"]}, st, True)
    assert verdict == INCONCLUSIVE and len(lines) == 2 and lines[0].endswith(HOLDS)
    assert judge({"order": ["c", "b", "a"]}, st, True)[0] == FAILS  # one failing pair is enough


def test_thresholds_compare_mean_plus_minus_two_standard_errors():
    s = Stats(0.005, 0.002, 4)  # se 0.001: interval [0.003, 0.007]
    assert threshold(s, 0.01, "below") == (HOLDS, pytest.approx(0.001))
    assert threshold(s, 0.002, "below")[0] == FAILS
    assert threshold(s, 0.006, "below")[0] == INCONCLUSIVE
    assert threshold(s, 0.002, "above")[0] == HOLDS
    assert threshold(s, 0.01, "above")[0] == FAILS
    verdict, lines = judge({"below": 0.01, "for": "v"}, {"v": s}, True)
    assert verdict == HOLDS and lines == ["v: mean 0.005 ± 2·se 0.002 below 0.01: holds"]


# ------------------------------------------------------------------ end to end


def table(md: str, claim_id: str) -> dict:
    section = md.split(f"## {claim_id}\n", 1)[1]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| (\w+) \| (.*) \| (\d+) \|$", line)
        if m and m.group(1) != "variant":
            rows[m.group(1)] = ([c.strip() for c in m.group(2).split("|")], int(m.group(3)))
    return rows


def run_values(folder: Path, metric_key: str) -> dict:
    import csv

    out: dict = {}
    with open(folder / "trials.csv", newline="") as f:
        for row in csv.DictReader(f):
            s = json.loads((folder / "runs" / row["run"] / "summary.json").read_text())
            out.setdefault(row["model.activation"], []).append(s["test"][metric_key])
    return out


@pytest.mark.slow
def test_run_quick_and_full_then_report_with_the_rule_and_the_runs_values(tmp_path):
    p = write(tmp_path, claim_doc(), name="tiny")
    out, md = tmp_path / "out", tmp_path / "docs" / "claims.md"
    r = CliRunner().invoke(main, ["claims", "run", str(p), "--quick", "--jobs", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "tiny: ran (2 runs)" in r.output
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(out), "-o", str(md)])
    assert r.exit_code == 0, r.output
    text = md.read_text()
    rows = table(text, "tiny")
    vals = run_values(out / "tiny-quick", "acc")
    assert set(rows) == {"relu", "sigmoid"}
    for v, (cells, n) in rows.items():
        assert n == 1 and cells[0] == f"{100 * vals[v][0]:.1f}%"  # one seed: no ± std; percent as the CLI
    assert "**Verdict: inconclusive.**" in text  # one seed is never evidence
    assert (md.parent / "claims" / "tiny.png").stat().st_size > 1000

    # the full run: 5 seeds, a verdict the rule decides from the runs' own test accuracies
    r = CliRunner().invoke(main, ["claims", "run", str(p), "--jobs", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(out), "-o", str(md)])
    assert r.exit_code == 0, r.output
    text = md.read_text()
    vals = run_values(out / "tiny-full", "acc")
    rows = table(text, "tiny")
    for v, (cells, n) in rows.items():
        s = Stats.of(vals[v])
        assert n == 5 and cells[0] == f"{100 * s.mean:.1f}% ± {100 * s.std:.1f}"
    expected, _ = judge({"better": "relu", "than": "sigmoid"},
                        {v: Stats.of(x) for v, x in vals.items()}, True)
    assert f"**Verdict: {expected}.**" in text
    assert f"| [tiny](#tiny) | test_acc: relu > sigmoid | 5 (full) | {expected} |" in text
    for line in text.splitlines():
        assert len(line) <= 80 or line.startswith(("|", "!["))


@pytest.mark.slow
def test_a_second_run_reuses_the_finished_sweep_and_a_changed_claim_runs_again(tmp_path):
    p = write(tmp_path, claim_doc(), name="tiny")
    out = tmp_path / "out"
    args = ["claims", "run", str(p), "--quick", "--jobs", "1", "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    stamp = (out / "tiny-quick" / "runs" / "t000-seed0" / "summary.json").stat().st_mtime_ns
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "tiny: reused (2 runs)" in r.output, r.output
    assert (out / "tiny-quick" / "runs" / "t000-seed0" / "summary.json").stat().st_mtime_ns == stamp
    # an unfinished sweep is resumed: its finished runs are kept
    summary = json.loads((out / "tiny-quick" / "summary.json").read_text())
    summary.pop("finished")
    (out / "tiny-quick" / "summary.json").write_text(json.dumps(summary))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "resuming" in r.output and "2 runs kept" in r.output, r.output
    doc = claim_doc()
    doc["quick"] = {"train.epochs": 3}
    write(tmp_path, doc, name="tiny")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "changed" in r.output and "tiny: ran" in r.output, r.output


def test_cli_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(main, ["claims", "run", "nope", "--claims-dir", str(tmp_path)])
    assert r.exit_code == 2 and "nope: no such claim file or claim id" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(tmp_path / "none"), "-o",
                                  str(tmp_path / "c.md")])
    assert r.exit_code == 2 and "no such folder" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(tmp_path), "-o", str(tmp_path / "c.txt")])
    assert r.exit_code == 2 and "is not a file type it writes" in r.output


def test_the_same_rule_is_an_equivalence_test():
    from nnlab.claims.verdict import Stats, same

    a = Stats.of([0.60, 0.61, 0.62, 0.61, 0.60])
    b = Stats.of([0.605, 0.615, 0.61, 0.61, 0.605])
    v, d, se = same(a, b, 0.02)
    assert v == "holds" and d == pytest.approx(0.609 - 0.608, abs=1e-12) and d + 2 * se < 0.02  # means by hand
    far = Stats.of([0.70, 0.71, 0.72, 0.71, 0.70])
    assert same(a, far, 0.02)[0] == "does not hold"  # |d| = 0.1, far beyond 0.02 + 2 se
    assert same(a, b, 0.001)[0] == "inconclusive"  # too tight a tolerance for this spread
    assert same(Stats.of([0.6]), Stats.of([0.6]), 0.1)[0] == "inconclusive"  # one seed: never decided


# ------------------------------------------------------------------ tuned variants, epochs to a target, range test


def test_pair_with_one_infinite_mean_is_decided_by_it():
    reached = Stats.of([3.0, 4.0, 5.0])
    never = Stats.of([6.0, math.inf, 7.0])  # one seed never reached the target
    assert pair(reached, never, higher_is_better=False)[0] == HOLDS
    assert pair(never, reached, higher_is_better=False)[0] == FAILS
    assert pair(never, Stats.of([math.inf, math.inf]), higher_is_better=False)[0] == INCONCLUSIVE
    assert pair(Stats.of([3.0]), never, higher_is_better=False)[0] == INCONCLUSIVE  # one seed: never decided


def test_epochs_to_target_is_the_first_epoch_reaching_it():
    from nnlab.claims.claim_metrics import RunData, epochs_to_target

    def epochs_to(history, target):
        return epochs_to_target(RunData({"status": "completed"}, history), target=target)

    hist = [{"epoch": 1, "val_acc": 0.3}, {"epoch": 2, "val_acc": 0.56}, {"epoch": 3, "val_acc": 0.5},
            {"epoch": 4, "val_acc": 0.7}]
    assert epochs_to(hist, 0.55) == 2.0 and epochs_to(hist, 0.56) == 2.0 and epochs_to(hist, 0.6) == 4.0
    assert epochs_to(hist, 0.71) == math.inf
    assert epochs_to([{"epoch": 1, "train_loss": 1.0}], 0.5) is None  # no validation: no value


@pytest.mark.parametrize("change, needle", [
    ({"claim__tune": "train.optimizer.momentum"}, "claim: tune: train.optimizer.momentum is not a param"),
    ({"claim__tune": "model.activation"}, "is also in expect: by"),
    ({"claim__tune": 3}, "tune: must be the path of a sweep param"),
    ({"claim__range_test": True}, "range_test: compares the range test's rate"),
    ({"claim__range_test": {"start": 1.0, "end": 0.1}}, "start 1 must be below end 0.1"),
    ({"claim__range_test": {"stepz": 5}}, "range_test: stepz: unknown key"),
    ({"claim__expect": {"metric": "epochs_to_target", "by": "model.activation", "better": "relu",
                        "than": "sigmoid"}}, "expect.target: missing required value"),
    ({"claim__expect": {"metric": "test_acc", "target": 0.5, "by": "model.activation", "better": "relu",
                        "than": "sigmoid"}}, "only the metric epochs_to_target takes a target"),
    ({"claim__expect": {"metric": "test_acc", "by": "model.activation", "better": "best", "than": "relu"}},
     "better: best is not a variant"),
])
def test_tune_range_test_and_target_errors(tmp_path, change, needle):
    lines = errors_of(tmp_path, claim_doc(**change))
    assert any(needle in ln for ln in lines), lines


def tuned_doc():
    doc = claim_doc()
    doc["claim"]["tune"] = "train.optimizer.lr"
    doc["sweep"]["params"]["train.optimizer.lr"] = [0.001, 0.3]
    doc["sweep"]["seeds"] = [0, 1]
    return doc


def test_a_tuned_claim_judges_each_variant_at_its_best_validation_value(tmp_path):
    import csv

    from nnlab.claims.gallery import collect
    from nnlab.claims.run import run_claim

    lines = errors_of(tmp_path, claim_doc(claim__tune="train.optimizer.lr"))  # lr is not a param yet
    assert any("not a param of the sweep" in ln for ln in lines)
    doc = tuned_doc()
    doc["sweep"]["seeds"] = [0, 1, 2, 3, 4]
    claim, spec = load_claim(write(tmp_path, doc, name="tuned"), quick=True)
    assert claim.variants == ["relu", "sigmoid"] and spec.n_trials == 4
    folder, how, n = run_claim(claim, spec, tmp_path / "out", True, 1, say=lambda s: None)
    assert how == "ran" and n == 4
    res = collect(folder)
    with open(folder / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for act in ("relu", "sigmoid"):
        mine = {r["train.optimizer.lr"]: float(r["val_acc"]) for r in rows if r["model.activation"] == act}
        best = max(mine, key=mine.get)  # one seed: the mean is the run's own score
        assert res.chosen[act] == best
        run = next(r["run"] for r in rows if r["model.activation"] == act and r["train.optimizer.lr"] == best)
        test = json.loads((folder / "runs" / run / "summary.json").read_text())["test"]["acc"]
        assert res.values["test_acc"][act] == [test]
    md = (tmp_path / "c.md")
    from nnlab.claims.gallery import markdown

    text = markdown([res], md, figures=False)
    assert "| variant | train.optimizer.lr chosen | test_acc (mean ± std)" in text
    assert f"| relu | {res.chosen['relu']} | " in text


@pytest.mark.slow
def test_a_range_test_claim_adds_the_recommended_rate_and_compares_it_with_the_grid_best(tmp_path):
    from nnlab.claims.gallery import collect
    from nnlab.claims.run import run_claim
    from nnlab.config import load_config
    from nnlab.data import load_dataset
    from nnlab.lr_find import run_lr_find

    doc = claim_doc()
    doc["claim"]["range_test"] = {"steps": 60}
    doc["claim"]["expect"] = {"metric": "test_acc", "by": "train.optimizer.lr", "same": ["range_test", "best"],
                              "within": 0.05}
    doc["sweep"]["params"] = {"train.optimizer.lr": [0.01, 0.1, 1.0]}
    doc["sweep"]["seeds"] = [0, 1]
    claim, spec = load_claim(write(tmp_path, doc, name="rt"), quick=True)
    assert claim.variants == ["0.01", "0.1", "1"] and claim.range_test == {"start": 1e-7, "end": 10.0, "steps": 60}
    said = []
    folder, how, n = run_claim(claim, spec, tmp_path / "out", True, 1, say=said.append)
    info = json.loads((folder / "claim.json").read_text())["range_test"]
    # the rate nnlab lr-find recommends for the same config and range
    cfg_path = tmp_path / "base.yaml"
    cfg_path.write_text(yaml.safe_dump({**BASE, "train": {**BASE["train"], "epochs": 2}}))
    cfg = load_config(str(cfg_path))
    _, _, summary = run_lr_find(cfg, load_dataset(cfg.data, cfg.dtype), runs_dir=tmp_path / "lrf", start=1e-7,
                                end=10.0, steps=60)
    rec = summary["recommended"]["lr"]
    assert info["suggested"] == pytest.approx(float(f"{rec:.3g}"))
    assert said == [f"rt: the range test recommends lr {info['label']} (valley)"]
    grid = yaml.safe_load((folder / "sweep.yaml").read_text())["params"]["train.optimizer.lr"]["choices"]
    assert grid[-1] == pytest.approx(info["suggested"]) and n == 4
    res = collect(folder)
    val = {v: sum(x) / len(x) for v, x in res.values["val_acc"].items()}
    grid_labels = ["0.01", "0.1", "1"]
    assert res.aliases == {"range_test": info["label"], "best": max(grid_labels, key=val.get)}
    assert res.lines[0].startswith(f"range_test (lr {info['label']}) same as best (lr {res.aliases['best']})")


def test_several_variants_each_better_than_one():
    a, b, worst = Stats.of([0.7, 0.71, 0.72]), Stats.of([0.65, 0.66, 0.64]), Stats.of([0.5, 0.52, 0.51])
    v, lines = judge({"better": ["a", "b"], "than": "w"}, {"a": a, "b": b, "w": worst}, True)
    assert v == HOLDS and [ln.split(":")[0] for ln in lines] == ["a better than w", "b better than w"]
    v, _ = judge({"better": ["a", "w"], "than": "b"}, {"a": a, "b": b, "w": worst}, True)
    assert v == FAILS  # w is clearly worse than b, although a beats b


def test_better_as_a_list_is_checked(tmp_path):
    doc = claim_doc()
    doc["sweep"]["params"]["model.activation"] = ["relu", "tanh", "sigmoid"]
    doc["claim"]["expect"]["better"] = ["relu", "tanh"]
    claim, _ = load_claim(write(tmp_path, doc))
    assert claim.expect["better"] == ["relu", "tanh"]
    assert claim.expectation_text() == "test_acc: each of relu, tanh better than sigmoid"
    doc["claim"]["expect"]["better"] = ["relu", "sigmoid"]
    assert any("better and than name the same variant" in ln for ln in errors_of(tmp_path, doc))
    doc["claim"]["expect"]["better"] = ["relu", "elu"]
    assert any("better: elu is not a variant" in ln for ln in errors_of(tmp_path, doc))


def test_the_html_gallery_has_the_markdown_sections_numbers_and_figures_inline(tmp_path):
    import html as htmllib

    doc = claim_doc()
    doc["sweep"]["seeds"] = [0, 1]
    doc["claim"]["quote"] = "ReLU <beats> sigmoid & more."  # escaped, not markup
    p = write(tmp_path, doc, name="tiny")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["claims", "run", str(p), "--quick", "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(out), "-o", str(tmp_path / "page.html")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["claims", "report", "--out", str(out), "-o", str(tmp_path / "g.md")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "page.html").read_text()
    md_rows = table((tmp_path / "g.md").read_text(), "tiny")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1 and "<script" not in page
    assert "ReLU &lt;beats&gt; sigmoid &amp; more." in page
    assert '<a href="#claim-tiny">tiny</a>' in page and 'id="claim-tiny"' in page
    assert '<span class="verdict inconclusive">inconclusive</span>' in page
    cells = [htmllib.unescape(c) for c in re.findall(r'<td class="num">(.*?)</td>', page)]
    for v, (row, n) in md_rows.items():
        assert f"<td>{v}</td>" in page
        for c in row:
            assert c in cells
    assert not (tmp_path / "page").exists() and (tmp_path / "g" / "tiny.png").is_file()  # html: figures inline


@pytest.mark.slow
def test_nnlab_report_carries_the_gallery_with_or_without_runs(tmp_path):
    p = write(tmp_path, claim_doc(), name="tiny")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["claims", "run", str(p), "--quick", "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    alone = tmp_path / "alone.html"
    r = CliRunner().invoke(main, ["report", "--claims", str(out), "-o", str(alone)])
    assert r.exit_code == 0 and "(1 claim)" in r.output, r.output
    page = alone.read_text()
    assert '<section class="claims" id="claims">' in page and 'id="claim-tiny"' in page
    assert "<h2>Comparison</h2>" not in page and page.count("<svg") == 1
    both = tmp_path / "both.html"
    runs = sorted(str(d) for d in (out / "tiny-quick" / "runs").iterdir())
    r = CliRunner().invoke(main, ["report", *runs, "--claims", str(out), "-o", str(both)])
    assert r.exit_code == 0 and "(2 runs, 1 claim)" in r.output, r.output
    page = both.read_text()
    assert page.index('id="claims"') < page.index("<h2>Comparison</h2>")
    r = CliRunner().invoke(main, ["report", "--claims", str(tmp_path / "none"), "-o", str(both)])
    assert r.exit_code == 2 and "--claims" in r.output and "no such folder" in r.output
    assert "Traceback" not in r.output and both.read_text() == page  # nothing written over
    r = CliRunner().invoke(main, ["report", "-o", str(both)])
    assert r.exit_code == 2 and "name the run folders" in r.output
