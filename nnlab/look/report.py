"""One self-contained HTML report of some runs: the comparison, the curves, each run's story.

``write_report(runs, path)`` writes a single HTML5 file that needs nothing else:
no network, no JavaScript, no image files.  The plots are nnlab.look.figures
saved as SVG and embedded inline (text kept as text, ids prefixed per figure so
figures cannot clash), the CSS sits in a <style> element, and everything that
comes from a run folder (names, messages, config text) is HTML-escaped.

The report holds, in order: a header (title, date, nnlab version, how many
runs); the comparison table of nnlab.runs.compare (groups of seeds as mean ± std);
the overlaid curves of every run that recorded an epoch (training loss,
validation loss, validation accuracy -- or validation loss on a log scale for
regression -- and learning rate); then one section per run with its folder,
status, message, diagnosis, results, per-layer gradient norms and config.

Runs read defensively by nnlab.runs (no metrics, no summary, no diagnostics,
no config) still get their row and their section.  The file is written to a
temporary file in the same folder and renamed over the target.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from nnlab.errors import RunError
from nnlab.look.figures import SvgFigures, curves_svg, gradnorm_svg, run_colors
from nnlab.look.format import mean_std, number
from nnlab.metrics import METRICS
from nnlab.runs import Run, atomic_write
from nnlab.runs.compare import Comparison, compare, label, run_values, short_key
from nnlab.runs.read import summary_number

# the comparison table's numeric columns: (Row.values key, header)
TABLE_COLUMNS = (
    ("best", None),  # header filled in with the metric's name
    ("best_epoch", "epoch"),
    ("final_train_loss", "final train loss"),
    ("final_val_loss", "final val loss"),
    ("test_acc", "test acc"),
    ("test_loss", "test loss"),
    ("epochs", "epochs"),
    ("seconds", "seconds"),
)

STATUS_NOTES = {
    "crashed": "The process that ran it is gone and it never wrote its outcome (summary.json still says running).",
    "incomplete": "The folder has no usable summary.json: the run never finished writing its outcome.",
    "running": "Still running (or running on another host) when this report was made.",
}

# ------------------------------------------------------------------ formatting


def esc(value) -> str:
    """HTML-escape anything (quotes too, so it is also safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(v) -> str:
    """How the report writes a number: ints as they are, floats to 4 significant digits (look.format)."""
    return number(v, missing="–")


def fmt_value(v, std=None) -> str:
    """A table cell's text: the number, and ``± std`` for groups of seeds."""
    return mean_std(v, std, missing="–")


def fmt_setting(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str, separators=(",", ":"))
    return str(v)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ------------------------------------------------------------------ HTML pieces

CSS = """
:root { color-scheme: light; --fg: #1d2125; --muted: #5f6b76; --line: #c9d0d6; --head: #eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 16px 48px; color: var(--fg); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 2px 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
            font-size: 0.88em; }
code { overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px;
      overflow-x: auto; line-height: 1.35; margin: 6px 0; }
.wide { width: max-content; min-width: 100%; max-width: calc(100vw - 32px); position: relative; left: 50%;
        transform: translateX(-50%); overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
th { background: var(--head); text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.compare { font-size: 0.82em; }
table.compare th { vertical-align: bottom; }
table.compare th, table.compare td { padding: 3px 6px; }
table.compare .status { font-size: 0.8em; padding: 0 5px; }
table.compare td.set { max-width: 14em; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                       font-size: 0.92em; }
table.compare td.run { white-space: nowrap; }
.pm { display: block; color: var(--muted); font-size: 0.88em; }
table.kv th { width: 11em; font-weight: 500; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 6px;
          vertical-align: -0.05em; }
.none { color: var(--muted); }
.status { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 0.85em; font-weight: 600;
          white-space: nowrap; border: 1px solid transparent; }
.st-completed { background: #e3f4e8; color: #17622f; border-color: #a6d8b5; }
.st-diverged, .st-failed, .st-crashed { background: #fde7e7; color: #a11a1a; border-color: #f0b1b1; }
.st-interrupted, .st-pruned, .st-mixed { background: #fff1d6; color: #7a4b00; border-color: #f0cf8c; }
.st-running { background: #e2eefc; color: #17457e; border-color: #a9c7ef; }
.st-incomplete, .st-queued { background: #eceef0; color: #4a525a; border-color: #c9d0d6; }
h2 .status { font-size: 0.62em; vertical-align: 0.2em; margin-left: 8px; }
figure { margin: 10px 0; }
svg { max-width: 100%; height: auto; display: block; }
svg * { stroke-linejoin: round; stroke-linecap: butt; }
.run { margin-top: 8px; }
.cols { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.cols > .left { flex: 0 1 540px; min-width: 0; }
.cols > .right { flex: 1 1 400px; min-width: 0; }
pre.config { font-size: 0.8em; max-height: 42em; overflow: auto; }
figure.grad { margin: 0; }
.message { border-left: 4px solid var(--line); padding: 4px 10px; margin: 8px 0; background: #fafbfc; }
.message.bad { border-left-color: #d64545; }
ul.diagnosis { margin: 4px 0; padding-left: 22px; }
ul.diagnosis li { margin: 3px 0; }
.tag { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.78em;
       color: var(--muted); background: #f0f2f4; border-radius: 3px; padding: 0 4px; margin-left: 4px; }
.warn { color: #7a4b00; }
a { color: #1a5fb4; }
.sweep figure { margin: 14px 0; }
table.trials td.best { font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; }
@media print { h2 { break-before: auto; } .run { break-inside: avoid-page; } }
"""


def _status_badge(status: str) -> str:
    cls = status if status in ("completed", "diverged", "pruned", "failed", "crashed", "interrupted", "running",
                               "incomplete", "queued") else "mixed"
    return f'<span class="status st-{cls}">{esc(status)}</span>'


def _cell_num(v, std=None) -> str:
    """A number cell; a group's ``± std`` goes on its own line (the cell's text is still fmt_value's)."""
    if v is None:
        return '<td class="num none">–</td>'
    text = esc(fmt_number(v))
    if std is not None:
        text += f' <span class="pm">± {esc(f"{std:.2g}")}</span>'
    return f'<td class="num">{text}</td>'


def _setting_html(v) -> str:
    """A setting cell: lists and mappings may wrap after their commas."""
    text = fmt_setting(v)
    return "<wbr>".join(esc(part) for part in re.split(r"(?<=,)", text))


def _anchor(i: int) -> str:
    return f"run-{i + 1}"


def column_names(keys: list[str]) -> list[str]:
    """Short headers for the settings columns: 'train.optimizer.lr' -> 'lr' where that is unambiguous."""
    shorts = [short_key(k) for k in keys]
    return [s if shorts.count(s) == 1 else k for k, s in zip(keys, shorts)]


def comparison_table(comp: Comparison, anchors: dict, colors: dict) -> str:
    head_html = ['<th scope="col">run</th>', '<th scope="col">status</th>']
    for k, short in zip(comp.keys, column_names(comp.keys)):
        text = "<wbr>.".join(esc(p) for p in short.split("."))
        head_html.append(f'<th scope="col" title="{esc(k)}">{text}</th>')
    for col, text in TABLE_COLUMNS:
        text = f"best {comp.metric}" if col == "best" else text
        head_html.append(f'<th scope="col">{esc(text)}</th>')
    lines = ['<div class="wide"><table class="compare" id="comparison">',
             "<thead><tr>" + "".join(head_html) + "</tr></thead>", "<tbody>"]
    for row in comp.rows:
        first = row.runs[0] if row.runs else ""
        color = colors.get(first)
        swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
        name = esc(row.name)
        if first in anchors:
            name = f'<a href="#{anchors[first]}">{name}</a>'
        cells = [f'<td class="run">{swatch}{name}</td>', f"<td>{_status_badge(row.status)}</td>"]
        for k in comp.keys:
            v = row.settings.get(k)
            cells.append(f'<td class="set{" none" if v is None else ""}">{_setting_html(v)}</td>')
        for col, _ in TABLE_COLUMNS:
            cells.append(_cell_num(row.values.get(col), row.spread.get(col)))
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</tbody></table></div>"]
    return "\n".join(lines)


def _config_text(run: Run) -> str | None:
    path = run.path / "config.yaml"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    if run.config:
        import yaml

        return yaml.safe_dump(run.config, sort_keys=False)
    return None


def _findings(run: Run) -> list[dict]:
    found = run.summary.get("diagnosis")
    if isinstance(found, list):
        return [f for f in found if isinstance(f, dict) and f.get("message")]
    if not run.metrics:
        return []
    from nnlab.runs.diagnosis import diagnose  # an old or unfinished run: diagnose what it holds

    try:
        return diagnose(run.metrics, run.diagnostics, run.summary, run.config)
    except Exception:  # a damaged folder must not stop the report
        return []


def results_table(run: Run, metric: str) -> str:
    vals = run_values(run, metric)
    last = run.metrics[-1] if run.metrics else (run.summary.get("final") or {})
    test = run.summary.get("test") or {}
    data = run.summary.get("data") or {}
    planned = ((run.config or {}).get("train") or {}).get("epochs")
    rows = [("status", _status_badge(run.status))]
    epochs = fmt_number(vals["epochs"]) + (f" of {fmt_number(planned)}" if isinstance(planned, int) else "")
    rows.append(("epochs recorded", esc(epochs)))
    if vals["best"] is not None:
        best = f"{fmt_number(vals['best'])} (epoch {fmt_number(vals['best_epoch'])})"
        rows.append((f"best {metric}", esc(best)))
    classification = run.task == "classification"
    for key, text in (("train_loss", "final train loss"), ("train_acc", "final train acc"),
                      ("val_loss", "final val loss"), ("val_acc", "final val acc")):
        if key.endswith("acc") and not classification:
            continue
        if last.get(key) is not None or key.endswith("loss"):
            rows.append((text, esc(fmt_number(last.get(key)))))
    rows.append(("test loss", esc(fmt_number(test.get("loss")))))
    if classification:
        rows.append(("test acc", esc(fmt_number(test.get("acc")))))
    if run.summary.get("stopped_early"):
        restored = run.summary.get("restored_epoch")
        rows.append(("stopped early", "yes" + (f", the weights of epoch {esc(restored)} restored" if restored else "")))
    secs = vals["seconds"]
    rows.append(("training seconds", esc(fmt_number(secs))))
    if run.summary.get("n_params") is not None:
        rows.append(("parameters", esc(fmt_number(run.summary["n_params"]))))
    if data:
        rows.append(("data", f"{esc(data.get('name', '?'))} ({esc(data.get('task', '?'))})"))
        rows.append(("train / val / test", esc(" / ".join(fmt_number(data.get(k))
                                                         for k in ("n_train", "n_val", "n_test")))))
    seed = (run.config or {}).get("seed", run.summary.get("seed"))
    if seed is not None:
        rows.append(("seed", esc(fmt_number(seed))))
    body = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{v}</td></tr>' for k, v in rows)
    return f'<table class="kv">{body}</table>'


def run_section(run: Run, index: int, metric: str, color: str | None, figs: SvgFigures) -> str:
    out = [f'<section class="run" id="{_anchor(index)}">']
    swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
    out.append(f"<h2>{swatch}{esc(run.name)}{_status_badge(run.status)}</h2>")
    out.append(f'<p class="meta">folder: <code>{esc(run.path.resolve())}</code></p>')
    started = run.started
    if started:
        out.append(f'<p class="meta">started {esc(started.isoformat(sep=" ", timespec="seconds"))}</p>')
    message = run.summary.get("message") or STATUS_NOTES.get(run.status)
    if message:
        bad = " bad" if run.status in ("diverged", "failed", "crashed") else ""
        out.append(f'<p class="message{bad}">{esc(message)}</p>')
    if run.warnings:
        out.append('<p class="warn">Damaged files: ' + esc("; ".join(run.warnings)) + ".</p>")

    out.append("<h3>Diagnosis</h3>")
    findings = _findings(run)
    if findings:
        out.append('<ul class="diagnosis">' + "".join(
            f'<li>{esc(f["message"])}<span class="tag">{esc(f.get("code", ""))}</span></li>' for f in findings)
            + "</ul>")
    elif not run.metrics:
        out.append('<p class="none">Nothing to diagnose: the run recorded no epoch.</p>')
    else:
        out.append('<p class="none">No problems found by the rules.</p>')

    left = [f"<h3>Results</h3>{results_table(run, metric)}"]
    svg = gradnorm_svg(figs, run.diagnostics, run.name) if run.diagnostics else None
    if svg:
        left.append(f'<figure class="grad"><h3>Gradient norms</h3>{svg}</figure>')
    text = _config_text(run)
    if text is not None:
        right = f'<h3>Resolved config</h3><pre class="config">{esc(text.rstrip())}</pre>'
    else:
        right = '<h3>Resolved config</h3><p class="none">No config.yaml in this folder.</p>'
    out.append(f'<div class="cols"><div class="left">{"".join(left)}</div><div class="right">{right}</div></div>')
    out.append("</section>")
    return "\n".join(out)


# ------------------------------------------------------------------ a sweep's section

TRIALS_SHOWN = 50  # rows of a sweep's trials table


def sweeps_of(runs: list[Run]) -> list[Path]:
    """The sweep folders whose runs are all among ``runs``, in order of first appearance.

    That is what ``nnlab report <sweep folder>`` (or ``<sweep>/runs``) gives; a report of a few of a
    sweep's runs next to other runs gets no sweep section.
    """
    from nnlab.sweep_read import is_sweep_folder

    have = {os.path.realpath(r.path) for r in runs}
    out: dict = {}
    for run in runs:
        parent = run.path.parent
        key = os.path.realpath(parent.parent)
        if parent.name != "runs" or key in out or not is_sweep_folder(parent.parent):
            continue
        try:
            folders = [c for c in parent.iterdir() if c.is_dir()
                       and any((c / f).exists() for f in ("config.yaml", "summary.json", "metrics.csv"))]
        except OSError:
            continue
        if all(os.path.realpath(c) in have for c in folders):
            out[key] = parent.parent
    return list(out.values())


def _trial_order(sweep) -> list:
    """Trials best first: the candidates ranked, then the others with a value, then the rest by number."""
    from nnlab.sweep_read import rank_trials

    ranked = rank_trials(sweep.trials, sweep.direction)
    done = {id(t) for t in ranked}
    sign = -1.0 if sweep.direction == "maximize" else 1.0
    rest = [t for t in sweep.trials if id(t) not in done]
    valued = sorted((t for t in rest if _finite(t.value)), key=lambda t: (sign * t.value, t.number))
    others = [t for t in rest if not _finite(t.value)]
    return ranked + valued + others


def _trial_status(trial) -> str:
    text = _status_badge(trial.status)
    if len(set(trial.statuses)) > 1:
        text += f' <span class="pm">{esc(", ".join(trial.statuses))}</span>'
    return text


def _run_link(sweep, trial, anchors: dict) -> str | None:
    for run in trial.runs:
        if run:
            found = anchors.get(os.path.realpath(sweep.path / "runs" / run))
            if found:
                return found
    return None


def sweep_section(sweep, index: int, figs: SvgFigures, anchors: dict | None = None) -> str:
    """A sweep's section: what was searched, the best trial, the three figures, the trials best first.

    ``anchors``: real path of a run folder -> the id of its section (the trial numbers link there).
    """
    from nnlab.look.sweep_figures import choice_text, short_names, sweep_svgs

    anchors = anchors or {}
    summary = sweep.summary
    metric = sweep.metric
    paths = list(sweep.params)
    names = short_names(paths)
    status = summary.get("status") if isinstance(summary.get("status"), str) else None
    out = [f'<section class="sweep" id="sweep-{index + 1}">',
           f"<h2>Sweep {esc(sweep.name)}{_status_badge(status) if status else ''}</h2>",
           f'<p class="meta">folder: <code>{esc(sweep.path.resolve())}</code></p>']
    seeds = sweep.n_seeds
    facts = [f"method {sweep.method or '?'}", f"metric {metric} ({sweep.direction})",
             f"{len(sweep.trials)} trial{'s' if len(sweep.trials) != 1 else ''} × {seeds} seed{'s' if seeds != 1 else ''}"]
    counts = sweep.counts()
    if counts:
        facts.append("trials: " + ", ".join(f"{fmt_number(n)} {k}" for k, n in counts.items() if n))
    if _finite(summary.get("seconds")):
        facts.append(f"{fmt_number(summary['seconds'])} s")
    out.append(f'<p class="meta">{esc(" · ".join(facts))}</p>')
    if sweep.warnings:
        out.append('<p class="warn">Damaged files: ' + esc("; ".join(sweep.warnings)) + ".</p>")

    out.append("<h3>Best trial</h3>")
    best = sweep.best
    named = summary.get("best") if isinstance(summary.get("best"), dict) else {}
    if best is None and not named:
        out.append('<p class="none">No trial completed yet, so there is no best.</p>')
    else:
        number = named.get("trial", best.number if best else None)
        params = named.get("params") if isinstance(named.get("params"), dict) else (best.params if best else {})
        value = summary_number(named.get("value")) if "value" in named else (best.value if best else None)
        std = summary_number(named.get("std")) if "value" in named else (best.std if best else None)
        n_values = len(named["values"]) if isinstance(named.get("values"), list) else len(best.values) if best else 0
        rows = [("trial", esc(fmt_number(number)))]
        for p in paths or list(params):
            if p in params:
                rows.append((f'<span title="{esc(p)}">{esc(names.get(p, p))}</span>', f"<code>{esc(choice_text(params[p]))}</code>"))
        text = fmt_value(value, std if _finite(std) else None)
        over = f" (mean over {n_values} seed{'s' if n_values != 1 else ''})" if n_values else ""
        rows.append((esc(metric), esc(text + over)))
        test = named.get("test") if isinstance(named.get("test"), dict) else {}
        acc, acc_std = summary_number(test.get("acc")), summary_number(test.get("acc_std"))
        rows.append(("test accuracy", esc(fmt_value(acc, acc_std if _finite(acc_std) else None))
                     if acc is not None else '<span class="none">not recorded</span>'))
        body = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in rows)
        out.append(f'<table class="kv">{body}</table>')

    svgs = sweep_svgs(figs, sweep)
    if svgs:
        out.append("<h3>Figures</h3>")
        out += [f"<figure>{svg}</figure>" for svg in svgs]
    else:
        out.append('<p class="none">No trial has a value yet, so there are no figures.</p>')

    order = _trial_order(sweep)
    out.append("<h3>Trials</h3>")
    if not order:
        out.append('<p class="none">No trials in trials.csv.</p>')
    else:
        head = ['<th scope="col">trial</th>'] + [f'<th scope="col" title="{esc(p)}">{esc(names[p])}</th>' for p in paths]
        head += [f'<th scope="col">{esc(metric)} (mean ± std over seeds)</th>',
                 '<th scope="col" title="the runs the value is the mean of, of the trial&#x27;s runs">seeds</th>',
                 '<th scope="col">status</th>', '<th scope="col">seconds</th>']
        lines = ['<div class="wide"><table class="compare trials">', "<thead><tr>" + "".join(head) + "</tr></thead>",
                 "<tbody>"]
        for t in order[:TRIALS_SHOWN]:
            link = _run_link(sweep, t, anchors)
            num = esc(t.number)
            num = f'<a href="#{link}">{num}</a>' if link else num
            cells = [f'<td class="num{" best" if best is not None and t is best else ""}">{num}</td>']
            cells += [f'<td class="set">{esc(choice_text(t.params[p])) if p in t.params else "–"}</td>' for p in paths]
            cells.append(_cell_num(t.value, t.std))
            cells.append(f'<td class="num">{len(t.values)} of {len(t.statuses)}</td>')
            cells.append(f"<td>{_trial_status(t)}</td>")
            cells.append(_cell_num(t.seconds))
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</tbody></table></div>")
        out.append("\n".join(lines))
        if len(order) > TRIALS_SHOWN:
            out.append(f'<p class="meta">The best {TRIALS_SHOWN} of {len(order)} trials are shown; '
                       f"all of them are in <code>{esc(sweep.path / 'trials.csv')}</code>.</p>")
    out.append("</section>")
    return "\n".join(out)


