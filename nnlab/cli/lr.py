"""nnlab lr-find: the learning-rate range test (Smith 2017, fastai's lr_find; course note 004).

Imports inside the commands are for start-up time: nnlab --help loads no numpy.
"""

from __future__ import annotations

import os
import sys

import click

from nnlab.cli import handle_errors, load_configs, main, make_console, set_option


def _e(text) -> str:
    from rich.markup import escape

    return escape(str(text))


@main.command("lr-find")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--start", default=1e-7, show_default=True, type=float, help="The rate of the first step.")
@click.option("--end", default=10.0, show_default=True, type=float, help="The rate of the last step.")
@click.option("--steps", default=100, show_default=True, type=int,
              help="Mini-batches in the test (cycling through shuffled epochs as the config's batching does).")
@click.option("--linear", is_flag=True, help="Grow the rate linearly instead of exponentially.")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(),
              help="Folder that receives the timestamped <name>_lr-find folder.")
@set_option
@handle_errors
def lr_find(config, start, end, steps, linear, runs_dir, overrides):
    """Find a learning rate: Leslie Smith's range test, as fastai's lr_find runs it.

    Trains a fresh copy of CONFIG's model from its initialization for STEPS
    mini-batches while the optimizer's lr grows exponentially (or, with
    --linear, linearly) from START to END; the config's schedule is not used
    during the test.  The loss is smoothed as fastai does (a bias-corrected
    moving average, beta 0.98) and the test stops early when the smoothed loss
    exceeds 4x its minimum or is not finite.

    Three rules read a rate off the smoothed curve (leaving out the first
    tenth of the steps and the last 5 points): steepest (the most negative
    slope against log lr), min_over_10 (the minimum's rate / 10) and valley
    (fastai's default, which is the one recommended).  Writes lr_find.csv,
    lr_find.png, summary.json and config.yaml into a new folder:

    \b
      runs/<date_time>_<name>_lr-find/

    Exit code 0 with a suggestion, 1 when the test gave none, 2 for bad
    options or a bad config, 130 on Ctrl-C (the folder keeps what was measured).

    \b
    Examples:
      nnlab lr-find configs/adam_relu.yaml
      nnlab lr-find configs/momentum_step.yaml --steps 200 --end 1
    """
    from nnlab.interrupt import graceful_signals
    from nnlab.lr_find import check_range, run_lr_find

    check_range(start, end, steps)
    from nnlab.cli import check_runs_dir

    check_runs_dir(runs_dir)
    cfg = load_configs([config], overrides)[0]
    from nnlab.experiment import load_data

    dataset = load_data(cfg)
    out, err = make_console(), make_console(stderr=True)
    for note in cfg.notes:
        err.print(f"note: {_e(note)}", soft_wrap=True)
    view = _Progress(cfg, err, start, end, steps, linear)
    with graceful_signals():
        try:
            folder, result, summary = run_lr_find(cfg, dataset, runs_dir, start, end, steps, linear,
                                                  on_start=view.start, on_step=view.step)
        except KeyboardInterrupt:  # before the test began, or a second signal while the files were written
            view.stop()
            if view.folder:
                err.print(f"[yellow]interrupted:[/] what was measured is in {_e(view.folder)}", soft_wrap=True)
            raise
        except Exception as exc:  # a bug or a resource problem (a full disk): one line, and where the rows are
            from nnlab.errors import NnlabError

            view.stop()
            if isinstance(exc, NnlabError) or os.environ.get("NNLAB_DEBUG"):
                raise
            what = "not enough memory (MemoryError)" if isinstance(exc, MemoryError) else f"{type(exc).__name__}: {exc}"
            err.print(f"[bold red]error:[/] lr-find failed: {_e(what)}", soft_wrap=True)
            if view.folder:
                err.print(f"what was measured is in {_e(view.folder)}", soft_wrap=True)
            sys.exit(1)
        finally:
            view.stop()
    _print_result(out, cfg, folder, summary)
    for key in ("plot_error", "error"):
        if summary.get(key):
            err.print(f"[yellow]warning:[/] {_e(folder)}: {_e(summary[key])}", soft_wrap=True)
    if summary["status"] == "interrupted":
        from nnlab.interrupt import Interrupted, signal_number

        err.print(f"[yellow]interrupted:[/] kept {summary['steps_done']} steps in {_e(folder)}", soft_wrap=True)
        raise Interrupted(signal_number(summary.get("signal")))
    sys.exit(0 if summary.get("suggestions") else 1)


