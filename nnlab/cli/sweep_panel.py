"""What a sweep shows while it runs and when it ends (the lifecycle's SweepView, for the terminal).

In a terminal: a live panel (runs done / running / failed / pruned, a progress bar with an
ETA, the best value so far with its params, the time per run), redrawn at most 4 times a
second by the sweep's own loop (no thread).  Piped into a file or a CI log: one plain line
per finished run, never cut.
"""

from __future__ import annotations

import math
import time

from nnlab.look.term import emit, tsv
from nnlab.sweep.lifecycle import SweepView
from nnlab.text import mean_std, number, percent, setting


def metric_text(metric: str, v, std=None) -> str:
    pct = metric.endswith("acc")
    if std is not None:
        return mean_std(v, std if math.isfinite(std) else None, pct=pct)
    return percent(v) if pct else number(v)


def params_text(values: dict, params) -> str:
    return " ".join(f"{p.short}={setting(values[p.path])}" for p in params if p.path in values)


def _muted(console) -> None:
    """stdout was closed (``nnlab sweep ... | head``): go on silently; the sweep's results are its files."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit does not fail either
        os.close(devnull)
    except (OSError, ValueError):
        pass
    console.quiet = True


def keep_going_without_stdout(console) -> None:
    """A closed stdout mutes the console instead of ending the process (rich's default is exit 1):
    a sweep that outlives its terminal, or ``| head``, still finishes and writes its files."""
    console.on_broken_pipe = lambda: _muted(console)


def say(console, text: str) -> None:
    """Print one line as it is (no markup, never cut); a closed stdout mutes the console."""
    if console.quiet:
        return
    try:
        console.print(text, markup=False, soft_wrap=True, highlight=False)
    except (BrokenPipeError, OSError):
        _muted(console)


def _secs(v) -> str:
    return "-" if v is None else f"{v:.2f} s"


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class SweepPanel(SweepView):
    """The sweep's view in a terminal (a live panel) or a pipe (a line per finished run)."""

    def __init__(self, console, spec, quiet: bool = False, title: str | None = None):
        self.console, self.spec, self.quiet, self.title = console, spec, quiet, title
        self.live = None
        self.sweep = None  # the sweep, once it has started
        self._last = 0.0
        self.t0 = time.time()

    def header(self, sweep) -> str:
        s = self.spec
        n = "every point" if s.method == "grid" else f"{s.n_trials} points" if s.method == "list" else f"{s.trials} trials"
        return (f"{self.title or f'sweep {s.name}'}: {s.method}, {n} x {len(s.seeds)} seed{'s' if len(s.seeds) > 1 else ''}, "
                f"{s.metric} ({'max' if s.direction == 'maximize' else 'min'}imized), {sweep.capacity} at a time on "
                f"{sweep.where}")

    def note(self, text: str) -> None:
        if not self.quiet:
            say(self.console, text)

    def start(self, sweep) -> None:
        self.sweep = sweep
        if self.quiet:
            return
        say(self.console, self.header(sweep))
        say(self.console, f"folder: {sweep.folder}")
        if self.console.is_terminal and not self.console.quiet:
            from rich.live import Live

            self.live = Live(self._render(sweep), console=self.console, auto_refresh=False, transient=False)
            self.live.start()

    def stop(self, sweep) -> None:
        if self.live is not None:
            try:
                self.live.update(self._render(sweep), refresh=True)
                self.live.stop()
            except (BrokenPipeError, OSError):
                _muted(self.console)
            self.live = None

    def update(self, sweep, force: bool = False) -> None:
        if self.live is None:
            return
        now = time.time()
        if force or now - self._last >= 0.25:
            self._last = now
            try:
                self.live.update(self._render(sweep), refresh=True)
            except (BrokenPipeError, OSError):
                self.live = None
                _muted(self.console)

    def finished(self, sweep, trial: int, seed: int) -> None:
        if self.quiet:
            return
        t = sweep.trials[trial]
        r = t.run(seed)
        if self.live is not None:
            if r.status == "failed":  # why, above the panel: a failure is never silent
                say(self.console, f"trial {trial} seed {seed} failed: {r.message or 'no reason given'}")
            self.update(sweep, force=True)
            return
        done = sum(x.status not in ("queued", "running") for tt in sweep.trials.values() for x in tt.records)
        extra = f"  ({r.message})" if r.status in ("failed", "pruned") and r.message else ""
        say(self.console,
            f"[{done}/{sweep.total_runs}] trial {trial} seed {seed}: {r.status}, {self.spec.metric} "
            f"{metric_text(self.spec.metric, r.value)}, {r.epochs or 0} epochs, {_secs(r.seconds)}  "
            f"{params_text(t.params, self.spec.params)}{extra}")

    def _render(self, sweep):
        from rich.console import Group
        from rich.text import Text

        c = sweep.run_counts()
        total = max(1, sweep.total_runs)
        done = c["completed"] + c["diverged"] + c["pruned"] + c["failed"]
        width = 30
        filled = int(width * done / total)
        secs = sweep.run_seconds
        per = sum(secs) / len(secs) if secs else None
        left = total - done
        eta = _duration(per * left / max(1, sweep.capacity)) if per is not None and left else ("-" if left else "0s")
        lines = [
            Text.assemble(("━" * filled, "green"), ("━" * (width - filled), "grey37"),
                          f" {done}/{total} run{'s' if total != 1 else ''}  ETA {eta}  elapsed {_duration(time.time() - self.t0)}"),
            Text(f"done {c['completed']}  running {c['running']}  diverged {c['diverged']}  pruned {c['pruned']}  "
                 f"failed {c['failed']}" + (f"  time per run {per:.1f} s" if per is not None else "")),
        ]
        b = sweep.best()
        if b is not None:
            lines.append(Text(f"best so far: trial {b.number}, {self.spec.metric} "
                              f"{metric_text(self.spec.metric, b.value, b.std if len(self.spec.seeds) > 1 else None)}"
                              f"  {params_text(b.params, self.spec.params)}"))
        return Group(*lines)


def print_result(console, sweep, summary: dict, quiet: bool = False) -> None:
    """The end of a sweep: the best trials as a table, the chosen config's test result, what to do next."""
    try:
        _print_result(console, sweep, summary, quiet)
    except (BrokenPipeError, OSError):
        _muted(console)


def _print_result(console, sweep, summary: dict, quiet: bool = False) -> None:
    if quiet:
        say(console, str(sweep.folder))
        return
    from rich.table import Table

    spec = sweep.spec
    ranked = sweep.ranked()
    c = summary["counts"]
    say(console, f"{len(sweep.trials)} trials: {c['completed']} completed, {c['diverged']} diverged, "
                 f"{c['pruned']} pruned, {c['failed']} failed"
                 + (f", {c['interrupted'] + c['queued'] + c['running']} not finished"
                    if sweep.status != "completed" else ""))
    if ranked:
        say(console, f"best trials by {spec.metric} (mean over {len(spec.seeds)} seed"
                     f"{'s' if len(spec.seeds) > 1 else ''}):")
        header = ["trial", *(p.short for p in spec.params), spec.metric]
        rows = [[str(t.number), *(setting(t.params[p.path]) if p.path in t.params else "–" for p in spec.params),
                 metric_text(spec.metric, t.value, t.std if len(spec.seeds) > 1 else None)] for t in ranked[:5]]
        if not console.quiet:
            if console.is_terminal:
                table = Table(header_style="bold")
                table.add_column("trial", justify="right", no_wrap=True)
                for p in spec.params:
                    table.add_column(p.short, overflow="fold")
                table.add_column(spec.metric, justify="right", no_wrap=True)
                for r in rows:
                    table.add_row(*r)
                console.print(table)
            else:  # piped: tab-separated, a header row (cut, awk)
                emit(tsv(header, rows), console.file)  # as they are: rich would turn the tabs into spaces
    best = summary.get("best")
    test = (best or {}).get("test") or {}
    if test.get("acc") is not None:
        pm = test.get("acc_std") if len(spec.seeds) > 1 else None
        say(console, f"test accuracy of the chosen config (trial {best['trial']}, looked at once): "
                     f"{mean_std(test['acc'], pm, pct=True)}")
    elif test.get("loss") is not None:
        say(console, f"test loss of the chosen config (trial {best['trial']}, looked at once): "
                     f"{number(test['loss'])}")
    if not ranked and sweep.status == "completed":
        failed = [r for t in sweep.trials.values() for r in t.records if r.status == "failed" and r.message]
        why = (f"every trial diverged ({c['diverged']}): lower the learning rates searched" if c["diverged"] and
               c["diverged"] == len(sweep.trials) else "no trial completed on all its seeds")
        say(console, f"no best configuration: {why}" + (f"; a failure said: {failed[0].message}" if failed else ""))
    say(console, f"sweep folder: {sweep.folder}")
    if best:
        say(console, f"train the best: nnlab train {sweep.folder / 'best.yaml'}")
    if sweep.status != "completed":
        say(console, f"resume: nnlab sweep --resume {sweep.folder}")
