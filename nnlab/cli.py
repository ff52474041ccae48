"""The ``nnlab`` command line: the only module that prints or exits.

Library errors (NnlabError) become one line each on stderr and exit code 2 (bad
input) or 1 (a run that failed); never a traceback for a user's mistake.  Set
NNLAB_DEBUG=1 to see tracebacks.  Heavy modules are imported inside commands so
that ``nnlab --help`` answers at once.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from nnlab import __version__

EXIT_INTERRUPTED = 130


def _console(stderr=False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _fail(lines, code):
    err = _console(stderr=True)
    for line in lines:
        err.print(f"[bold red]error:[/] {line}", markup=True, soft_wrap=True)
    sys.exit(code)


def handle_errors(fn):
    """Turn NnlabError into one line per problem and an exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from nnlab.errors import NnlabError

        try:
            return fn(*args, **kwargs)
        except NnlabError as exc:
            if os.environ.get("NNLAB_DEBUG"):
                raise
            _fail(exc.lines, exc.exit_code)
        except KeyboardInterrupt:
            _console(stderr=True).print("interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config value by its dotted key, parsed as YAML; repeatable. "
         "Example: --set train.optimizer.lr=0.01 --set model.hidden=[64,64]",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nnlab")
def main():
    """nnlab: a command-line lab for deep-learning training tricks.

    Write a small YAML config that picks the initializer, activation, optimizer,
    learning-rate schedule, regularization and dropout; train a pure-numpy MLP
    with it; compare what each choice did.

    \b
    Example:
      nnlab train configs/adam_relu.yaml
      nnlab train configs/adam_relu.yaml --set train.optimizer.lr=0.01
    """


def _load_configs(paths, overrides):
    from nnlab.config import load_config
    from nnlab.errors import ConfigError

    cfgs, lines = [], []
    for p in paths:
        try:
            cfgs.append(load_config(p, overrides))
        except ConfigError as exc:
            lines.extend(exc.lines)
    if lines:
        raise ConfigError(lines=lines)
    return cfgs


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
    cfgs = _load_configs(configs, overrides)
    out = _console()
    for cfg in cfgs:
        out.print(f"[green]ok[/] {cfg.source}  ({_describe(cfg)})")


def _describe(cfg) -> str:
    m, t = cfg.model, cfg.train
    parts = [cfg.data["name"], f"hidden {m['hidden']}", m["activation"]["name"], m["init"]["name"],
             f"{t['optimizer']['name']} lr {t['optimizer']['lr']:g}", t["schedule"]["name"],
             f"{t['epochs']} epochs", f"batch {t['batch_size']}"]
    return ", ".join(parts)


@main.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@set_option
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Folder that receives one timestamped folder per run.")
@click.option("--name", default=None, help="Name of the run (default: the config's name, or its file's stem).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the run folder of each run.")
@handle_errors
def train(configs, overrides, runs_dir, name, quiet):
    """Train an MLP for each config and write a run folder for each.

    Several configs train one after another; all of them are validated before
    the first one starts.  Each run writes runs/<date_time>_<name>/ with
    config.yaml (the resolved config: train it again to replay the run),
    metrics.csv, summary.json, curves.png and model.npz.

    Exit code 0 when every run completed, 1 if one diverged or failed, 2 for a
    bad config or data file, 130 when interrupted with Ctrl-C.

    \b
    Examples:
      nnlab train configs/adam_relu.yaml
      nnlab train configs/tiny/*.yaml --quiet
      nnlab train configs/adam_relu.yaml --set train.optimizer.lr=0.01 --name adam_lr0.01
    """
    from nnlab.errors import ConfigError

    if name is not None:
        import re

        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise ConfigError(f"--name: must be letters, digits, '_', '-', '.' or '+', got {name!r}")
    cfgs = _load_configs(configs, overrides)
    worst = 0
    for cfg in cfgs:
        if name:
            cfg.name = name
        status = _train_one(cfg, runs_dir, quiet)
        if status == "interrupted":
            sys.exit(EXIT_INTERRUPTED)
        if status != "completed":
            worst = 1
    sys.exit(worst)


def _train_one(cfg, runs_dir, quiet) -> str:
    from nnlab.experiment import load_data, run_experiment

    out, err = _console(), _console(stderr=True)
    dataset = load_data(cfg)
    view = _Progress(cfg, err, quiet)
    try:
        run_dir, result, summary = run_experiment(cfg, runs_dir, dataset, on_start=view.start,
                                                  on_epoch=view.epoch)
    except Exception as exc:
        view.stop()
        from nnlab.errors import NnlabError

        if isinstance(exc, NnlabError) or os.environ.get("NNLAB_DEBUG"):
            raise
        err.print(f"[bold red]error:[/] run failed: {type(exc).__name__}: {exc}")
        if view.run_dir:
            err.print(f"what was recorded is in {view.run_dir}")
        return "failed"
    view.stop()
    if quiet:
        out.print(str(run_dir), soft_wrap=True)
    else:
        _print_result(out, cfg, run_dir, summary)
    if summary["status"] == "diverged":
        err.print(f"[bold red]diverged:[/] {summary['message']}")
    elif summary["status"] == "interrupted":
        err.print(f"[yellow]interrupted:[/] kept {summary['epochs']} epochs in {run_dir}")
    return summary["status"]


class _Progress:
    """A rich progress bar on a terminal; a plain line every few epochs otherwise."""

    def __init__(self, cfg, console, quiet):
        self.cfg, self.console, self.quiet = cfg, console, quiet
        self.bar = None
        self.run_dir = None
        self.every = 1

    def start(self, info):
        self.run_dir = info["run_dir"]
        epochs = info["epochs"]
        self.epochs = epochs
        self.every = max(1, epochs // 10)
        if self.quiet:
            return
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeRemainingColumn(compact=True),
                console=self.console, transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.cfg.name, total=epochs, stats="")
        else:
            self.console.print(f"training {self.cfg.name}: {epochs} epochs, {info['n_params']} parameters "
                               f"-> {self.run_dir}", soft_wrap=True)

    def epoch(self, row):
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(self.task, advance=1, stats=_row_compact(row))
        elif row["epoch"] % self.every == 0 or row["epoch"] == self.epochs:
            self.console.print(f"  epoch {row['epoch']:>4}/{self.epochs}  {_row_text(row)}", soft_wrap=True)

    def stop(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.4g}"


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


def _print_result(out, cfg, run_dir, summary):
    from rich.table import Table

    status = summary["status"]
    color = {"completed": "green", "diverged": "red", "interrupted": "yellow"}.get(status, "red")
    best = summary.get("best") or {}
    metric = best.get("metric", "")
    final = summary.get("final") or {}
    test = summary.get("test") or {}
    table = Table(title=f"result: {cfg.name}", title_justify="left", show_header=False, box=None,
                  padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("status", f"[{color}]{status}[/]  after {summary.get('epochs', 0)} epochs")
    if best:
        table.add_row("best", f"{metric.replace('_', ' ')} {_fmt(best.get(metric), metric.endswith('acc'))} "
                              f"in epoch {best['epoch']}")
    if final:
        line = f"train loss {_fmt(final.get('train_loss'))}, acc {_fmt(final.get('train_acc'), True)}"
        if final.get("val_loss") is not None:
            line += f"   val loss {_fmt(final.get('val_loss'))}, acc {_fmt(final.get('val_acc'), True)}"
        table.add_row("last epoch", line)
    if test.get("loss") is not None:
        table.add_row("test", f"loss {_fmt(test['loss'])}" +
                      (f", [bold]accuracy {_fmt(test['acc'], True)}[/]" if test.get("acc") is not None else ""))
    if summary.get("restored_epoch"):
        table.add_row("weights", f"restored from epoch {summary['restored_epoch']} (early stopping)")
    elif summary.get("stopped_early"):
        table.add_row("stopped", summary.get("message", ""))
    sps = summary.get("samples_per_second")
    table.add_row("time", f"{summary.get('train_seconds', 0):.2f} s training"
                          + (f", {sps:,.0f} samples/s" if sps else ""))
    table.add_row("run folder", str(run_dir))
    out.print(table)
    findings = summary.get("diagnosis") or []
    if findings:
        out.print("[bold]diagnosis[/]")
        for f in findings:
            out.print(f"  • {f['message']}", soft_wrap=False)
    elif status == "completed":
        out.print("[bold]diagnosis[/]  no problems found by the rules")


KINDS = {
    "dataset": ("nnlab.data", "datasets", "data.name (options under data:)"),
    "preprocessor": ("nnlab.data", "preprocessors", "data.preprocess"),
    "initializer": ("nnlab.initializers", "initializers", "model.init"),
    "activation": ("nnlab.activations", "activations", "model.activation"),
    "optimizer": ("nnlab.optimizers", "optimizers", "train.optimizer"),
    "schedule": ("nnlab.schedules", "schedules", "train.schedule"),
}


def registries():
    """(kind, registry, config key) for every kind of component, in README order."""
    import importlib

    for kind, (mod, attr, key) in KINDS.items():
        yield kind, getattr(importlib.import_module(mod), attr), key


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(list(KINDS) + [k + "s" for k in KINDS]))
@handle_errors
def list_(kind):
    """List every component nnlab has, with its options and defaults.

    The options are read from the components themselves: what this prints is
    exactly what a config may say.

    \b
    Examples:
      nnlab list
      nnlab list optimizers
    """
    from rich.table import Table

    from nnlab.registry import component_options_text

    out = _console()
    for k, reg, key in registries():
        if kind and kind.rstrip("s") != k.rstrip("s"):
            continue
        table = Table(title=f"{reg.plural}  ({key})", title_justify="left", header_style="bold")
        table.add_column("name", style="bold cyan", no_wrap=True)
        table.add_column("options (default)")
        table.add_column("what it is")
        for comp in reg:
            table.add_row(comp.name, component_options_text(comp), comp.summary)
        out.print(table)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--samples", default=16, show_default=True, type=click.IntRange(1, 1000),
              help="Training samples in the checked batch.")
