"""The sweep figures (params, progress, best curves) and `nnlab report` on a sweep folder.

The sweep folder is written by hand in the format `nnlab sweep` writes (sweep.yaml, trials.csv,
summary.json, runs/<run>/), its runs trained for real with run_experiment on a tiny spiral.
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
import shutil
import statistics
import struct
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import check

from nnlab.config import validate
from nnlab.experiment import run_experiment
from nnlab.look.figures import SvgFigures, pyplot
from nnlab.look.report import render_report
from nnlab.runs import find_runs
from nnlab.sweep.plots import (best_curves_figure, best_so_far, best_trials, is_sweep_folder, params_figure, plot_sweep,
                               progress_figure, sweep_svgs, trial_label)
from nnlab.sweep.record import make_trial, read_sweep
from nnlab.sweep.section import TRIALS_SHOWN, SweepsPart, sweeps_of

NAME = "lr<&>sweep"  # escaped in the report
PARAMS = {
    "train.optimizer.lr": {"low": 0.01, "high": 1.0e6, "log": True, "int": False},
    "model.activation": {"choices": ["relu", "elu", "tanh"]},
    "model.hidden": {"choices": [[8], [8, 8]]},
}


# ------------------------------------------------------------------ writing a sweep folder by hand


def flow(value) -> str:
    """A parameter cell as nnlab sweep writes it: YAML flow text."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def write_sweep(folder: Path, rows: list[dict], *, params=None, metric="val_acc", seeds=(0, 1), name=NAME,
                summary: dict | None = None, curves: dict | None = None) -> Path:
    """A sweep folder: ``rows`` are trials.csv rows (trial, params, seed, status, value, epochs, seconds, run);
    ``curves``: run folder name -> the metric per epoch, written as that run's metrics.csv."""
    params = PARAMS if params is None else params
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "method": "random", "metric": metric,
            "direction": "maximize" if metric.endswith("acc") else "minimize", "trials": len({r["trial"] for r in rows}),
            "seeds": list(seeds), "seed": 0, "prune": None, "params": params, "config": {"seed": 0}}
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    with open(folder / "trials.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["trial", *params, "seed", "status", metric, "epochs", "seconds", "run"])
        for r in rows:
            value = r.get("value")
            w.writerow([r["trial"], *[flow(r["params"][p]) for p in params], r.get("seed", 0), r["status"],
                        "" if value is None else value, r.get("epochs", ""), r.get("seconds", ""),
                        r.get("run", f"t{r['trial']:03d}-seed{r.get('seed', 0)}")])
    (folder / "summary.json").write_text(json.dumps(summary or {"name": name, "status": "completed", "best": None}))
    for run, values in (curves or {}).items():
        d = folder / "runs" / run
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"])
            for e, v in enumerate(values, 1):
                w.writerow([e, 0.1, 1.0, 0.5, v if metric == "val_loss" else 1.0, v if metric == "val_acc" else 0.5,
                            0.01])
        (d / "config.yaml").write_text(yaml.safe_dump({"name": run, "seed": 0}))
    return folder


def raw_config(seed, lr, activation, hidden, epochs=4):
    return {"name": "sweep_trial", "seed": seed,
            "data": {"name": "spiral", "n_samples": 120, "val_fraction": 0.2},
            "model": {"hidden": hidden, "activation": activation},
            "train": {"epochs": epochs, "batch_size": 16, "optimizer": {"name": "sgd", "lr": lr}}}


# trial -> (params, statuses of seed 0 and 1 or None when there is no run, epochs)
REAL = {
    0: ({"train.optimizer.lr": 0.5, "model.activation": "relu", "model.hidden": [8, 8]}, "completed", 4),
    1: ({"train.optimizer.lr": 0.05, "model.activation": "tanh", "model.hidden": [8]}, "completed", 4),
    2: ({"train.optimizer.lr": 0.2, "model.activation": "elu", "model.hidden": [8]}, "completed", 4),
    3: ({"train.optimizer.lr": 0.01, "model.activation": "relu", "model.hidden": [8]}, "completed", 4),
    4: ({"train.optimizer.lr": 1.0e6, "model.activation": "relu", "model.hidden": [8]}, "diverged", 4),
    5: ({"train.optimizer.lr": 0.01, "model.activation": "tanh", "model.hidden": [8, 8]}, "pruned", 2),
}


SLOW_FIXTURES = ('real_sweep', 'report')  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory):
    """A sweep folder of real tiny runs: 4 completed trials x 2 seeds, a diverged one, a pruned one,
    a failed one and a queued one; summary.json names the best trial as nnlab sweep would."""
    root = tmp_path_factory.mktemp("sweeps")
    folder = root / "2026-11-23_17-00-00_lr"
    scratch = root / "scratch"
    rows, test_accs = [], {}
    with pytest.MonkeyPatch.context() as mp:  # the runs' own PNGs are not tested here, and are slow
        mp.setattr("nnlab.look.figures.plot_curves", lambda *a, **k: None)
        mp.setattr("nnlab.look.figures.plot_diagnostics", lambda *a, **k: None)
        for trial, (params, status, epochs) in REAL.items():
            for seed in (0,) if status == "pruned" else (0, 1):
                cfg = raw_config(seed, params["train.optimizer.lr"], params["model.activation"], params["model.hidden"],
                                 epochs)
                run_dir, _, summary = run_experiment(validate(cfg), runs_dir=scratch)
                assert summary["status"] == ("diverged" if status == "diverged" else "completed")
                name = f"t{trial:03d}-seed{seed}"
                (folder / "runs").mkdir(parents=True, exist_ok=True)
                shutil.move(run_dir, folder / "runs" / name)
                value = 0.0 if status == "diverged" else summary["best"]["val_acc"]
                rows.append({"trial": trial, "params": params, "seed": seed, "status": status, "value": value,
                             "epochs": summary["epochs"], "seconds": round(summary["wall_seconds"], 4), "run": name})
                test_accs.setdefault(trial, []).append(summary["test"]["acc"])
    rows.append({"trial": 6, "params": {"train.optimizer.lr": 0.3, "model.activation": "elu", "model.hidden": [8]},
                 "status": "failed"})
    rows.append({"trial": 7, "params": {"train.optimizer.lr": 0.4, "model.activation": "elu", "model.hidden": [8]},
                 "status": "queued"})
    means = {t: statistics.mean(r["value"] for r in rows if r["trial"] == t) for t in range(4)}
    best = max(means, key=lambda t: (means[t], -t))
    values = [r["value"] for r in rows if r["trial"] == best]
    summary = {"name": NAME, "status": "completed", "method": "random", "metric": "val_acc", "direction": "maximize",
               "counts": {"completed": 4, "diverged": 1, "pruned": 1, "failed": 1, "running": 0, "interrupted": 0,
                          "queued": 1},
               "run_counts": {"completed": 8, "diverged": 2, "pruned": 1, "failed": 1, "running": 0,
                              "interrupted": 0, "queued": 1},
               "best": {"trial": best, "params": REAL[best][0], "value": means[best], "std": statistics.stdev(values),
                        "values": values, "seeds": [0, 1], "runs": [f"t{best:03d}-seed0", f"t{best:03d}-seed1"],
                        "test": {"acc": statistics.mean(test_accs[best]), "acc_std": statistics.stdev(test_accs[best]),
                                 "loss": 1.0, "loss_std": 0.1}},
               "started": "2026-11-23T17:00:00", "finished": "2026-11-23T17:00:05", "seconds": 5.0}
    write_sweep(folder, rows, summary=summary)
    return folder, rows, means, best