class _Progress:
    """A rich progress bar on a terminal; one line at the start otherwise."""

    def __init__(self, cfg, console, start, end, steps, linear):
        self.cfg, self.console = cfg, console
        self.range = f"lr {start:g} -> {end:g}, {steps} steps, {'linear' if linear else 'exponential'}"
        self.bar, self.folder = None, None

    def start(self, info):
        self.folder = info["folder"]
        cfg = self.cfg
        sched = cfg.train["schedule"]["name"]
        self.console.print(f"range test {_e(cfg.name)} ({_e(cfg.train['optimizer']['name'])}): {self.range}; "
                           f"the config's schedule ({_e(sched)}) is not used -> {_e(self.folder)}", soft_wrap=True)
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("[bold]lr-find"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                TextColumn("{task.fields[stats]}"), TimeRemainingColumn(compact=True),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("lr-find", total=info["steps"], stats="")

    def step(self, i, lr, loss, smoothed):
        if self.bar is not None:
            self.bar.update(self.task, completed=i + 1, stats=f"lr {lr:.2g} loss {smoothed:.4g}")

    def stop(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _print_result(out, cfg, folder, summary):
    from rich import box
    from rich.table import Table

    from nnlab.lr_find import lr_text
    from nnlab.train.range_test import RECOMMENDED

    status = summary["status"]
    color = {"completed": "green", "interrupted": "yellow"}.get(status, "red")
    rng = summary["range"]
    out.print(f"[{color}]{status}[/]: {summary['steps_done']} of {rng['steps']} steps; {_e(summary['message'])}",
              soft_wrap=True)
    found = summary.get("suggestions") or {}
    if not found:
        out.print(f"[bold red]no suggestion:[/] {_e(summary.get('no_suggestion', ''))}", soft_wrap=True)
        out.print(f"folder: {_e(folder)}", soft_wrap=True)
        return
    low = summary.get("min_smoothed") or {}
    title = (f"suggestions (smoothed loss min {low.get('loss', float('nan')):.4g} at lr "
             f"{low.get('lr', float('nan')):.3g})")
    rows = [[name + (" *" if name == RECOMMENDED else ""), lr_text(s["lr"]), s["rule"]] for name, s in found.items()]
    if out.is_terminal:
        table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, title_justify="left", title=title)
        table.add_column("rule", no_wrap=True, style="bold")
        table.add_column("lr", justify="right", no_wrap=True)
        table.add_column("how it is read", overflow="fold")
        for r in rows:
            table.add_row(r[0], r[1], _e(r[2]))
        out.print(table)
    else:  # piped: tab-separated with a header row
        from nnlab.cli import print_table

        print_table(out, ["rule", "lr", "how it is read"], rows, title=title)
    rec = summary["recommended"]
    config_lr = summary.get("config_lr")
    out.print(f"recommended ({rec['rule']}, *): [bold]--set {_e(rec['set'])}[/]"
              + (f"  (the config has {config_lr:g})" if isinstance(config_lr, (int, float)) else ""),
              soft_wrap=True)
    out.print(f"  why {rec['rule']}: {_e(rec['why'])}", soft_wrap=True)
    from nnlab.components.schedules import schedules

    sched = cfg.train["schedule"]["name"]
    peak = schedules.get(sched).obj.peak
    if peak:
        out.print(f"note: {sched} peaks at train.schedule.{peak}, not train.optimizer.lr; Smith's rule takes the "
                  f"range test's rate as that peak (--set train.schedule.{peak}={lr_text(rec['lr'])})",
                  soft_wrap=True)
    out.print(f"folder: {_e(folder)}  (lr_find.png, lr_find.csv, summary.json)", soft_wrap=True)