@click.option("--entries", default=64, show_default=True, type=click.IntRange(1, 100000),
              help="Entries checked per parameter tensor (a random sample for bigger tensors).")
@handle_errors
def gradcheck(config, overrides, samples, entries):
    """Check backprop against centred differences for the configured network.

    Builds the network of CONFIG in float64 with dropout masks and RReLU slopes
    fixed, and compares every parameter tensor's backprop gradient with
    (J(theta + h) - J(theta - h)) / 2h, h = 1e-5 (CS224n notes 2.1), including
    the L1/L2 penalty.  A tensor passes when the relative error is below 1e-6.
    Entries where a unit sits on a kink (ReLU at 0, a maxout tie) are counted,
    not failed.  Exit code 1 if any tensor fails.

    \b
    Example:
      nnlab gradcheck configs/adam_relu.yaml
    """
    from rich.table import Table

    from nnlab.experiment import load_data
    from nnlab.gradcheck import TOLERANCE, check_config

    cfg = _load_configs([config], overrides)[0]
    results = check_config(cfg, load_data(cfg), n_samples=samples, max_entries=entries)
    table = Table(title=f"gradient check: {cfg.name} (float64, h = 1e-5)", title_justify="left",
                  header_style="bold")
    for col in ("tensor", "shape", "checked", "on a kink", "relative error", "max abs error", "result"):
        table.add_column(col, justify="left" if col in ("tensor", "result") else "right")
    for r in results:
        table.add_row(r.name, "x".join(map(str, r.shape)), str(r.checked), str(r.kinks) if r.kinks else "-",
                      f"{r.rel_error:.2e}", f"{r.max_abs_error:.2e}",
                      "[green]pass[/]" if r.passed else "[bold red]FAIL[/]")
    out = _console()
    out.print(table)
    failed = [r.name for r in results if not r.passed]
    if failed:
        out.print(f"[bold red]{len(failed)} tensor(s) failed[/] (relative error >= {TOLERANCE:g}): "
                  + ", ".join(failed))
        sys.exit(1)
    kinks = sum(r.kinks for r in results)
    note = f"; {kinks} entries on a kink were left out" if kinks else ""
    out.print(f"[green]all {len(results)} tensors pass[/]{note}")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Also draw the schedule into this PNG.")