# ------------------------------------------------------------------ plain data


def trial(number, lr, activation="relu", hidden=(8,), value=0.5, status="completed"):
    return make_trial(number, {"train.optimizer.lr": lr, "model.activation": activation, "model.hidden": list(hidden)},
                      [{"seed": 0, "status": status, "value": value}])


TRIALS = [trial(0, 0.001, "relu", (8,), 0.61), trial(1, 0.08, "tanh", (8, 8), 0.0, "diverged"),
          trial(2, 0.015, "elu", (8,), 0.1, "pruned"), trial(3, 0.01, "relu", (8,), None, "failed"),
          trial(4, 0.003, "elu", (8, 8), 0.72), trial(5, 0.02, "tanh", (8,), 0.55), trial(6, 0.05, "relu", (8,), 0.72),
          trial(7, 0.0002, "elu", (8,), 0.3)]


def draw(pair):
    assert pair is not None
    fig = pair[0](pyplot())
    return fig


def points(ax) -> list[tuple[float, float]]:
    """Every scatter point on an axis."""
    return [tuple(p) for c in ax.collections for p in c.get_offsets()]


def test_make_trial_means_the_seeds_that_finished():
    t = make_trial(3, {"lr": 0.1}, [
        {"seed": 0, "status": "completed", "value": 0.6, "seconds": 1.0, "run": "t003-seed0"},
        {"seed": 1, "status": "diverged", "value": 0.0, "seconds": 0.5, "run": "t003-seed1"}])
    assert (t.value, t.status, t.candidate, t.seconds) == (0.3, "diverged", False, 1.5)  # never recommended
    assert t.std == pytest.approx(statistics.stdev([0.6, 0.0]))
    pruned = make_trial(4, {}, [{"seed": 0, "status": "pruned", "value": 0.1}])
    assert (pruned.value, pruned.status, pruned.candidate) == (0.1, "pruned", False)
    failed = make_trial(5, {}, [{"seed": 0, "status": "completed", "value": 0.9}, {"seed": 1, "status": "failed"}])
    assert (failed.value, failed.status, failed.candidate) == (0.9, "failed", False)
    inf = make_trial(6, {}, [{"seed": 0, "status": "diverged", "value": math.inf},
                             {"seed": 1, "status": "completed", "value": 0.4}])
    assert inf.value == math.inf and inf.std is None


