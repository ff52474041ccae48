"""The text of ``nnlab compare`` and ``nnlab runs``, at any width or piped (nnlab.look.term).

``render_compare`` and ``render_runs`` return lines; the width is a parameter, so the tests render
them at 60, 80, 120 and 200 columns and piped.  Names and folder names are never cut: when a table
would not fit, each run becomes a block of lines (as ``kubectl describe`` does) with the name first.
"""

from __future__ import annotations

from nnlab.look.term import aligned, fits, paint_status, tsv, width_of, wrap
from nnlab.look.textplot import line_chart
from nnlab.runs.compare import default_metric, run_values, settings_line, sparkline, train_seconds
from nnlab.runs.diagnosis import diagnose
from nnlab.text import mean_std

INDENT = "  "


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 run', '2 runs'."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _num(v, pct=False, spread=None) -> str:
    return mean_std(v, spread, pct=pct)


def seconds_text(v) -> str:
    """Seconds as 0.042, 1.27, 12.3, 1234 (3 significant digits, whole seconds from 1000 on)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "-"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _pack(pieces: list[str], width: int | None, indent: str, sep: str = "   ") -> list[str]:
    """Pieces (never split) on as few lines as fit ``width``, each line starting with ``indent``."""
    lines, cur = [], ""
    for p in pieces:
        if not p:
            continue
        cand = p if not cur else cur + sep + p
        if cur and width is not None and width_of(indent + cand) > width:
            lines.append(indent + cur)
            cur = p
        else:
            cur = cand
    if cur:
        lines.append(indent + cur)
    return lines


def _settings_lines(groups: list[tuple[str, str]], width: int | None, indent: str = "") -> list[str]:
    """A run's settings grouped by component, ``; ``-joined on as few lines as fit; a group too long for
    a line is word-wrapped with a hanging indent (nothing is cut)."""
    texts = [f"{label}: {text}" if label else text for label, text in groups]
    if width is None:
        return [indent + "; ".join(texts)] if texts else []
    lines, cur = [], ""
    for i, t in enumerate(texts):
        t = t + (";" if i < len(texts) - 1 else "")
        cand = t if not cur else cur + " " + t
        if width_of(indent + cand) <= width:
            cur = cand
            continue
        if cur:
            lines.append(indent + cur)
        if width_of(indent + t) <= width:
            cur = t
        else:
            wrapped = wrap(t, width, indent=indent + "  ", first=indent)
            lines.extend(wrapped[:-1])
            cur = wrapped[-1][len(indent):]
    if cur:
        lines.append(indent + cur)
    return lines


# ------------------------------------------------------------------ compare

def _compare_cells(comp, row) -> dict:
    v, sp = row.values, row.spread
    pct = comp.metric.endswith("acc")
    best = _num(v["best"], pct, sp.get("best"))
    if v["best_epoch"] is not None:
        best += f" @{v['best_epoch']:.0f}"
    return {
        "best": best,
        "test": _num(v["test_acc"], True, sp.get("test_acc")),
        "loss": f"{_num(v['final_train_loss'])}/{_num(v['final_val_loss'])}",
        "epochs": f"{v['epochs']:.0f}" if v["epochs"] is not None else "-",
        "secs": seconds_text(v["seconds"]),
        "curve": lambda n: sparkline(row.curve, n),
    }


def render_compare(comp, width: int | None = None, terminal: bool = True) -> list[str]:
    """``nnlab compare``'s table: one line per run with its settings grouped by component (wrapped in the
    last column), or one block per run when the table would not fit ``width``; piped, tab-separated."""
    metric = comp.metric.replace("_", " ")
    damaged = {path for path, _ in comp.damaged}
    rows_shown = [r for r in comp.rows if not set(r.runs) <= damaged]  # listed below the table instead
    if len(rows_shown) != len(comp.rows):
        from dataclasses import replace

        comp = replace(comp, rows=rows_shown)
    if not terminal:
        header = ["run", "status", f"best_{comp.metric}", "best_epoch", "test_acc", "final_train_loss",
                  "final_val_loss", "epochs", "train_seconds", "settings"]
        rows = []

        for row in comp.rows:
            v, sp, pct = row.values, row.spread, comp.metric.endswith("acc")
            rows.append([row.name, row.status, _num(v["best"], pct, sp.get("best")),
                         "-" if v["best_epoch"] is None else f"{v['best_epoch']:.0f}",
                         _num(v["test_acc"], True, sp.get("test_acc")), _num(v["final_train_loss"]),
                         _num(v["final_val_loss"]), "-" if v["epochs"] is None else f"{v['epochs']:.0f}",
                         seconds_text(v["seconds"]), settings_line(row.groups)])
        return tsv(header, rows)
    seeds = any(len(r.runs) > 1 for r in comp.rows)
    n_runs = sum(len(r.runs) for r in comp.rows)
    what = f"{plural(n_runs, 'run')} in {plural(len(comp.rows), 'row')}" if seeds else plural(n_runs, "run")
    lines = [f"{what}, best {metric}" + (" (mean ± std over seeds)" if seeds else "")]
    cells = [_compare_cells(comp, r) for r in comp.rows]
    any_settings = any(r.groups for r in comp.rows)
    table = _compare_table(comp, cells, width, any_settings)
    blocks = _compare_blocks(comp, cells, width)
    # the table unless its settings column is so narrow that blocks take fewer lines
    lines += table if table is not None and len(table) <= len(blocks) else blocks
    if comp.damaged:
        lines += ["", f"not compared ({plural(len(comp.damaged), 'damaged folder')}):"]
        for path, why in comp.damaged:
            lines.append(INDENT + path)
            lines += wrap(why, width, indent=INDENT * 2, first=INDENT * 2)
    return lines


def _compare_table(comp, cells, width, any_settings) -> list[str] | None:
    """The one-line-per-run table, or None when it cannot fit ``width`` (names are never cut)."""
    metric = comp.metric.replace("_", " ")
    min_settings = 24
    # what is given up first when the screen is narrow: the curve's length, then the curve, then the losses
    for curve, loss in ((12, True), (8, True), (0, True), (0, False)):
        header = ["run", "status", f"best {metric}", "test acc"] + (["last loss tr/val"] if loss else []) \
            + ["epochs", "train s"] + (["curve"] if curve else [])
        rows = []
        for row, c in zip(comp.rows, cells):
            rows.append([row.name, row.status, c["best"], c["test"]] + ([c["loss"]] if loss else [])
                        + [c["epochs"], c["secs"]] + ([c["curve"](curve)] if curve else []))
        right = {2, 3, 4, 5, 6} if loss else {2, 3, 4, 5}
        base = aligned(header, rows, right=right)
        used = max(width_of(line) for line in base) if base else 0
        # the fixed part of every line is as wide as its widest line (the padding before the settings)
        fixed = max(width_of(pad_line) for pad_line in base)
        if not any_settings:
            if width is None or used <= width:
                return [base[0]] + [paint_status(line, r[1], len(r[0])) for line, r in zip(base[1:], rows)]
            continue
        room = None if width is None else width - fixed - 2
        if room is not None and room < min_settings:
            continue
        out = []
        for i, line in enumerate(base):
            line = line + " " * (fixed - width_of(line))
            if i == 0:
                out.append(line + "  settings")
                continue
            sets = _settings_lines(comp.rows[i - 1].groups, room) or [""]
            out.append(paint_status((line + "  " + sets[0]).rstrip(), rows[i - 1][1], len(rows[i - 1][0])))
            out += [(" " * (fixed + 2) + s).rstrip() for s in sets[1:]]
        if fits(out, width):
            return out
    return None


def _compare_blocks(comp, cells, width) -> list[str]:
    """One block per run: its name alone on the first line, then its results and its settings."""
    metric = comp.metric.replace("_", " ")
    lines = []
    for row, c in zip(comp.rows, cells):
        lines.append("")
        head = f"{row.name}  {row.status}"
        if width is not None and width_of(head) > width:
            lines += [row.name, paint_status(INDENT + row.status, row.status)]
        else:
            lines.append(paint_status(head, row.status, len(row.name)))
        curve = c["curve"](min(12, max(0, (width or 80) - 20)))
        lines += _pack([f"best {metric} {c['best']}", f"test acc {c['test']}", f"last loss tr/val {c['loss']}",
                        f"epochs {c['epochs']}", f"train s {c['secs']}", curve], width, INDENT)
        lines += _settings_lines(row.groups, width, INDENT)
    return lines


# ------------------------------------------------------------------ runs

def runs_cells(run) -> dict:
    """What ``nnlab runs`` says of one run: the best so far for a run that has not finished."""
    best = run.summary.get("best") if isinstance(run.summary.get("best"), dict) else {}
    metric = best.get("metric") or default_metric([run])
    values = run_values(run, metric)
    pct = metric.endswith("acc")
    if values["best"] is None:
        best_text = "none yet" if run.status == "running" else "none"
    else:
        best_text = f"{metric.replace('_', ' ')} {_num(values['best'], pct)}"
        if values["best_epoch"] is not None:
            best_text += f" @{values['best_epoch']:.0f}"
        if run.status in ("running", "crashed", "interrupted", "failed", "incomplete"):
            best_text += " so far"  # of a run that did not finish: from its metrics.csv
    test = run.summary.get("test") if isinstance(run.summary.get("test"), dict) else {}
    resumable = run.status in ("interrupted", "crashed", "failed") and (run.path / "checkpoint.npz").is_file()
    return {"folder": run.path.name, "status": run.status + (" (resumable)" if resumable else ""),
            "epochs": str(len(run.metrics)), "secs": seconds_text(train_seconds(run)), "best": best_text,
            "test": _num(test.get("acc"), True)}


RUNS_HEADER = ["status", "epochs", "train s", "best", "test acc", "run folder"]


def render_runs(runs, folder: str, width: int | None = None, terminal: bool = True) -> list[str]:
    """``nnlab runs``: a table with the folder name last (never cut), or, when a line would not fit,
    the folder name on a line of its own and the run's numbers aligned below it; piped, tab-separated."""
    cells = [runs_cells(r) for r in runs]
    rows = [[c["status"], c["epochs"], c["secs"], c["best"], c["test"], c["folder"]] for c in cells]
    if not terminal:
        return tsv(RUNS_HEADER, rows)
    title = [f"{plural(len(runs), 'run')} in {folder}, newest first"]
    if width is not None and width_of(title[0]) > width:  # the folder whole, on a line of its own
        title = [f"{plural(len(runs), 'run')}, newest first, in", folder]
    table = aligned(RUNS_HEADER, rows, right={1, 2, 4})
    if fits(table, width) or not rows:
        return [*title, table[0], *(paint_status(line, r[0]) for line, r in zip(table[1:], rows))]
    sub = aligned(["status", "epochs", "train s", "best", "test acc"], [r[:5] for r in rows], right={1, 2, 4})
    sub = [INDENT + s for s in sub]
    if fits(sub, width):
        out = [*title, "run folder", sub[0]]
        for r, line in zip(rows, sub[1:]):
            out += [r[5], paint_status(line, r[0])]
        return out
    out = list(title)
    for c in cells:
        out.append(c["folder"])
        packed = _pack([c["status"], f"{c['epochs']} epochs", f"train {c['secs']} s", f"best {c['best']}",
                        f"test acc {c['test']}"], width, INDENT, sep="  ")
        out += [paint_status(packed[0], c["status"]), *packed[1:]]
    return out