@handle_errors
def schedule(config, overrides, plot):
    """Print the learning rate CONFIG will use in each epoch, without training.

    With unit: step the rate changes within an epoch; the table shows the rate
    at each epoch's first step and the plot every step.  A plateau schedule
    depends on the metrics, so only its starting rate is known in advance.

    \b
    Examples:
      nnlab schedule configs/sgd_warm_restart.yaml
      nnlab schedule configs/sgd_warm_restart.yaml --plot lr.png
    """
    from rich.table import Table

    from nnlab.experiment import load_data
    from nnlab.trainer import make_schedule, steps_per_epoch

    cfg = _load_configs([config], overrides)[0]
    dataset = load_data(cfg)
    n_train = len(dataset.x_train)
    sched = make_schedule(cfg, n_train)
    epochs = cfg.train["epochs"]
    spe = steps_per_epoch(cfg, n_train) if sched.unit == "step" else 1
    lrs = [sched(t) for t in range(epochs * spe)]
    per_epoch = lrs[::spe]
    table = Table(title=f"{cfg.name}: {cfg.train['schedule']['name']} schedule "
                        f"(unit {sched.unit}{f', {spe} steps per epoch' if spe > 1 else ''})",
                  title_justify="left", header_style="bold")
    table.add_column("epoch", justify="right")
    table.add_column("learning rate", justify="right")
    for e, lr in enumerate(per_epoch, start=1):
        table.add_row(str(e), f"{lr:.6g}")
    out = _console()
    out.print(table)
    if sched.stateful:
        out.print("note: plateau lowers the rate in reaction to the metrics; shown is the rate before any reduction")
    if plot:
        from nnlab.plots import plot_schedule

        plot_schedule(lrs, plot, title=f"{cfg.name}: {cfg.train['schedule']['name']}",
                      xlabel="step" if spe > 1 else "epoch")
        out.print(f"plot: {plot}")