def test_params_figure_axes_scales_and_category_labels():
    fig = draw(params_figure(TRIALS, PARAMS, "val_acc", n_seeds=2))
    try:
        lr, act, hidden = fig.axes[:3]
        assert lr.get_xscale() == "log" and act.get_xscale() == "linear"
        assert [t.get_text() for t in act.get_xticklabels()] == ["relu", "elu", "tanh"]
        assert [t.get_text() for t in hidden.get_xticklabels()] == ["[8]", "[8, 8]"]
        assert lr.get_ylabel() == "val_acc (mean over 2 seeds)"
        # every trial with a value is a point (the failed one is not), plus the best as a star
        shown = [t for t in TRIALS if t.status != "failed"]
        pts = points(lr)
        assert len(pts) == len(shown) + 1
        assert sorted(x for x, _ in pts[:-1]) == pytest.approx(sorted(t.params["train.optimizer.lr"] for t in shown))
        # categorical x: the choice's position, jittered by less than half a slot
        order = {"relu": 0, "elu": 1, "tanh": 2}
        for x, y in points(act)[:-1]:
            assert len([t for t in shown if t.value == pytest.approx(y)
                        and abs(order[t.params["model.activation"]] - x) < 0.2]) == 1
        # the pruned trial (2) is hollow: the only points with no face colour
        hollow = [tuple(p) for c in lr.collections if len(c.get_facecolors()) == 0 for p in c.get_offsets()]
        assert hollow == [pytest.approx((0.015, 0.1))]
        # the best (first of the 0.72s: trial 4) is the star, pruned trials hollow and in the legend
        star = act.collections[-1]
        assert star.get_paths() and tuple(star.get_offsets()[0])[1] == pytest.approx(0.72)
        assert star.get_offsets()[0][0] == pytest.approx(1, abs=0.2)  # trial 4 is elu
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels == ["activation=relu", "activation=elu", "activation=tanh", "pruned", "diverged", "best (#4)"]
    finally:
        pyplot().close(fig)


@pytest.mark.parametrize("n", [1, 4, 8])
def test_params_figure_one_panel_per_parameter(n):
    params = {f"model.p{i}": ({"low": 1, "high": 100, "log": i % 2 == 0, "int": True} if i % 3 else
                              {"choices": ["a", "b"]}) for i in range(n)}
    trials = [make_trial(j, {p: (j % 2 and "b" or "a") if "choices" in s else 1 + 11 * j for p, s in params.items()},
                         [{"seed": 0, "status": "completed", "value": j / 10}]) for j in range(9)]
    fig = draw(params_figure(trials, params, "val_acc"))
    try:
        assert len(fig.axes) == n
        assert [a.get_xlabel() for a in fig.axes] == list(params)
        assert [a.get_xscale() for a in fig.axes] == ["log" if s.get("log") else "linear" for s in params.values()]
        w, h = fig.get_size_inches()
        assert 0.9 < w / h < 4.2
        assert not fig.legends or "pruned" not in [t.get_text() for t in fig.legends[0].get_texts()]
    finally:
        pyplot().close(fig)