# ------------------------------------------------------------------ the report


def _has_curve(run: Run) -> bool:
    return any(_finite(r.get("train_loss")) or _finite(r.get("val_loss")) for r in run.metrics)


def render_report(runs: list[Run], *, metric: str | None = None, group: bool = True,
                  title: str = "nnlab report", now: datetime | None = None, sweeps: list | None = None) -> str:
    """The report's HTML text (``write_report`` writes it).

    ``sweeps``: sweep folders to report before the comparison (default: those the runs belong to,
    sweeps_of); without ``metric``, the comparison uses the sweeps' metric when they share one.
    """
    from nnlab import __version__
    from nnlab.sweep_read import read_sweep

    runs = list(runs)
    swept = [read_sweep(p) for p in (sweeps_of(runs) if sweeps is None else sweeps)]
    if metric is None and swept and len({sw.metric for sw in swept}) == 1 and swept[0].metric in METRICS:
        metric = swept[0].metric
    comp = compare(runs, metric=metric, group=group)
    figs = SvgFigures()
    plotted = [r for r in runs if _has_curve(r)]
    colors = run_colors([str(r.path) for r in plotted])  # only runs with a curve get a colour (and a swatch in the table)
    anchors = {str(r.path): _anchor(i) for i, r in enumerate(runs)}
    row_of = {p: row for row in comp.rows for p in row.runs}
    now = now or datetime.now()

    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f'<meta name="generator" content="nnlab {esc(__version__)}">',
             f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>"]
    n_rows = len(comp.rows)
    counts = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if n_rows != len(runs):
        counts += f" in {n_rows} rows (completed runs whose configs differ only in the seed are grouped: mean ± std)"
    direction = "highest" if comp.metric.endswith("acc") else "lowest"
    parts += ["<header>", f"<h1>{esc(title)}</h1>",
              f'<p class="meta">Generated {esc(now.strftime("%Y-%m-%d %H:%M:%S"))} by nnlab {esc(__version__)} '
              f"· {esc(counts)} · best = {direction} {esc(comp.metric)}</p>", "</header>"]

    real_anchors = {os.path.realpath(r.path): _anchor(i) for i, r in enumerate(runs)}
    for i, sweep in enumerate(swept):
        parts.append(sweep_section(sweep, i, figs, real_anchors))

    parts.append("<h2>Comparison</h2>")
    if comp.rows:
        if comp.keys:
            parts.append('<p class="meta">Settings columns: the config keys whose values differ between runs.</p>')
        parts.append(comparison_table(comp, anchors, colors))
    else:
        parts.append('<p class="none">No runs.</p>')

    parts.append("<h2>Curves</h2>")
    entries = []
    for run in plotted:
        row = row_of.get(str(run.path))
        if row is not None and len(row.runs) > 1:  # a member of a group: its own name and seed
            row = replace(row, name=f"{run.name} [seed {(run.config or {}).get('seed', '?')}]")
        text = label(row) if row is not None else run.name
        entries.append((run, text))
    missing = [r for r in runs if not _has_curve(r)]
    if entries:
        regression = all(r.task == "regression" for r, _ in entries)
        series = [(text, r.metrics, colors[str(r.path)]) for r, text in entries]
        parts.append(f"<figure>{curves_svg(figs, series, regression)}</figure>")
    else:
        parts.append('<p class="none">No run recorded a finite loss, so there are no curves.</p>')
    if missing and entries:
        parts.append('<p class="meta">No curve for: ' + ", ".join(
            f'<a href="#{anchors[str(r.path)]}">{esc(r.name)}</a> ({esc(r.status)})' for r in missing) + ".</p>")

    parts.append("<h2>Runs</h2>")
    for i, run in enumerate(runs):
        parts.append(run_section(run, i, comp.metric, colors.get(str(run.path)), figs))
    parts += [f'<footer>nnlab {esc(__version__)} · self-contained: no scripts, no network.</footer>',
              "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(runs: list[Run], path, *, metric: str | None = None, group: bool = True,
                 title: str = "nnlab report", sweeps: list | None = None) -> Path:
    """Write the HTML report of ``runs`` (and ``sweeps``, see render_report) to ``path`` atomically; return the path."""
    from nnlab.errors import OutputError
    from nnlab.files import output_target

    path = Path(path)
    if path.parent.is_dir():
        output_target(path)  # a device, FIFO or folder is refused before any work
    text = render_report(runs, metric=metric, group=group, title=title, sweeps=sweeps)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    except OutputError:
        raise
    except OSError as exc:
        raise RunError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return path