# ------------------------------------------------------------------ looking at runs

STATUS_STYLE = {"completed": "green", "diverged": "red", "failed": "red", "crashed": "red",
                "interrupted": "yellow", "running": "cyan", "incomplete": "yellow"}


def _status(text: str) -> str:
    return f"[{STATUS_STYLE.get(text, 'white')}]{text}[/]"


def _warn(lines):
    err = _console(stderr=True)
    for w in lines:
        err.print(f"[yellow]warning:[/] {w}", soft_wrap=True)


def _num(v, pct=False, spread=None):
    if v is None:
        return "-"
    text = f"{100 * v:.1f}%" if pct else f"{v:.4g}"
    if spread is not None:
        text += f" ± {100 * spread:.1f}" if pct else f" ± {spread:.2g}"
    return text


@main.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--all", "all_keys", is_flag=True, help="Show every config key, not only the ones that differ.")
@click.option("--metric", type=click.Choice(["val_acc", "val_loss", "train_acc", "train_loss"]), default=None,
              help="The metric whose best value and epoch are shown (default: val_acc, or val_loss for "
                   "regression).")
@click.option("--sort", "sort", default=None, metavar="COLUMN",
              help="Order by a column: best, best_epoch, final_train_loss, final_val_loss, test_acc, test_loss, "
                   "epochs, seconds or name (best first for accuracies).")
