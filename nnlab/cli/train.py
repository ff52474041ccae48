"""nnlab validate and nnlab train.

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from nnlab.cli import handle_errors, load_configs, main, make_console, set_option


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@set_option
@handle_errors
def validate(configs, overrides):
    """Check config files without training anything.

    Every problem is reported at once, one line each, naming the file, the key,
    the bad value and what is allowed; the exit code is 2 if any config is invalid.

    \b
    Example:
      nnlab validate configs/*.yaml
    """
    cfgs = load_configs(configs, overrides)
    out = make_console()
    for cfg in cfgs:
        for note in cfg.notes:
            out.print(f"note: {note}", markup=False, soft_wrap=True)
        out.print(f"[green]ok[/] {_e(cfg.source)}  ({_e(_describe(cfg))})")


def _describe(cfg) -> str:
    m, t = cfg.model, cfg.train
    parts = [cfg.data["name"], f"hidden {m['hidden']}", m["activation"]["name"], m["init"]["name"],
             f"{t['optimizer']['name']} lr {t['optimizer']['lr']:g}", t["schedule"]["name"],
             f"{t['epochs']} epochs", f"batch {t['batch_size']}"]
    return ", ".join(parts)


@main.command()
@click.argument("configs", nargs=-1, type=click.Path(dir_okay=False))
@set_option
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(),
              help="Folder that receives one timestamped folder per run.")
@click.option("--name", default=None, help="Name of the run (default: the config's name, or its file's stem).")
@click.option("--resume", "resume", multiple=True, metavar="RUN_FOLDER", type=click.Path(),
              help="Continue an interrupted or crashed run in place from its last checkpoint (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the run folder of each run.")
@handle_errors
def train(configs, overrides, runs_dir, name, resume, quiet):
    """Train an MLP for each config and write a run folder for each.

    Several configs train one after another; all of them, and their data, are
    checked before the first one starts.  Each run writes runs/<date_time>_<name>/
    with config.yaml (the resolved config: train it again to replay the run),
    metrics.csv, summary.json, curves.png and model.npz.  A checkpoint.npz is
    kept while the run is under way, so that a run stopped in any way (Ctrl-C,
    SIGTERM, a crash, a power cut) can go on with --resume; the finished run has
    the same numbers as one never stopped.  A stop by signal loses only the
    epoch in progress, a kill at most that epoch or the last second of training.

    Exit code 0 when every run completed, 1 if one diverged or failed, 2 for a
    bad config or data file, 130 when interrupted with Ctrl-C (143 for SIGTERM,
    129 for SIGHUP).

    \b
    Examples:
      nnlab train configs/adam_relu.yaml
      nnlab train configs/tiny/*.yaml --quiet
      nnlab train configs/adam_relu.yaml --set train.optimizer.lr=0.01 --name adam_lr0.01
      nnlab train --resume runs/2026-11-23_10-00-00_adam_relu
    """
    from nnlab.errors import ConfigError
    from nnlab.interrupt import graceful_signals

    if resume and (configs or overrides or name):
        raise ConfigError("--resume continues runs from their own config.yaml; give no CONFIG, --set or --name "
                          "with it")
    if not resume and not configs:
        raise click.UsageError("give one or more CONFIG files, or --resume RUN_FOLDER")
    if name is not None:
        from nnlab.config.schema import run_name_problem

        if run_name_problem(name):
            raise ConfigError(f"--name: {run_name_problem(name)}")
    from nnlab.cli import check_runs_dir

    check_runs_dir(runs_dir)
    jobs = _resume_jobs(resume) if resume else _config_jobs(configs, overrides, name)
    worst = 0
    with graceful_signals():
        for job in jobs:
            status = _train_one(job, runs_dir, quiet)
            if status != "completed":
                worst = 1
    sys.exit(worst)


def _config_jobs(configs, overrides, name) -> list:
    """Every config validated and its data loaded and checked, before the first run trains."""
    from nnlab.data.augment import data_spec
    from nnlab.errors import NnlabError
    from nnlab.experiment import load_data
    from nnlab.sweep.dispatch import prepare_new

    cfgs = load_configs(configs, overrides)
    loaded: dict = {}  # configs on the same data share one loaded copy
    jobs, lines = [], []
    for cfg in cfgs:
        if name:
            cfg.name = name
        key = repr((data_spec(cfg.data), cfg.dtype))  # augmentation does not change the arrays
        try:
            if key not in loaded:
                loaded[key] = load_data(cfg)
                if loaded[key].task == "regression" and getattr(loaded[key], "task_reason", None):
                    make_console(stderr=True).print(f"note: {cfg.source}: {loaded[key].task_reason}", soft_wrap=True)
            job = prepare_new(cfg, loaded[key])
        except NnlabError as exc:
            lines.extend(line if line.startswith(cfg.source) else f"{cfg.source}: {line}" for line in exc.lines)
            continue
        jobs.append(job)
    if lines:
        from nnlab.errors import DataError

        raise DataError(lines=lines)
    return jobs


def _resume_jobs(folders) -> list:
    """Every run to resume, checked before the first one goes on: one network from its checkpoint, or a members
    ensemble (a plan: nnlab.sweep.members), whose members say for themselves where they stopped."""
    from nnlab.sweep.dispatch import prepare_resume_job

    return [prepare_resume_job(folder) for folder in folders]


def _train_one(job, runs_dir, quiet) -> str:
    from nnlab.errors import NnlabError
    from nnlab.sweep.dispatch import job_config, train_job

    cfg = job_config(job)
    out, err = make_console(), make_console(stderr=True)
    view = _Progress(cfg, err, quiet)
    note = (lambda text: err.print(text, markup=False, soft_wrap=True)) if not quiet else None
    try:
        run_dir, summary = train_job(job, runs_dir, on_start=view.start, on_epoch=view.epoch, note=note)
    except KeyboardInterrupt:  # before the first epoch, or a signal while the last files were written
        view.stop()
        if view.run_dir:
            from nnlab.runs import load_run

            run = load_run(view.run_dir)
            status = run.status if run is not None else "interrupted"
            if status in ("completed", "diverged"):
                err.print(f"stopped after the run {status}: {_e(view.run_dir)}", soft_wrap=True)
            else:
                err.print(f"[yellow]interrupted:[/] what was recorded is in {_e(view.run_dir)}", soft_wrap=True)
        raise
    except Exception as exc:
        view.stop()
        if isinstance(exc, NnlabError) or os.environ.get("NNLAB_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] run failed: {_e(_failure_text(exc))}", soft_wrap=True)
        if view.run_dir:
            err.print(f"what was recorded is in {_e(view.run_dir)}", soft_wrap=True)
        return "failed"
    view.stop()
    if quiet:
        out.print(str(run_dir), soft_wrap=True)
    else:
        _print_result(out, cfg, run_dir, summary)
    for key in ("plot_error", "error"):
        if summary.get(key):
            err.print(f"[yellow]warning:[/] {_e(run_dir)}: {_e(summary[key])}", soft_wrap=True)
    status = summary["status"]
    if status == "diverged":
        err.print(f"[bold red]diverged:[/] {_e(summary['message'])}", soft_wrap=True)
    elif status == "interrupted":
        err.print(f"[yellow]interrupted:[/] kept {summary['epochs']} epochs in {_e(run_dir)}; continue with "
                  f"nnlab train --resume {_e(run_dir)}", soft_wrap=True)
        from nnlab.interrupt import Interrupted, signal_number

        raise Interrupted(signal_number(summary.get("signal")))
    return status


def _e(text) -> str:
    """Text shown as it is (a '[' in a path or message is not rich markup)."""
    from rich.markup import escape

    return escape(str(text))


def _failure_text(exc: Exception) -> str:
    if isinstance(exc, MemoryError):
        return "not enough memory for this network and batch size (MemoryError); use fewer or narrower layers"
    return f"{type(exc).__name__}: {exc}"


ETA_WIDTH = 8  # rich's compact time remaining: MM:SS, or H:MM:SS past an hour


def bar_layout(name: str, stats: str, total: int, width: int) -> tuple[str, str, int]:
    """(name, stats, bar width) for a progress line of ``width`` columns: the epoch counter and the ETA
    always keep their room; the stats are shortened first (the rate, then everything after the loss),
    then the name is shortened with '…' (it is printed whole above the bar)."""
    from nnlab.look.term import ellipsize, width_of

    counter = 2 * len(str(total)) + 1
    bar = 16 if width >= 80 else max(4, min(16, width // 8))
    room = width - counter - ETA_WIDTH - bar - 4  # four single spaces between five columns
    least = min(16, width_of(name))
    for text in (stats, stats.split(" lr ")[0], stats.split(" acc ")[0]):
        if text and room - width_of(text) - 1 >= least:
            return ellipsize(name, room - width_of(text) - 1), text, bar
    return ellipsize(name, max(1, room + 1)), "", bar  # no stats column: one separator fewer


class _Progress:
    """A rich progress bar on a terminal; a plain line every few epochs otherwise."""

    def __init__(self, cfg, console, quiet):
        self.cfg, self.console, self.quiet = cfg, console, quiet
        self.bar = None
        self.run_dir = None
        self.every = 1

    def start(self, info):
        self.run_dir = info["run_dir"]
        self.unit = info.get("unit", "epochs")
        epochs = info["epochs"]
        self.epochs = epochs
        self.every = max(1, epochs // 10)
        if self.quiet:
            return
        name = self.cfg.name
        if info.get("start_epoch"):
            head = f"resuming {name} after epoch {info['start_epoch']} of {epochs}"
        elif info.get("unit") == "members":
            head = f"training {name}: an ensemble of {epochs} members"
        else:
            head = f"training {name}: {epochs} epochs, {info['n_params']} parameters"
        # the folder whole, on a line of its own (a copy of it works however narrow the screen)
        if self.console.is_terminal:
            from nnlab.look.term import emit, width_of, wrap

            if width_of(head) > self.console.width and ": " in head:  # the name alone on its line, whole
                first, rest = head.split(": ", 1)
                emit([first, *wrap(rest, self.console.width, indent="  ", first="  ")], self.console.file)
            else:
                emit([head], self.console.file)
        else:
            self.console.print(head, markup=False, soft_wrap=True)
        self.console.print(f"run folder: {self.run_dir}", markup=False, soft_wrap=True)
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            from rich.table import Column

            def fixed(**kw):
                return Column(no_wrap=True, overflow="ellipsis", **kw)

            desc, _, bar = bar_layout(name, "", epochs, self.console.width)
            self.bar = Progress(
                TextColumn("[bold]{task.description}", markup=True, table_column=fixed()),
                BarColumn(bar_width=bar), MofNCompleteColumn(table_column=fixed()),
                TextColumn("{task.fields[stats]}", markup=False, table_column=fixed()),
                TimeRemainingColumn(compact=True, table_column=fixed(min_width=5)),
                console=self.console, transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(_escape(desc), total=epochs, stats="",
                                          completed=info.get("start_epoch", 0))

    def epoch(self, row):
        if self.quiet:
            return
        if self.bar is not None:
            desc, stats, _ = bar_layout(self.cfg.name, _row_compact(row), self.epochs, self.console.width)
            self.bar.update(self.task, advance=1, stats=stats, description=_escape(desc))
        elif row["epoch"] % self.every == 0 or row["epoch"] == self.epochs:
            what = "member" if self.unit == "members" else "epoch"
            self.console.print(f"  {what} {row['epoch']:>4}/{self.epochs}  {_row_text(row)}", soft_wrap=True,
                               markup=False)

    def stop(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _escape(text) -> str:
    from rich.markup import escape

    return escape(str(text))


def _fmt(v, pct=False):
    from nnlab.text import number, percent

    return percent(v) if pct else number(v)


def _row_text(row) -> str:
    parts = [f"loss {_fmt(row['train_loss'])}"]
    if row.get("val_loss") is not None:
        parts.append(f"val {_fmt(row['val_loss'])}")
    if row.get("train_acc") is not None:
        parts.append(f"acc {_fmt(row['train_acc'], True)}")
    if row.get("val_acc") is not None:
        parts.append(f"val acc {_fmt(row['val_acc'], True)}")
    parts.append(f"lr {row['lr']:.3g}" if row.get("lr") is not None else "")
    return "  ".join(p for p in parts if p)


def _row_compact(row) -> str:
    """'loss 0.103/1.10 acc 99.9/63.5% lr 0.001': train/val, short enough for an 80-column bar."""
    val = row.get("val_loss") is not None
    text = f"loss {row['train_loss']:.3g}" + (f"/{row['val_loss']:.3g}" if val else "")
    if row.get("train_acc") is not None:
        text += f" acc {100 * row['train_acc']:.1f}" + (f"/{100 * row['val_acc']:.1f}" if val else "") + "%"
    return text + (f" lr {row['lr']:.2g}" if row.get("lr") is not None else "")


LABEL = 12  # the width of the labels of the result lines


def result_lines(name, run_dir, summary, width: int | None = None) -> list[str]:
    """The result of a run as lines: a label and its value, wrapped to ``width`` under the value's
    column (none when ``width`` is None: piped); the run folder is never wrapped or cut."""
    from nnlab.look.term import wrap

    status = summary["status"]
    best = summary.get("best") or {}
    metric = best.get("metric", "")
    final = summary.get("final") or {}
    test = summary.get("test") or {}
    items = [("status", f"{status} after {summary.get('epochs', 0)} epochs")]
    if best:
        items.append(("best", f"{metric.replace('_', ' ')} {_fmt(best.get(metric), metric.endswith('acc'))} "
                              f"in epoch {best['epoch']}"))
    if final:
        line = f"train loss {_fmt(final.get('train_loss'))}, acc {_fmt(final.get('train_acc'), True)}"
        if final.get("val_loss") is not None:
            line += f"; val loss {_fmt(final.get('val_loss'))}, acc {_fmt(final.get('val_acc'), True)}"
        items.append(("last epoch", line))
    if test.get("loss") is not None:
        items.append(("test", f"loss {_fmt(test['loss'])}" +
                      (f", accuracy {_fmt(test['acc'], True)}" if test.get("acc") is not None else "")))
    if summary.get("restored_epoch"):
        items.append(("weights", f"restored from epoch {summary['restored_epoch']} (early stopping)"))
    elif summary.get("stopped_early"):
        items.append(("stopped", str(summary.get("message", ""))))
    sps = summary.get("samples_per_second")
    items.append(("time", f"{summary.get('train_seconds', 0):.2f} s training"
                          + (f", {sps:,.0f} samples/s" if sps else "")))
    lines = [f"result: {name}"]
    for label, value in items:
        lines += wrap(value, width, indent=" " * LABEL, first=label.ljust(LABEL))
    lines.append("run folder".ljust(LABEL) + str(run_dir))  # whole: it is for copying
    findings = summary.get("diagnosis") or []
    if findings:
        lines.append("diagnosis")
        for f in findings:  # each finding one bullet; wrapped lines keep the bullet's indentation
            lines += wrap(str(f["message"]), width, indent="    ", first="  • ")
    elif status == "completed":
        lines.append("diagnosis".ljust(LABEL) + "no problems found by the rules")
    return lines


def _print_result(out, cfg, run_dir, summary):
    from nnlab.look.term import emit

    emit(result_lines(cfg.name, run_dir, summary, out.width if out.is_terminal else None), out.file)
    _print_ensemble(out, summary)


def _print_ensemble(out, summary) -> None:
    """Each member's and the ensemble's accuracy (train.ensemble: members or snapshots)."""
    en = summary.get("ensemble")
    if not isinstance(en, dict) or not en.get("ensemble"):
        return
    from nnlab.cli import print_table
    from nnlab.look.views import plural

    e, members = en["ensemble"], en.get("members") or []
    acc = e.get("test_acc") is not None or e.get("val_acc") is not None
    key = "acc" if acc else "loss"
    kind = "snapshot" if "snapshots" in en else "member"
    out.print(f"ensemble of {plural(len(members), kind)} (their {'softmax outputs' if acc else 'outputs'} "
              "averaged)", soft_wrap=True, markup=False)
    rows = []
    for i, m in enumerate(members):
        label = f"epoch {m['epoch']}" if "epoch" in m else Path(m.get("run", str(i))).name
        rows.append([label, _fmt(m.get(f"val_{key}"), acc), _fmt(m.get(f"test_{key}"), acc)])
    rows.append(["ensemble", _fmt(e.get(f"val_{key}"), acc), _fmt(e.get(f"test_{key}"), acc)])
    print_table(out, [kind, f"val {key}", f"test {key}"], rows, right={1, 2})