def test_progress_best_so_far_is_the_running_max_or_min():
    fig = draw(progress_figure(TRIALS, "val_acc", direction="maximize"))
    try:
        line = fig.axes[0].lines[0]
        cands = [t for t in sorted(TRIALS, key=lambda t: t.number) if t.candidate]
        assert [t.number for t in cands] == [0, 4, 5, 6, 7]  # trial 1 diverged: never a candidate
        assert list(line.get_xdata()[: len(cands)]) == [0, 4, 5, 6, 7]
        assert list(line.get_ydata()[: len(cands)]) == pytest.approx([0.61, 0.72, 0.72, 0.72, 0.72])
        assert line.get_drawstyle() == "steps-post"
    finally:
        pyplot().close(fig)
    assert best_so_far([0.5, 0.3, 0.7, 0.6], "minimize") == [0.5, 0.3, 0.3, 0.3]
    assert best_so_far([0.5, float("nan"), 0.7], "maximize") == [0.5, 0.5, 0.7]


def test_infinite_losses_are_drawn_at_the_edge():
    trials = [make_trial(i, {"train.optimizer.lr": lr}, [{"seed": 0, "status": st, "value": v}]) for i, (lr, v, st) in
              enumerate([(0.01, math.inf, "diverged"), (0.02, 0.4, "completed"), (0.03, 0.2, "completed"),
                         (0.04, math.nan, "completed")])]
    for fig in (draw(params_figure(trials, {"train.optimizer.lr": PARAMS["train.optimizer.lr"]}, "val_loss",
                                   direction="minimize")),
                draw(progress_figure(trials, "val_loss", direction="minimize"))):
        try:
            ax = fig.axes[0]
            lo, hi = ax.get_ylim()
            assert math.isfinite(lo) and math.isfinite(hi)
            ys = [y for _, y in points(ax)]
            assert all(math.isfinite(y) for y in ys)
            assert len([y for y in ys if y > 0.4]) == 1 and max(ys) < hi  # the infinite one, above the finite ones
            assert "infinite (diverged), drawn at the edge" in [t.get_text() for t in fig.legends[0].get_texts()]
        finally:
            pyplot().close(fig)
    fig = draw(progress_figure(trials, "val_loss", direction="minimize"))
    try:  # trial 0 diverged: no candidate, the best-so-far line starts at trial 1
        line = fig.axes[0].lines[0]
        assert list(line.get_xdata()[:2]) == [1, 2] and list(line.get_ydata()[:2]) == [0.4, 0.2]
    finally:
        pyplot().close(fig)


def test_best_trials_and_labels():
    assert [t.number for t in best_trials(TRIALS, "maximize", k=3)] == [4, 6, 0]
    assert [t.number for t in best_trials(TRIALS, "minimize", k=3)] == [7, 5, 0]  # only completed ones are
    assert [t.number for t in best_trials(TRIALS, "maximize")] == [4, 6, 0, 5, 7]
    assert trial_label(TRIALS[4], list(PARAMS)) == "#4 lr=0.003 activation=elu hidden=[8, 8]"


def test_best_curves_mean_and_band():
    def rows(vals):
        return [{"epoch": e, "val_acc": v} for e, v in enumerate(vals, 1)]

    fig = draw(best_curves_figure([("#2 lr=0.1", [rows([0.2, 0.4, 0.6]), rows([0.4, 0.6, 0.7])]),
                                   ("#5 lr=0.01", [rows([0.1, 0.2, math.nan])])], "val_acc"))
    try:
        ax = fig.axes[0]
        first, second = ax.lines
        assert list(first.get_ydata()) == pytest.approx([0.3, 0.5, 0.65])
        assert first.get_label() == "#2 lr=0.1 (2 seeds)" and second.get_label() == "#5 lr=0.01"
        assert len(ax.collections) == 1  # one min–max band: only the first has two seeds
        band = ax.collections[0].get_paths()[0].vertices
        assert min(band[:, 1]) == pytest.approx(0.2) and max(band[:, 1]) == pytest.approx(0.7)
    finally:
        pyplot().close(fig)
    assert best_curves_figure([("#1", [rows([math.nan])]), ("#2", [])], "val_acc") is None


