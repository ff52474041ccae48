"""The HTML report: well-formed, self-contained, escaped, and showing the runs' own numbers."""

from __future__ import annotations

import html
import json
import re
import shutil
import statistics
from pathlib import Path

import pytest
from helpers import SVG_NAMESPACES, check

from nnlab.config import validate
from nnlab.experiment import run_experiment
from nnlab.look.report import fmt_number, fmt_value, write_report
from nnlab.runs import Run, find_runs
from nnlab.runs.diagnosis import diagnose

WEIRD = "cut<b>&"

def section_of(text: str, run) -> str:
    """The report's section about ``run`` (found by its folder)."""
    folder = html.escape(str(run.path.resolve()))
    (section,) = [s for s in text.split('<section class="run"')[1:] if f"<code>{folder}</code>" in s]
    return section[: section.index("</section>")]


def raw(name, optimizer, lr, seed=0, epochs=4, activation="tanh", batch_size=32):
    return {"name": name, "seed": seed,
            "data": {"name": "spiral", "n_samples": 120, "val_fraction": 0.2},
            "model": {"hidden": [8], "activation": activation},
            "train": {"epochs": epochs, "batch_size": batch_size, "optimizer": {"name": optimizer, "lr": lr}}}


SLOW_FIXTURES = ('runs_dir', 'loaded', 'ungrouped')  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    made = {}
    with pytest.MonkeyPatch.context() as mp:  # the runs' own PNGs are not tested here, and are slow
        mp.setattr("nnlab.look.figures.plot_curves", lambda *a, **k: None)
        mp.setattr("nnlab.look.figures.plot_diagnostics", lambda *a, **k: None)
        for key, cfg in (("adam0", raw("adam", "adam", 0.01)), ("adam1", raw("adam", "adam", 0.01, seed=1)),
                         ("sgd", raw("sgd", "sgd", 0.1, epochs=5)),
                         ("boom", raw("boom", "sgd", 1e6, activation="relu", batch_size=16))):
            run_dir, _, summary = run_experiment(validate(cfg), runs_dir=base)
            made[key] = (run_dir, summary)
    assert made["boom"][1]["status"] == "diverged" and made["boom"][1]["epochs"] == 0  # NaN in epoch 1
    # killed while writing: a truncated metrics.csv, no summary, no diagnostics, an odd name
    cut = base / "2020-01-01_00-00-00_cut"
    cut.mkdir()
    text = (made["sgd"][0] / "config.yaml").read_text()
    (cut / "config.yaml").write_text(text.replace("name: sgd", f'name: "{WEIRD}"').replace("lr: 0.1", "lr: 0.05"))
    metrics = (made["sgd"][0] / "metrics.csv").read_text()
    (cut / "metrics.csv").write_text(metrics[: len(metrics) * 2 // 3])
    # never started: only config.yaml
    only = base / "2020-01-01_00-00-01_only"
    only.mkdir()
    (only / "config.yaml").write_text(text.replace("name: sgd", "name: only_config").replace("lr: 0.1", "lr: 0.3"))
    return base


@pytest.fixture(scope="module")
def loaded(runs_dir):
    runs, warnings = find_runs([runs_dir])
    assert len(runs) == 6 and not warnings
    return {r.name: r for r in runs}, runs


@pytest.fixture(scope="module")
def ungrouped(loaded, tmp_path_factory):
    _, runs = loaded
    out = write_report(runs, tmp_path_factory.mktemp("out") / "report.html", group=False)
    return out, out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_well_formed_with_one_svg_per_figure(ungrouped, loaded):
    path, text = ungrouped
    assert path.is_file()
    c = check(text)
    by_name, runs = loaded
    with_grads = [r for r in runs if any((d.get("grad_norm") or 0) > 0 for d in r.diagnostics)]
    assert {"adam", "sgd"} <= {r.name for r in with_grads} and WEIRD not in {r.name for r in with_grads}
    assert c.counts["svg"] == 1 + len(with_grads)  # the overlaid curves + one gradient plot per run
    assert text.count("<svg") == c.counts["svg"]
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text


def test_every_run_name_and_folder_and_section(ungrouped, loaded):
    _, text = ungrouped
    _, runs = loaded
    for run in runs:
        assert html.escape(run.name) in text
        assert html.escape(str(run.path.resolve())) in text
    assert text.count('<section class="run"') == len(runs)
    assert "no config.yaml" not in text.lower()
    # runs with no epoch are named under the curves, with no curve
    no_curve = text[text.index("No curve for:"):]
    no_curve = no_curve[: no_curve.index("</p>")]
    assert "boom" in no_curve and "only_config" in no_curve and "adam" not in no_curve


def expected_cells(folder: Path) -> list[str]:
    """The table's numbers for one run, straight from its files, formatted as the report does."""
    raw_csv = (folder / "metrics.csv").read_text() if (folder / "metrics.csv").exists() else ""
    lines = raw_csv[: raw_csv.rfind("\n") + 1].splitlines()  # a line cut mid-write is not a row
    header = lines[0].split(",") if lines else []
    table = [dict(zip(header, (float(c) if c else None for c in line.split(",")))) for line in lines[1:]]
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
    best = max(table, key=lambda r: r["val_acc"]) if table else None  # first of the ties, as compare
    last = table[-1] if table else {}
    test = summary.get("test") or {}
    seconds = summary.get("train_seconds", sum(r["seconds"] for r in table) if table else None)
    return [fmt_value(best["val_acc"] if best else None, pct=True), fmt_number(int(best["epoch"]) if best else None),
            fmt_number(last.get("train_loss")), fmt_number(last.get("val_loss")),
            fmt_value(test.get("acc"), pct=True), fmt_number(test.get("loss")), fmt_number(len(table)),
            fmt_number(seconds)]


def test_table_numbers_are_the_runs_numbers(ungrouped, loaded):
    _, text = ungrouped
    table = check(text).table
    _, runs = loaded
    assert [cells[0] for cells in table] == [r.name for r in runs]  # one row per run, in order (no groups)
    for cells, run in zip(table, runs):
        assert cells[-8:] == expected_cells(run.path), run.path
        assert cells[1] == run.status
    rows = {cells[0]: cells for cells in table}
    # the runs that trained have real numbers; the cut run kept the complete lines of its metrics.csv
    assert rows["sgd"][-2] == "5" and rows["adam"][-4] != "–"
    assert 1 <= int(rows[WEIRD][-2]) < 5 and rows[WEIRD][1] == "incomplete"
    assert rows["boom"][-2] == "0" and rows["boom"][1] == "diverged"
    # the differing settings, grouped by component in one column: optimizer and lr differ between these runs
    # (a row shows where it departs from the values most of the rows share)
    assert "Common values: <code>activation: tanh · train: batch_size=32 · seed=0</code>" in text
    assert rows["adam"][2] == "optimizer: adam lr=0.01 train: epochs=4 seed=1"  # the second adam (seed 1)
    assert rows["boom"][2] == "optimizer: sgd lr=1000000 activation: relu train: batch_size=16 epochs=4"
    assert all(len(cells) == 2 + 1 + 8 for cells in table)


def test_self_contained_no_script_no_network(ungrouped):
    _, text = ungrouped
    assert "<script" not in text.lower()
    assert "javascript:" not in text.lower()
    urls = set(re.findall(r"https?://[^\s\"'<>)]*", text))
    assert urls <= set(SVG_NAMESPACES), urls
    assert "<img" not in text and "<link" not in text and "@import" not in text


def test_user_text_is_escaped(ungrouped):
    _, text = ungrouped
    assert WEIRD not in text
    assert html.escape(WEIRD) in text
    # in the table, the section heading, the config and the legend of the curves
    assert text.count(html.escape(WEIRD)) >= 4


def test_diverged_run_shows_its_diagnosis(ungrouped, loaded):
    _, text = ungrouped
    boom = loaded[0]["boom"]
    sentence = boom.summary["diagnosis"][0]["message"]
    assert "diverged" in sentence.lower()
    section = section_of(text, boom)
    assert html.escape(sentence) in section
    assert html.escape(boom.summary["message"]) in section
    assert ("<svg" in section) == bool(boom.diagnostics)  # no epochs: at most its gradient norms
    # every run's section lists its own findings, or says there are none
    for run in loaded[1]:
        section = section_of(text, run)
        findings = run.summary["diagnosis"] if "diagnosis" in run.summary else \
            diagnose(run.metrics, run.diagnostics, run.summary, run.config)  # old/unfinished: diagnosed now
        if findings:
            assert all(html.escape(f["message"]) in section for f in findings)
        elif run.metrics:
            assert "No problems found by the rules." in section
        else:
            assert "Nothing to diagnose" in section


@pytest.mark.slow
def test_groups_show_mean_and_std(loaded, tmp_path):
    _, runs = loaded
    path = write_report(runs, tmp_path / "sub" / "grouped.html", title="seeds <&> groups")
    text = path.read_text(encoding="utf-8")
    rows = {cells[0]: cells for cells in check(text).table}
    assert "adam (2 seeds)" in rows and "adam" not in rows
    adams = [r for r in runs if r.name == "adam"]
    tests = [r.summary["test"]["acc"] for r in adams]
    assert rows["adam (2 seeds)"][-4] == fmt_value(statistics.fmean(tests), statistics.stdev(tests), pct=True)
    assert "%" in rows["adam (2 seeds)"][-4] and "±" in rows["adam (2 seeds)"][-4]
    assert "<title>seeds &lt;&amp;&gt; groups</title>" in text
    # the group is one curve: the mean over its seeds with a band (no curve per seed)
    assert "[seed 0]" not in text and "mean over its seeds" in text
    assert "band of ± one standard deviation" in text
    assert "Generated " in text and "nnlab 0.1" in text and "6 runs" in text


def test_atomic_write_and_overwrite(loaded, tmp_path):
    _, runs = loaded
    out = tmp_path / "r.html"
    out.write_text("old")
    assert write_report(runs[:1], out) == out
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary file left behind


@pytest.mark.slow
def test_missing_optional_files_and_no_runs(runs_dir, tmp_path):
    src = next(runs_dir.glob("*_sgd"))
    bare = tmp_path / "bare"
    shutil.copytree(src, bare)
    (bare / "diagnostics.csv").unlink()
    (bare / "config.yaml").unlink()
    runs, _ = find_runs([bare])
    text = write_report(runs, tmp_path / "bare.html").read_text()
    c = check(text)
    assert c.counts["svg"] == 1  # curves only
    assert "No config.yaml in this folder." in text
    empty = write_report([], tmp_path / "empty.html").read_text()
    assert "svg" not in check(empty, tables=False).counts and "0 runs" in empty


def test_regression_runs_plot_log_validation_loss(tmp_path):
    folder = tmp_path / "reg"
    folder.mkdir()
    metrics = [{"epoch": e, "lr": 0.01, "train_loss": 10.0 / e, "train_acc": None, "val_loss": 12.0 / e,
                "val_acc": None, "seconds": 0.01} for e in range(1, 6)]
    run = Run(path=folder, name="reg$x$", status="completed", metrics=metrics,
              summary={"data": {"task": "regression"}, "test": {"loss": 2.5, "acc": None}})
    text = write_report([run], tmp_path / "reg.html").read_text()
    c = check(text)
    assert c.counts["svg"] == 1
    assert "validation loss (log scale)" in text and "validation accuracy" not in text
    assert "best = lowest val_loss" in text
    assert c.table[0][-4:-2] == ["–", "2.5"]  # test acc, test loss


def test_one_log_axis_rule_for_every_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnlab.look.figures import LOG_RATIO, log_if_wide

    assert LOG_RATIO == 50.0
    cases = [([1.0, 49.0], False, False), ([1.0, 51.0], False, True), ([0.0, 100.0], False, False),
             ([-1.0, 100.0], True, False), ([1.0, 2.0], True, True), ([1.0, float("nan"), 100.0], False, True),
             ([], False, False)]
    for values, force, want in cases:
        fig, ax = plt.subplots()
        assert log_if_wide(ax, values, force=force) is want, values
        assert ax.get_yscale() == ("log" if want else "linear")
        plt.close(fig)


@pytest.mark.slow
def test_report_and_compare_plot_draw_the_same_overlaid_figure(tmp_path, monkeypatch):
    import nnlab.look.figures as figures
    import nnlab.look.report as report

    # the report keeps no drawing code of its own
    assert not any(hasattr(report, n) for n in ("curves_figure", "gradnorm_figure", "_log_y", "_log_if_wide",
                                                 "_Figures", "_svg"))
    calls = []
    real = figures.overlaid_curves

    def spy(series, regression=False, title="", note=""):
        calls.append(([lab for lab, _, _ in series], regression))
        return real(series, regression=regression, title=title, note=note)

    monkeypatch.setattr(figures, "overlaid_curves", spy)
    rows = [{"epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "val_loss": 2.0 / e, "train_acc": None, "val_acc": None}
            for e in (1, 2, 3)]
    figures.plot_compare([("a", rows), ("b", rows)], tmp_path / "c.svg", metric="val_loss")
    svg = figures.curves_svg(figures.SvgFigures(), [("a", rows, "#123456")], regression=True)
    assert calls == [(["a", "b"], True), (["a"], True)]
    text = (tmp_path / "c.svg").read_text()
    assert "validation loss (log scale)" in text and "validation loss (log scale)" in svg
    assert svg.startswith('<svg role="img" aria-label="Overlaid curves: training loss, validation loss, '
                          'validation loss (log scale), learning rate against epoch"')
    assert 'id="f1-' in svg and "<style" not in svg


def test_a_long_run_name_breaks_after_its_separators_not_inside_a_word(ungrouped):
    """The run column offers a break after every '_', '-' and '.' of a name (a <wbr>), so a narrow column
    wraps 'spiral_batchnorm_...' between its parts; the text is still the whole name."""
    from nnlab.look.report import _name_html

    assert _name_html("spiral_batch-norm.v2_") == "spiral_<wbr>batch-<wbr>norm.<wbr>v2_"
    assert _name_html("a<b>_&") == "a&lt;b&gt;_<wbr>&amp;"
    assert _name_html("plain") == "plain"
    _, text = ungrouped
    assert ">only_<wbr>config</a></td>" in text  # the run that has only its config.yaml
    assert "only_config" in [cells[0] for cells in check(text).table]  # the cell's text is the whole name