# ------------------------------------------------------------------ show

def render_show(run, width: int | None = None, terminal: bool = True, config: bool = True) -> list[str]:
    """``nnlab show``: the summary, the diagnosis, text charts of the curves and the config, as sections
    with a heading each (as ``git show`` has them); the folder is whole on a line of its own."""
    s = run.summary
    best = s.get("best") or {}
    metric = best.get("metric", "")
    test = s.get("test") or {}
    facts = f"{run.status}  {plural(len(run.metrics), 'epoch')}" \
        + (f"  {run.started.strftime('%Y-%m-%d %H:%M:%S')}" if run.started else "")
    head = f"{run.name}  {facts}"
    lines = [paint_status(head, run.status, len(run.name))] if width is None or width_of(head) <= width \
        else [run.name, paint_status(INDENT + facts, run.status)]
    lines.append(f"folder: {run.path}")
    if s.get("message"):
        lines += wrap(str(s["message"]), width)
    if best:
        lines.append(f"best {metric.replace('_', ' ')}: {_num(best.get(metric), metric.endswith('acc'))} "
                     f"in epoch {_num(best.get('epoch'))}")
    if test.get("loss") is not None:
        lines.append(f"test: loss {_num(test['loss'])}"
                     + (f", accuracy {_num(test['acc'], True)}" if test.get("acc") is not None else ""))
    secs = train_seconds(run)
    if secs is not None:
        sps = s.get("samples_per_second")
        lines.append(f"training: {seconds_text(secs)} s" + (f", {sps:,.0f} samples/s" if sps else ""))
    findings = s.get("diagnosis")
    if findings is None or run.status in ("crashed", "running", "incomplete"):
        findings = diagnose(run.metrics, run.diagnostics, s, run.config)
    lines += ["", "diagnosis"]
    for f in findings:
        lines += wrap(str(f["message"]), width, indent="    ", first="  • ")
    if not findings:
        lines.append("  No problems found by the rules.")
    if run.metrics:
        chart = 60 if width is None else max(30, min(90, width - 16))
        loss = {"train loss": [m.get("train_loss") for m in run.metrics],
                "val loss": [m.get("val_loss") for m in run.metrics]}
        lines += ["", "loss", *(line.rstrip() for line in line_chart(loss, width=chart, height=10))]
        if any(m.get("train_acc") is not None for m in run.metrics):
            acc = {"train acc": [m.get("train_acc") for m in run.metrics],
                   "val acc": [m.get("val_acc") for m in run.metrics]}
            lines += ["", "accuracy", *(line.rstrip() for line in line_chart(acc, width=chart, height=8, pct=True))]
    if config and run.config:
        import yaml

        text = yaml.safe_dump(run.config, sort_keys=False, width=10**6)
        lines += ["", "config", *(INDENT + line for line in text.splitlines())]
    return lines
