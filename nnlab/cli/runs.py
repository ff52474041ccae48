"""nnlab runs, show, compare and report: reading run folders (never the trainer).

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import os
import sys

import click

from nnlab.cli import PLOT_SUFFIXES, REPORT_SUFFIXES, check_output, handle_errors, main, make_console
from nnlab.metrics import METRICS


def _esc(text) -> str:
    """Text from a run folder (names, messages, paths) for rich: '[' is a bracket, not markup."""
    from rich.markup import escape

    return escape(str(text))


def _warn(lines):
    err = make_console(stderr=True)
    for w in lines:
        err.print(f"[yellow]warning:[/] {_esc(w)}", soft_wrap=True)


def _num(v, pct=False, spread=None):
    from nnlab.text import mean_std

    return mean_std(v, spread, pct=pct)


def _runs_word(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


@main.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--all", "all_keys", is_flag=True, help="Show every config key, not only the ones that differ.")
@click.option("--metric", type=click.Choice(METRICS), default=None,
              help="The metric whose best value and epoch are shown (default: val_acc, or val_loss for "
                   "regression).")
@click.option("--sort", "sort", default=None, metavar="COLUMN",
              help="Order by a column: best, best_epoch, final_train_loss, final_val_loss, test_acc, test_loss, "
                   "epochs, seconds or name (best first for accuracies).")
@click.option("--top", type=click.IntRange(1), default=None, help="Show only the first N rows.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True, help="Output format; csv, json and markdown are for scripts and reports.")
@click.option("--no-group", is_flag=True, help="Do not merge runs that differ only in their seed.")
@click.option("--plot", type=click.Path(), default=None,
              help="Also draw the runs' curves overlaid into this figure (.png, .svg or .pdf).")
@handle_errors
def compare_(runs, all_keys, metric, sort, top, fmt, no_group, plot):
    """Show runs side by side: the settings that differ, next to the results.

    RUNS are run folders or folders of runs (shell globs are the normal use).
    Completed runs whose configs are the same except for the seed are merged
    into one row with mean ± std over the seeds (a crashed or diverged run is
    never averaged in).  Folders that are not runs, or damaged ones,
    are shown as far as possible or skipped with a warning.

    \b
    Examples:
      nnlab compare runs/*
      nnlab compare runs/* --sort test_acc --top 5
      nnlab compare runs/* --format json > results.json
      nnlab compare runs/*sgd* --plot sgd.png
    """
    from nnlab.errors import ConfigError
    from nnlab.runs import find_runs
    from nnlab.runs.compare import COLUMNS, compare, to_csv, to_json, to_markdown

    if sort and sort not in COLUMNS and sort != "name":
        raise ConfigError(f"--sort: unknown column {sort!r}; choose from name, {', '.join(COLUMNS)}")
    if plot:
        check_output(plot, "--plot", PLOT_SUFFIXES)
    found, warnings = find_runs(runs)
    if fmt == "table":  # a damaged folder is listed below the table, with the reason: not twice
        from nnlab.runs.compare import damage

        damaged = tuple(f"{r.path}: " for r in found if damage(r))
        warnings = [w for w in warnings if not w.startswith(damaged) or not damaged]
    _warn(warnings)
    if not found:
        make_console(stderr=True).print("no runs found")
        sys.exit(1)
    comp = compare(found, metric=metric, group=not no_group, all_keys=all_keys, sort=sort, top=top)
    if fmt == "csv":
        click.echo(to_csv(comp), nl=False)
    elif fmt == "json":
        click.echo(to_json(comp), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(comp), nl=False)
    else:
        from nnlab.look.term import colour_wanted, emit, screen
        from nnlab.look.views import render_compare

        terminal, width = screen()
        emit(render_compare(comp, width=width, terminal=terminal), colour=colour_wanted())
        if comp.damaged and not terminal:  # below a table for scripts they would be a row: on stderr
            _warn(f"{path}: not compared (damaged: {why})" for path, why in comp.damaged)
    if plot:
        from nnlab.look.figures import plot_compare
        from nnlab.runs.compare import label

        by_path = {str(r.path): r for r in found}
        series = [(label(row), [by_path[p].metrics for p in row.runs] if len(row.runs) > 1
                   else by_path[row.runs[0]].metrics) for row in comp.rows]  # a seed group: mean ± std
        plot_compare(series, plot, metric=comp.metric, title=_runs_word(len(comp.rows)))
        make_console(stderr=True).print(f"plot: {_esc(plot)}")


@main.command("runs")
@click.argument("folder", required=False, default="runs", type=click.Path())
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["completed", "diverged", "pruned", "interrupted", "failed", "running", "crashed",
                                 "incomplete"]),  # nnlab.runs.STATUSES (not imported: --help stays fast)
              help="Only runs with this status (repeatable).")
@handle_errors
def runs_(folder, statuses):
    """List the runs in FOLDER (default: runs), newest first.

    A run whose process is gone without writing its result shows as crashed.

    \b
    Examples:
      nnlab runs
      nnlab runs runs/ --status diverged --status crashed
    """
    from nnlab.errors import RunError
    from nnlab.look.term import colour_wanted, emit, screen
    from nnlab.look.views import render_runs
    from nnlab.runs import find_runs

    if not os.path.isdir(folder):
        raise RunError(f"{folder}: no such folder" if not os.path.lexists(folder) else f"{folder}: not a folder")
    found, warnings = find_runs([folder])
    _warn(warnings)
    if statuses:
        found = [r for r in found if r.status in statuses]
    found.sort(key=lambda r: (r.started is None, r.started), reverse=True)
    found.sort(key=lambda r: r.started is None)
    terminal, width = screen()
    emit(render_runs(found, folder, width=width, terminal=terminal), colour=colour_wanted())


@main.command("show")
@click.argument("run", type=click.Path(exists=False))
@click.option("--config/--no-config", "show_config", default=True, show_default=True,
              help="Print the resolved config.")
@handle_errors
def show(run, show_config):
    """Show one run: its summary, the diagnosis, its config and its curves.

    The diagnosis reads the recorded curves the way the lecture notes teach:
    training first, then validation; the shape of the loss curve; vanishing
    gradients; dead ReLUs.  It works on old runs too.

    \b
    Example:
      nnlab show runs/2026-11-22_10-00-00_adam_relu
    """
    from nnlab.errors import RunError
    from nnlab.runs import load_run

    r = load_run(run)
    if r is None:
        from nnlab.runs import folder_kind, holds_runs

        if holds_runs(run):
            raise RunError(f"{run}: a sweep folder, not a run; show one of its runs (nnlab show {run}/runs/<run>), "
                           f"or all of it: nnlab report {run} -o report.html")
        if folder_kind(run) == "lr-find":
            raise RunError(f"{run}: a range test of nnlab lr-find, not a run; its result is in summary.json and "
                           "lr_find.png there")
        raise RunError(f"{run}: not a run folder (expected config.yaml, metrics.csv or summary.json inside)")
    _warn(f"{r.path}: {w}" for w in r.warnings)
    from nnlab.look.term import colour_wanted, emit, screen
    from nnlab.look.views import render_show

    terminal, width = screen()
    emit(render_show(r, width=width, terminal=terminal, config=show_config), colour=colour_wanted())


@main.command("report")
@click.argument("runs", nargs=-1, type=click.Path())
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(),
              help="The HTML file to write (.html or .htm; a missing folder is created).")
@click.option("--metric", type=click.Choice(METRICS), default=None,
              help="The metric whose best value is shown.")
@click.option("--no-group", is_flag=True, help="Do not merge runs that differ only in their seed.")
@click.option("--claims", "claims_out", default=None, type=click.Path(file_okay=False),
              help="Add the claims gallery of this folder (what nnlab claims run --out wrote) as a section.")
@handle_errors
def report(runs, output, metric, no_group, claims_out):
    """Write one self-contained HTML report of RUNS (and of a claims folder with --claims).

    The comparison table, the overlaid curves, and each run's diagnosis,
    results and config; plots are inline SVG, so the file needs no network and
    no JavaScript and can be mailed or archived as it is.

    \b
    Examples:
      nnlab report runs/* -o report.html
      nnlab report --claims claims-out -o gallery.html
    """
    from nnlab.look.report import write_report
    from nnlab.runs import find_runs

    check_output(output, "--output", REPORT_SUFFIXES, create_folder=True)
    if not runs and not claims_out:
        raise click.UsageError("name the run folders to report (RUNS), or a claims folder with --claims")
    parts, results = [], []
    if claims_out:
        from nnlab.claims.gallery import read_results
        from nnlab.claims.html import GalleryPart

        results, notes = read_results(claims_out, option="--claims")
        _warn(notes)
        parts.append(GalleryPart(results))
    found = []
    if runs:
        found, warnings = find_runs(runs)
        _warn(warnings)
        if not found:
            make_console(stderr=True).print("no runs found; nothing written")
            sys.exit(1)
        from nnlab.sweep.section import SweepsPart, sweeps_of

        parts.append(SweepsPart(sweeps_of(found)))
    path = write_report(found, output, metric=metric, group=not no_group, parts=parts)
    what = [_runs_word(len(found))] if found else []
    if results:
        what.append(f"{len(results)} claim{'s' if len(results) != 1 else ''}")
    make_console().print(f"report: {_esc(path)} ({', '.join(what)})", soft_wrap=True)




@main.command("ensemble")
@click.argument("run_folders", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", "out_dir", default=None, type=click.Path(),
              help="Write summary.json and ensemble.csv into this new folder.")
@handle_errors
def ensemble_(run_folders, out_dir):
    """Combine finished runs into an ensemble and compare it with each member.

    The runs must be trained on the same data (same data spec and dtype, same
    features and classes); their models may differ.  The ensemble averages their
    softmax outputs (their outputs for regression) on the validation and test sets
    (note 002: "train multiple independent models, at test time average their
    results").

    \b
    Examples:
      nnlab ensemble runs/*_adam_relu*
      nnlab ensemble runs/a runs/b runs/c -o runs/ensemble_abc
    """
    from nnlab.ensemble import check_fingerprints, check_same_data, combine_runs
    from nnlab.errors import RunError
    from nnlab.runs import find_runs

    found, warnings = find_runs(run_folders)
    _warn(warnings)
    usable = [r for r in found if (r.path / "model.npz").is_file() and r.config]
    skipped = [r for r in found if r not in usable]
    for r in skipped:
        make_console(stderr=True).print(f"warning: {_esc(r.path)}: no model.npz or config.yaml ({r.status}), skipped",
                                    soft_wrap=True)
    if len(usable) < 2:
        raise RunError(f"an ensemble needs at least 2 finished runs with a model.npz; found {len(usable)}")
    if out_dir is not None:
        from pathlib import Path

        p = Path(out_dir)
        if p.exists() and (not p.is_dir() or any(p.iterdir())):
            raise RunError(f"-o {out_dir}: exists and is not an empty folder; name a new folder")
    check_same_data(usable)
    from nnlab.config import load_config
    from nnlab.experiment import load_data

    dataset = load_data(load_config(usable[0].path / "config.yaml"))
    check_fingerprints(usable, dataset)
    result = combine_runs([r.path for r in usable], dataset)
    from nnlab.cli import print_table

    out = make_console()
    acc = result["ensemble"].get("test_acc") is not None or result["ensemble"].get("val_acc") is not None
    key = "acc" if acc else "loss"
    fmt = (lambda v: "-" if v is None else f"{100 * v:.1f}%") if acc else (lambda v: "-" if v is None else f"{v:.4g}")
    # the numbers first and the run folder last, whole (it is for copying), as in nnlab runs
    rows = [[fmt(m.get(f"val_{key}")), fmt(m.get(f"test_{key}")), str(m["run"])] for m in result["members"]]
    e = result["ensemble"]
    rows.append([fmt(e.get(f"val_{key}")), fmt(e.get(f"test_{key}")), "ensemble"])
    out.print(f"ensemble of {len(usable)} runs (their {'softmax outputs' if acc else 'outputs'} averaged):",
              soft_wrap=True, markup=False)
    print_table(out, [f"val {key}", f"test {key}", "run"], rows, right={0, 1}, whole=True)
    for k, g in result["gain"].items():
        out.print(f"{k.replace('_', ' ')}: {100 * g['over_mean_member']:+.1f} points over the mean member, "
                  f"{100 * g['over_best_member']:+.1f} over the best", soft_wrap=True, markup=False)
    if out_dir is not None:
        import csv
        import io
        from pathlib import Path

        from nnlab.runs import atomic_write, write_json

        p = Path(out_dir)
        p.mkdir(parents=True, exist_ok=True)
        write_json(p / "summary.json", {"kind": "ensemble of runs", **result})
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["run", "val_loss", "val_acc", "test_loss", "test_acc"])
        for m in [*result["members"], {"run": "ensemble", **result["ensemble"]}]:
            w.writerow([m["run"], *(m.get(c) for c in ("val_loss", "val_acc", "test_loss", "test_acc"))])
        atomic_write(p / "ensemble.csv", buf.getvalue())
        out.print(f"written: {p / 'summary.json'}, {p / 'ensemble.csv'}", soft_wrap=True, markup=False)