# ------------------------------------------------------------------ a sweep folder


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_read_sweep(real_sweep):
    folder, _, means, best = real_sweep
    sweep = read_sweep(folder)
    assert (sweep.name, sweep.metric, sweep.direction, sweep.n_seeds, sweep.warnings) == (NAME, "val_acc", "maximize",
                                                                                         2, [])
    assert [t.number for t in sweep.trials] == list(range(8))
    for t in sweep.trials[:4]:
        assert t.value == pytest.approx(means[t.number]) and t.params == REAL[t.number][0]
    assert sweep.trials[5].params["train.optimizer.lr"] == pytest.approx(0.01)  # the cell reads '0.01'
    assert [t.status for t in sweep.trials[4:]] == ["diverged", "pruned", "failed", "queued"]
    assert sweep.best.number == best


def test_param_cells_yaml_does_not_read_as_numbers(tmp_path):
    rows = [{"trial": 0, "params": {"train.optimizer.lr": 1e-06, "model.activation": "relu", "model.hidden": [8]},
             "status": "completed", "value": 0.5}]
    folder = write_sweep(tmp_path / "s", rows)
    assert "1.0e-06" in (folder / "trials.csv").read_text() or "1e-06" in (folder / "trials.csv").read_text()
    (folder / "trials.csv").write_text((folder / "trials.csv").read_text().replace("1.0e-06", "1e-06"))
    (t,) = read_sweep(folder).trials
    assert t.params == {"train.optimizer.lr": 1e-06, "model.activation": "relu", "model.hidden": [8]}


@pytest.mark.slow
def test_plot_sweep_writes_three_pngs(real_sweep):
    folder = real_sweep[0]
    written = plot_sweep(folder)
    assert written == [folder / "params.png", folder / "progress.png", folder / "best_curves.png"]
    sizes = {p.name: png_size(p) for p in written}
    w, h = sizes["params.png"]  # three panels side by side
    assert 2.2 < w / h < 3.8 and 900 < w < 1400
    w, h = sizes["progress.png"]
    assert 1.4 < w / h < 2.4 and 650 < w < 900
    w, h = sizes["best_curves.png"]
    assert 1.1 < w / h < 2.4
    assert all(p.stat().st_size > 10_000 for p in written)


def test_plot_sweep_of_a_loss_sweep_with_infinite_values(tmp_path):
    p = {"train.optimizer.lr": PARAMS["train.optimizer.lr"]}
    rows = [{"trial": 0, "params": {"train.optimizer.lr": 0.1}, "status": "completed", "value": 0.3},
            {"trial": 1, "params": {"train.optimizer.lr": 9.0}, "status": "diverged", "value": "inf"},
            {"trial": 2, "params": {"train.optimizer.lr": 0.02}, "status": "completed", "value": 0.5}]
    folder = write_sweep(tmp_path / "loss", rows, params=p, metric="val_loss", seeds=[0],
                         curves={"t000-seed0": [0.9, 0.5, 0.3], "t001-seed0": [2.0, math.inf],
                                 "t002-seed0": [1.0, 0.7, 0.5]})
    sweep = read_sweep(folder)
    assert sweep.direction == "minimize" and sweep.trials[1].value == math.inf
    assert [t.number for t in best_trials(sweep.trials, sweep.direction)] == [0, 2]  # the diverged one is none
    assert len(plot_sweep(folder)) == 3


