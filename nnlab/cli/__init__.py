"""The ``nnlab`` command line: the only module that prints or exits.

Library errors (NnlabError) become one line each on stderr and exit code 2 (bad
input) or 1 (a run that failed); never a traceback for a user's mistake.  Set
NNLAB_DEBUG=1 to see tracebacks.  Imports inside the commands (here and in every
command module) are for start-up time: ``nnlab --help`` answers at once, loading no numpy.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from nnlab.version import __version__

EXIT_INTERRUPTED = 130


def make_console(stderr=False):
    """A rich console; when not a terminal (a pipe, a file, a CI log) its lines are never wrapped."""
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False, emoji=False)  # 'exp:a:b' is a path, not ':a:' as an emoji
    if not c.is_terminal:
        c.soft_wrap = True
    return c


def print_table(out, header, rows, right=(), title=None, wrap=None, whole=False):
    """A table: in a terminal aligned columns without boxes when they fit (else rich's table, wrapping
    the ``wrap`` columns); when not a terminal, tab-separated lines with a header row (cut, awk).
    ``whole``: the last column is a name or path that is never cut: the table is printed aligned
    even where such a cell runs past the screen's edge (the terminal wraps it, a copy keeps it)."""
    from nnlab.look.term import aligned, emit, fits, tsv

    if not out.is_terminal:
        if title:
            emit([title], out.file)
        emit(tsv(header, rows), out.file)
        return
    lines = aligned(header, rows, right=set(right))
    if whole or fits(lines, out.width):
        emit(([title] if title else []) + lines, out.file)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold", title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="right" if i in right else "left",
                         no_wrap=not (wrap and i in wrap), overflow="fold")
    for r in rows:
        table.add_row(*(Text(str(c)) for c in r))  # a name with [brackets] is text, not markup
    out.print(table)


def _fail(lines, code):
    from rich.markup import escape

    err = make_console(stderr=True)
    for line in lines:  # a path or a name may hold [brackets]: text, not markup
        err.print(f"[bold red]error:[/] {escape(str(line))}", markup=True, soft_wrap=True)
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
        except KeyboardInterrupt as exc:
            from nnlab.interrupt import exit_code, ignore_more

            ignore_more()
            make_console(stderr=True).print(f"interrupted ({getattr(exc, 'name', 'SIGINT')})")
            sys.exit(exit_code(exc))
        except OSError as exc:  # a full or read-only disk, a vanished folder: one line, what and where
            if os.environ.get("NNLAB_DEBUG"):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail([f"{where}{exc.strerror or exc} (nothing already written was removed; free the space or choose "
                   "another path, and run again)"], 1)

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
    import warnings

    from nnlab.errors import ConfigError
    from nnlab.train.threads import env_threads

    warnings.showwarning = _show_warning
    from nnlab import progress

    progress.set_reporter(download_bar)  # a data set downloaded on first use shows how far it got
    try:  # before any command: a typo here would otherwise surface mid-run, or be ignored
        env_threads()
        from nnlab.files import data_cap_problem

        if data_cap_problem():
            raise ConfigError(data_cap_problem())
    except ConfigError as exc:
        _fail(exc.lines, exc.exit_code)


class download_bar:  # noqa: N801 - a reporter for nnlab.progress: called like a function
    """How far a download got, on stderr: a bar on a terminal; piped, a line when it starts and one when it ends."""

    def __init__(self, description: str, total: int | None):
        from nnlab.files import size_text

        self.console = make_console(stderr=True)
        self.description, self.total, self.done, self.bar = description, total, 0, None
        size = f" ({size_text(total)})" if total else ""
        if self.console.is_terminal:
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
                                DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(compact=True),
                                console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(description, total=total)
        else:
            self.console.print(f"{description}{size} ...", markup=False, soft_wrap=True)

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n)

    def close(self, ok: bool = True) -> None:
        from nnlab.files import size_text

        if self.bar is not None:
            self.bar.stop()
        if ok:
            self.console.print(f"{self.description}: {size_text(self.done)} done", markup=False, soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line, as nnlab's own are ('warning: ...'), without Python's source line."""
    what = "" if issubclass(category, UserWarning) and category.__module__.startswith("builtins") else \
        f"{category.__name__}: "
    try:
        (file or sys.stderr).write(f"warning: {what}{message}\n")
    except OSError:
        pass


PLOT_SUFFIXES = (".png", ".svg", ".pdf")  # the figure formats --plot writes (matplotlib's Agg canvas)
REPORT_SUFFIXES = (".html", ".htm")


def check_output(path, option: str, suffixes: tuple, create_folder: bool = False):
    """Refuse an output path before any work (ConfigError, one line): a file type not in ``suffixes``,
    a missing folder (unless ``create_folder``), or something that is not a regular file."""
    from pathlib import Path

    from nnlab.errors import ConfigError, OutputError
    from nnlab.files import output_target

    path = Path(path)
    allowed = f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
    try:
        output_target(path)  # not a regular file: say that first, whatever its name
    except OutputError as exc:
        if not (create_folder and not path.parent.exists()):
            raise ConfigError(f"{option} {exc}") from None
    if path.suffix.lower() not in suffixes:
        if not path.suffix:
            raise ConfigError(f"{option} {path}: has no file extension; name a {allowed} file")
        raise ConfigError(f"{option} {path}: '{path.suffix}' is not a file type it writes; use {allowed}")
    if create_folder and not path.parent.exists():
        return
    try:
        output_target(path)
    except OutputError as exc:
        raise ConfigError(f"{option} {exc}") from None


def check_runs_dir(runs_dir, option: str = "--runs-dir") -> None:
    """Refuse a runs folder that cannot be one before any work: one line (ConfigError), never click's usage."""
    from nnlab.errors import ConfigError

    if not str(runs_dir).strip():
        raise ConfigError(f"{option}: must name a folder, got an empty string; use {option} . for the current "
                          "folder")
    if os.path.exists(runs_dir) and not os.path.isdir(runs_dir):
        what = "a file, not a folder" if os.path.isfile(runs_dir) else "not a folder (a device or another special file)"
        raise ConfigError(f"{option} {runs_dir}: is {what}; name a folder (it is created if missing)")


def load_configs(paths, overrides):
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



# one module per command group; importing them attaches their commands to ``main``
from nnlab.cli import claims, export, lr, runs, sweep, tools, train  # noqa: E402,F401
from nnlab.cli.tools import registries  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    main()