@click.option("--top", type=click.IntRange(1), default=None, help="Show only the first N rows.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True, help="Output format; csv, json and markdown are for scripts and reports.")
@click.option("--no-group", is_flag=True, help="Do not merge runs that differ only in their seed.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the runs' curves overlaid into this PNG.")
@handle_errors
def compare_(runs, all_keys, metric, sort, top, fmt, no_group, plot):
    """Show runs side by side: the settings that differ, next to the results.

    RUNS are run folders or folders of runs (shell globs are the normal use).
    Runs whose configs are the same except for the seed are merged into one row
    with mean ± std over the seeds.  Folders that are not runs, or damaged ones,
    are shown as far as possible or skipped with a warning.

    \b
    Examples:
      nnlab compare runs/*
      nnlab compare runs/* --sort test_acc --top 5
      nnlab compare runs/* --format json > results.json
      nnlab compare runs/*sgd* --plot sgd.png
    """
    from nnlab.compare import COLUMNS, compare, to_csv, to_json, to_markdown
    from nnlab.errors import ConfigError
    from nnlab.runs import find_runs

    if sort and sort not in COLUMNS and sort != "name":
        raise ConfigError(f"--sort: unknown column {sort!r}; choose from name, {', '.join(COLUMNS)}")
    found, warnings = find_runs(runs)
    _warn(warnings)
    out = _console()
    if not found:
        _console(stderr=True).print("no runs found")
        sys.exit(1)
    comp = compare(found, metric=metric, group=not no_group, all_keys=all_keys, sort=sort, top=top)
    if fmt == "csv":
        click.echo(to_csv(comp), nl=False)
    elif fmt == "json":
        click.echo(to_json(comp), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(comp), nl=False)
    else:
        _compare_table(out, comp)
    if plot:
        from nnlab.compare import label
        from nnlab.plots import plot_compare

        by_path = {str(r.path): r for r in found}
        series = [(label(row), by_path[row.runs[0]].metrics) for row in comp.rows]
        plot_compare(series, plot, metric=comp.metric, title=f"{len(comp.rows)} runs")
        _console(stderr=True).print(f"plot: {plot}")


def _compare_table(out, comp):
    from rich.table import Table

    from nnlab.compare import short_key, sparkline

    pct = comp.metric.endswith("acc")
    separate = len(comp.keys) <= 3  # few settings get a column each; more share one column
    from rich import box

    table = Table(header_style="bold", title=f"{len(comp.rows)} runs, best {comp.metric.replace('_', ' ')}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", style="bold", overflow="fold", min_width=8)
    table.add_column("status", no_wrap=True)
    if separate:
        for k in comp.keys:
            table.add_column(short_key(k), overflow="fold")
    elif comp.keys:
        table.add_column("settings", overflow="fold", min_width=22)
    for col in ("best @epoch", "loss tr/val", "test acc", "epochs", "sec"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("curve", no_wrap=True)
    for row in comp.rows:
        v, sp = row.values, row.spread
        shown = {k: (_setting(row.settings.get(k))) for k in comp.keys}
        settings = list(shown.values()) if separate else (
            [", ".join(f"{short_key(k)}={val}" for k, val in shown.items())] if comp.keys else [])
        best = _num(v["best"], pct, sp.get("best"))
        if v["best_epoch"] is not None:
            best += f" @{v['best_epoch']:.0f}"
        table.add_row(
            row.name, _status(row.status), *settings, best,
            f"{_num(v['final_train_loss'])}/{_num(v['final_val_loss'])}",
            _num(v["test_acc"], True, sp.get("test_acc")), f"{v['epochs']:.0f}",
            f"{v['seconds']:.1f}" if v["seconds"] is not None else "-", sparkline(row.curve, 12),
        )
    out.print(table)
    if comp.keys:
        out.print("settings that differ: " + ", ".join(comp.keys), style="dim", soft_wrap=True)


def _setting(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_setting(v) for v in value) + "]"
    return str(value)


@main.command("runs")
@click.argument("folder", required=False, default="runs", type=click.Path())
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["completed", "diverged", "interrupted", "failed", "running", "crashed",
                                 "incomplete"]),
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
    from rich.table import Table

    from nnlab.runs import find_runs

    found, warnings = find_runs([folder])
    _warn(warnings)
    if statuses:
        found = [r for r in found if r.status in statuses]
    found.sort(key=lambda r: (r.started is None, r.started), reverse=True)
    found.sort(key=lambda r: r.started is None)
    table = Table(header_style="bold", title=f"{len(found)} runs in {folder}, newest first", title_justify="left")
    for col in ("run folder", "status", "epochs", "time s", "best", "test acc"):
        table.add_column(col, justify="right" if col in ("epochs", "time s", "test acc") else "left",
                         no_wrap=col != "run folder", overflow="fold")
    for r in found:
        best = r.summary.get("best") or {}
        metric = best.get("metric", "")
        test = r.summary.get("test") or {}
        table.add_row(
            r.path.name, _status(r.status), str(len(r.metrics)),
            f"{r.seconds:.1f}" if r.seconds is not None else "-",
            f"{metric.replace('_', ' ')} {_num(best.get(metric), metric.endswith('acc'))}" if best else "-",
            _num(test.get("acc"), True),
        )
    _console().print(table)


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
    from rich.panel import Panel
    from rich.syntax import Syntax

    from nnlab.diagnosis import diagnose
    from nnlab.errors import RunError
    from nnlab.runs import load_run

    r = load_run(run)
    if r is None:
        raise RunError(f"{run}: not a run folder (expected config.yaml, metrics.csv or summary.json inside)")
    _warn(f"{r.path}: {w}" for w in r.warnings)
    out = _console()
    s = r.summary
    best = s.get("best") or {}
    metric = best.get("metric", "")
    test = s.get("test") or {}
    lines = [f"[bold]{r.name}[/]  {_status(r.status)}  {len(r.metrics)} epochs  "
             f"{r.started.strftime('%Y-%m-%d %H:%M:%S') if r.started else ''}",
             f"folder: {r.path}"]
    if s.get("message"):
        lines.append(s["message"])
    if best:
        lines.append(f"best {metric.replace('_', ' ')}: {_num(best.get(metric), metric.endswith('acc'))} "
                     f"in epoch {best.get('epoch')}")
    if test.get("loss") is not None:
        lines.append(f"test: loss {_num(test['loss'])}"
                     + (f", accuracy {_num(test['acc'], True)}" if test.get("acc") is not None else ""))
    if s.get("train_seconds") is not None:
        lines.append(f"training: {s['train_seconds']:.2f} s, {s.get('samples_per_second') or 0:,.0f} samples/s")
    out.print(Panel("\n".join(lines), title="summary", title_align="left"))
    findings = s.get("diagnosis")
    if findings is None or r.status in ("crashed", "running", "incomplete"):
        findings = diagnose(r.metrics, r.diagnostics, s, r.config)
    text = "\n".join(f"• {f['message']}" for f in findings) or "No problems found by the rules."
    out.print(Panel(text, title="diagnosis", title_align="left"))
    if r.metrics:
        from nnlab.textplot import line_chart

        width = max(30, min(90, out.width - 16))
        loss = {"train loss": [m.get("train_loss") for m in r.metrics],
                "val loss": [m.get("val_loss") for m in r.metrics]}
        out.print(Panel("\n".join(line_chart(loss, width=width, height=10)), title="loss", title_align="left"))
        if any(m.get("train_acc") is not None for m in r.metrics):
            acc = {"train acc": [m.get("train_acc") for m in r.metrics],
                   "val acc": [m.get("val_acc") for m in r.metrics]}
            out.print(Panel("\n".join(line_chart(acc, width=width, height=8)), title="accuracy",
                            title_align="left"))
    if show_config and r.config:
        import yaml

        out.print(Panel(Syntax(yaml.safe_dump(r.config, sort_keys=False), "yaml", theme="ansi_dark"),
                        title="config", title_align="left"))


@main.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--metric", type=click.Choice(["val_acc", "val_loss", "train_acc", "train_loss"]), default=None,
              help="The metric whose best value is shown.")
@click.option("--no-group", is_flag=True, help="Do not merge runs that differ only in their seed.")
@handle_errors
def report(runs, output, metric, no_group):
    """Write one self-contained HTML report of RUNS.

    The comparison table, the overlaid curves, and each run's diagnosis,
    results and config; plots are inline SVG, so the file needs no network and
    no JavaScript and can be mailed or archived as it is.

    \b
    Example:
      nnlab report runs/* -o report.html
    """
    from nnlab.report import write_report
    from nnlab.runs import find_runs

    found, warnings = find_runs(runs)
    _warn(warnings)
    if not found:
        _console(stderr=True).print("no runs found; nothing written")
        sys.exit(1)
    path = write_report(found, output, metric=metric, group=not no_group)
    _console().print(f"report: {path} ({len(found)} runs)")


if __name__ == "__main__":  # pragma: no cover
    main()