def test_an_empty_sweep_writes_nothing(tmp_path):
    rows = [{"trial": 0, "params": {"train.optimizer.lr": 0.1, "model.activation": "relu", "model.hidden": [8]},
             "status": "failed"},
            {"trial": 1, "params": {"train.optimizer.lr": 0.2, "model.activation": "elu", "model.hidden": [8]},
             "status": "queued"}]
    folder = write_sweep(tmp_path / "empty", rows)
    assert plot_sweep(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json", "sweep.yaml", "trials.csv"]
    (folder / "trials.csv").write_text("trial,seed,status,val_acc,epochs,seconds,run\n")
    assert plot_sweep(folder) == []
    assert sweep_svgs(SvgFigures(), read_sweep(folder)) == []


def test_find_runs_descends_into_a_sweep_folder(real_sweep):
    folder = real_sweep[0]
    assert is_sweep_folder(folder) and not is_sweep_folder(folder / "runs")
    expected = sorted(p.name for p in (folder / "runs").iterdir())
    assert len(expected) == 11
    for paths in ([folder], [folder.parent], [folder / "runs"]):
        runs, warnings = find_runs(paths)
        assert sorted(r.path.name for r in runs) == expected and not warnings, paths


# ------------------------------------------------------------------ the report


@pytest.fixture(scope="module")
def report(real_sweep, tmp_path_factory):
    """`nnlab report <sweep folder> -o x.html`: (the command's output, the HTML text)."""
    from nnlab.cli import main

    out = tmp_path_factory.mktemp("report") / "x.html"
    with pytest.MonkeyPatch.context() as mp:  # each run's gradient-norm figure is test_report's business, and slow
        mp.setattr("nnlab.look.report.gradnorm_svg", lambda *a, **k: None)
        result = CliRunner().invoke(main, ["report", str(real_sweep[0]), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output, out.read_text(encoding="utf-8")


def sweep_part(text: str) -> str:
    start = text.index('<section class="sweep"')
    return text[start: text.index("</section>", start)]


@pytest.mark.slow
def test_report_has_the_sweep_section_before_the_comparison(report, real_sweep):
    folder, _, means, best = real_sweep
    report = report[1]
    check(report)  # well-formed, figure ids unique and resolved (test_report's checker)
    part = sweep_part(report)
    assert report.index('<section class="sweep"') < report.index("<h2>Comparison</h2>")
    assert f"<h2>Sweep {html.escape(NAME)}" in part and NAME not in report
    assert part.count("<svg") == 3 and "<img" not in report and ".png" not in report
    assert ("method random · metric val_acc (maximize) · 8 trials × 2 seeds · "
            "trials: 4 completed, 1 diverged, 1 pruned, 1 failed, 1 queued") in part
    # the best: its params, value ± std and test accuracy, as summary.json has them
    summary = json.loads((folder / "summary.json").read_text())["best"]
    kv = part[part.index('<table class="kv">'): part.index("</table>")]
    assert f"<td>{best}</td>" in kv
    assert f"<code>{REAL[best][0]['model.activation']}</code>" in kv
    # accuracies in percent, the ± in percentage points, as in the CLI
    assert f"{100 * summary['value']:.1f}% ± {100 * summary['std']:.1f} (mean over 2 seeds)" in kv
    assert f"{100 * summary['test']['acc']:.1f}% ± {100 * summary['test']['acc_std']:.1f}" in kv
    # the trials, best first: the four completed by their means, the diverged (0), then pruned, failed, queued
    table = part[part.index('<table class="compare trials">'):]
    order = [int(n) for n in re.findall(r'<tr><td class="num[^"]*">(?:<a href="#run-\d+">)?(\d+)', table)]
    assert order == sorted(range(4), key=lambda t: -means[t]) + [4, 5, 6, 7]
    assert table.count('class="status st-') == 8


def test_report_trials_link_to_their_runs(report):
    text = report[1]
    anchors = re.findall(r'href="#(run-\d+)"', sweep_part(text))
    assert len(anchors) == 6  # the trials with a run folder
    for anchor in anchors:
        assert f'id="{anchor}"' in text


def test_report_caps_the_trials_table(tmp_path):
    p = {"train.optimizer.lr": PARAMS["train.optimizer.lr"]}
    rows = [{"trial": i, "params": {"train.optimizer.lr": 0.01 * (i + 1)}, "status": "completed", "value": i / 100}
            for i in range(TRIALS_SHOWN + 10)]
    folder = write_sweep(tmp_path / "big", rows, params=p, seeds=[0])
    text = render_report([], parts=[SweepsPart([folder])])
    part = sweep_part(text)
    assert part.count("<tr><td") == TRIALS_SHOWN and f"The best {TRIALS_SHOWN} of {TRIALS_SHOWN + 10} trials" in part
    assert '<td class="num best">59</td>' in part
    assert not [i for i in range(10) if f'<td class="num">{i}</td>' in part]  # the worst ten are left out
    assert part.count("<svg") == 2  # no runs, so no best curves


def test_nnlab_report_on_a_sweep_folder_reports_its_runs(report):
    output, text = report
    assert "(11 runs)" in output
    assert text.count('<section class="sweep"') == 1 and text.count('<section class="run"') == 11
    assert text.count("<svg") == 3 + 1  # the sweep's three figures and the runs' overlaid curves


def test_a_few_runs_of_a_sweep_get_no_sweep_section(real_sweep):
    folder = real_sweep[0]
    runs, _ = find_runs([folder])
    assert sweeps_of(runs) == [folder]
    assert sweeps_of(runs[:3]) == []  # a few of its runs, e.g. next to a baseline
    assert sweeps_of(find_runs([folder / "runs"])[0]) == [folder]
