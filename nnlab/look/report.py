"""One self-contained HTML report of some runs, laid out like a paper's results section.

``write_report(runs, path)`` writes a single HTML5 file that needs nothing else:
no network, no JavaScript, no image files.  The plots are nnlab.look.figures
saved as SVG and embedded inline (text kept as text, ids prefixed per figure so
figures cannot clash), the CSS sits in a <style> element, and everything that
comes from a run folder (names, messages, config text) is HTML-escaped.

The report is a list of sections (``SECTIONS``), each a function of one
``Report`` (the runs, their comparison, the curves drawn, the figures made so
far) that returns its HTML; adding a section is adding a function to that list.
In order: a header (title, date, nnlab version, how many runs); one section per
sweep folder (what was searched, the best trial, its parameter figures, the
trials best first); the comparison table of nnlab.runs.compare (one row per run
or per group of seeds as mean ± std; the settings that differ in one column,
grouped by component, so the table fits the page); the overlaid curves, one per
table row (a group of seeds as its mean with a band of ± one std), at most
``CURVES_SHOWN`` of them, the best by the metric, the others counted in a line;
then one section per run with its folder, status, message, diagnosis, results,
per-layer gradient norms and config.  Accuracies are percentages everywhere, as
in the CLI.

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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nnlab.version import __version__
from nnlab.errors import OutputError, RunError
from nnlab.files import CONFIG_MAX_BYTES, output_target, read_text_bounded
from nnlab.look.figures import (CURVES_SHOWN, SvgFigures, curves_svg, distinct_labels, gradnorm_svg, is_accuracy,
                                run_colors, top_series)
from nnlab.metrics import METRICS
from nnlab.runs import Run, atomic_write
from nnlab.runs.compare import Comparison, Row, compare, run_values
from nnlab.runs.diagnosis import diagnose
from nnlab.text import mean_std, number, setting

# the comparison table's numeric columns: (Row.values key, header); no two headers alike
TABLE_COLUMNS = (
    ("best", None),  # header filled in with the metric's name
    ("best_epoch", "epoch of best"),
    ("final_train_loss", "final train loss"),
    ("final_val_loss", "final val loss"),
    ("test_acc", "test acc"),
    ("test_loss", "test loss"),
    ("epochs", "epochs trained"),
    ("seconds", "train seconds"),
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
    """How the report writes a number: ints as they are, floats to 4 significant digits (nnlab.text)."""
    return number(v, missing="–")


def fmt_value(v, std=None, pct: bool = False) -> str:
    """A table cell's text: the number (a percentage for an accuracy), and ``± std`` for groups of seeds
    (in percentage points for an accuracy), as the CLI writes it (nnlab.text.mean_std)."""
    return mean_std(v, std, pct=pct, missing="–")


def fmt_setting(v) -> str:
    """A setting as the report shows it: nnlab.text.setting, '–' where a run has none."""
    return "–" if v is None else setting(v)


def is_finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def percent_column(col: str, metric: str) -> bool:
    """Whether a comparison column holds an accuracy (shown in percent): test acc, and best for an *_acc metric."""
    return col == "test_acc" or (col == "best" and is_accuracy(metric))


def column_headers(metric: str) -> list[str]:
    """The numeric columns' headers, in TABLE_COLUMNS order."""
    return [f"best {metric}" if col == "best" else text for col, text in TABLE_COLUMNS]


# ------------------------------------------------------------------ settings, grouped by component

# the components that usually explain a difference first; then the rest in key order
_COMPONENT_ORDER = ("train.optimizer", "train.schedule", "model", "train", "seed", "data")


def _component(key: str, keys: set) -> tuple[str, str | None]:
    """(component, option) of a dotted key: 'train.optimizer.lr' -> ('train.optimizer', 'lr');
    'train.optimizer.name' -> ('train.optimizer', None), the component's name; 'model.batch_norm',
    when other keys are its options, -> ('model.batch_norm', None); 'model.hidden' -> ('model', 'hidden');
    'seed' -> ('', 'seed')."""
    parts = key.split(".")
    if parts[-1] == "name" and len(parts) > 1:
        return ".".join(parts[:-1]), None
    if any(k.startswith(key + ".") for k in keys):
        return key, None
    return ".".join(parts[:-1]), parts[-1]


def _component_rank(component: str) -> tuple:
    for i, prefix in enumerate(_COMPONENT_ORDER):
        if component == prefix or component.startswith(prefix + "."):
            return (i, component)
    return (len(_COMPONENT_ORDER), component)


def settings_groups(settings: dict) -> list[tuple[str, list[str]]]:
    """A row's differing settings grouped by component, in a reading order: [('optimizer', ['adam',
    'lr=0.001']), ('batch_norm', ['momentum=0.9']), ('', ['seed=3'])].

    A component's name comes first, then its options; a setting a run does not have (an option of a
    component it does not use) is left out; a component switched off shows its value (false, none).
    """
    keys = set(settings)
    groups: dict[str, list[tuple[int, str]]] = {}
    for key in sorted(settings):
        v = settings[key]
        comp, option = _component(key, keys)
        if option is None:
            if v is None and any(settings.get(k) is not None for k in keys if k.startswith(key + ".")):
                continue  # a component with options: the options say it is on
            text = "none" if v is None else fmt_setting(v)
            groups.setdefault(comp, []).insert(0, (0, text))
        elif v is not None:
            groups.setdefault(comp, []).append((1, f"{option}={fmt_setting(v)}"))
    out = []
    for comp in sorted(groups, key=_component_rank):
        name = comp.rsplit(".", 1)[-1]
        out.append((name, [text for _, text in sorted(groups[comp], key=lambda t: t[0])]))
    return out


def _value_key(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def common_settings(rows: list[Row], has_config=lambda row: True) -> dict:
    """The value of each differing key that most rows share: key -> value, for the keys where one value
    is held by more than half of the rows, and at least two (rows without a config left out).

    A row then shows only where it departs from these (``departures``), and the common values are
    stated once above the table: fourteen configs that each change one or two things read as such.
    """
    rows = [r for r in rows if has_config(r)]
    out = {}
    for key in dict.fromkeys(k for r in rows for k in r.settings):
        counts: dict = {}
        for r in rows:
            v = r.settings.get(key)
            counts.setdefault(_value_key(v), [0, v])[0] += 1
        top, value = max(counts.values(), key=lambda c: c[0])
        if top >= 2 and 2 * top > len(rows):
            out[key] = value
    return out


def departures(settings: dict, common: dict) -> dict:
    """A row's settings less those equal to the common value."""
    return {k: v for k, v in settings.items() if k not in common or _value_key(v) != _value_key(common[k])}


def settings_text(settings: dict) -> str:
    """The grouped settings on one line: 'optimizer: adam lr=0.001 · batch_norm: momentum=0.9 · seed=3'."""
    return " · ".join((f"{name}: " if name else "") + " ".join(texts) for name, texts in settings_groups(settings))


# ------------------------------------------------------------------ HTML pieces

CSS = """
:root { color-scheme: light; --fg: #1d2125; --muted: #5f6b76; --line: #c9d0d6; --head: #eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 16px 48px; color: var(--fg); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 2px 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
            font-size: 0.88em; }
code { overflow-wrap: anywhere; }
pre { background: #f6f8fa; border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px;
      overflow-x: auto; line-height: 1.35; margin: 6px 0; }
.scroll { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
th { background: var(--head); text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.compare { font-size: 0.82em; width: 100%; }
table.compare th { vertical-align: bottom; }
table.compare th.num { text-align: right; }
table.compare th, table.compare td { padding: 3px 6px; }
table.compare .status { font-size: 0.8em; padding: 0 5px; }
table.compare td.set { min-width: 12em; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
                       font-size: 0.9em; overflow-wrap: anywhere; }
table.compare td.set .grp { display: block; padding-left: 1.2em; text-indent: -1.2em; }
table.compare td.set .comp { color: var(--muted); }
table.compare td.run { min-width: 11em; max-width: 22em; overflow-wrap: anywhere; position: relative;
                       padding-left: 22px; }
table.compare td.run .swatch { position: absolute; left: 6px; top: 0.45em; }
p.common { margin: 6px 0; }
p.common code { font-size: 0.82em; }
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
h2 { overflow-wrap: anywhere; }
figure { margin: 10px 0; }
figcaption { color: var(--muted); font-size: 0.9em; margin: 4px 0; }
p.more { font-weight: 600; margin: 4px 0; }
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
table.trials { width: auto; max-width: 100%; }
table.trials td.best { font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; }
@media print { h2 { break-before: auto; } .run { break-inside: avoid-page; } }
"""


def status_badge(status: str) -> str:
    cls = status if status in ("completed", "diverged", "pruned", "failed", "crashed", "interrupted", "running",
                               "incomplete", "queued") else "mixed"
    return f'<span class="status st-{cls}">{esc(status)}</span>'


def cell_num(v, std=None, pct: bool = False) -> str:
    """A number cell (a percentage when ``pct``); a group's ``± std`` goes on its own line (the cell's
    text is still fmt_value's)."""
    if v is None:
        return '<td class="num none">–</td>'
    text = fmt_value(v, None, pct)
    if std is not None:
        pm = fmt_value(v, std, pct)[len(text):].strip()
        if pm:
            return f'<td class="num">{esc(text)} <span class="pm">{esc(pm)}</span></td>'
    return f'<td class="num">{esc(text)}</td>'


def _setting_html(v) -> str:
    """A setting's value: lists and mappings may wrap after their commas."""
    text = fmt_setting(v)
    return "<wbr>".join(esc(part) for part in re.split(r"(?<=,)", text))


def _settings_cell(row: Row, has_config: bool, common: dict) -> str:
    if not has_config:
        return '<td class="set none">no config</td>'
    groups = settings_groups(departures(row.settings, common))
    if not groups:
        return '<td class="set none">as above</td>' if common else '<td class="set none">–</td>'
    lines = []
    for name, texts in groups:
        comp = f'<span class="comp">{esc(name)}:</span> ' if name else ""
        lines.append(f'<span class="grp">{comp}{" ".join(_option_html(t) for t in texts)}</span>')
    return f'<td class="set">{" ".join(lines)}</td>'


def _name_html(name: str) -> str:
    """A run name that a narrow column breaks after its '_', '-' and '.' before it breaks inside a word
    (spiral_batchnorm_<wbr>dropout_<wbr>...)."""
    return "<wbr>".join(esc(part) for part in re.split(r"(?<=[_.-])(?=.)", name))


def _option_html(text: str) -> str:
    return "<wbr>".join(esc(part) for part in re.split(r"(?<=,)", text))


def _anchor(i: int) -> str:
    return f"run-{i + 1}"


def _swatch(color: str | None) -> str:
    return f'<span class="swatch" style="background:{color}"></span>' if color else ""


def comparison_table(comp: Comparison, anchors: dict, colors: dict, runs: dict | None = None,
                     common: dict | None = None) -> str:
    """The comparison table: run, status, the differing settings grouped by component in one column
    (it wraps, so the table fits the page however many keys differ), then the numbers.

    ``anchors``: run folder -> the id of its section; ``colors``: run folder -> the colour of its curve
    (a row whose curve is drawn gets a swatch); ``runs``: run folder -> Run (a row without a config says
    so); ``common``: the settings most rows share (common_settings), left out of the rows that have them.
    """
    runs = runs or {}
    common = common or {}
    head = ['<th scope="col">run</th>', '<th scope="col">status</th>']
    if comp.keys:
        head.append('<th scope="col" title="the config keys whose values differ between the runs: '
                    + esc(", ".join(comp.keys)) + '">settings that differ</th>')
    head += [f'<th scope="col" class="num">{esc(text)}</th>' for text in column_headers(comp.metric)]
    lines = ['<div class="scroll"><table class="compare" id="comparison">',
             "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>"]
    for row in comp.rows:
        first = row.runs[0] if row.runs else ""
        color = next((colors[p] for p in row.runs if p in colors), None)
        name = _name_html(row.name)
        if first in anchors:
            name = f'<a href="#{anchors[first]}">{name}</a>'
        cells = [f'<td class="run">{_swatch(color)}{name}</td>', f"<td>{status_badge(row.status)}</td>"]
        if comp.keys:
            run = runs.get(first)
            cells.append(_settings_cell(row, run is None or bool(run.config), common))
        for col, _ in TABLE_COLUMNS:
            cells.append(cell_num(row.values.get(col), row.spread.get(col), percent_column(col, comp.metric)))
        lines.append(("<tr class=\"drawn\">" if color else "<tr>") + "".join(cells) + "</tr>")
    lines += ["</tbody></table></div>"]
    return "\n".join(lines)


def _config_text(run: Run) -> str | None:
    try:  # as written (comments included); a FIFO or an oversized file is refused, not waited on
        return read_text_bounded(run.path / "config.yaml", CONFIG_MAX_BYTES, "a run's config.yaml")
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
    rows = [("status", status_badge(run.status))]
    epochs = fmt_number(vals["epochs"]) + (f" of {fmt_number(planned)}" if isinstance(planned, int) else "")
    rows.append(("epochs trained", esc(epochs)))
    if vals["best"] is not None:
        best = f"{fmt_value(vals['best'], pct=is_accuracy(metric))} (epoch {fmt_number(vals['best_epoch'])})"
        rows.append((f"best {metric}", esc(best)))
    classification = run.task == "classification"
    for key, text in (("train_loss", "final train loss"), ("train_acc", "final train acc"),
                      ("val_loss", "final val loss"), ("val_acc", "final val acc")):
        if key.endswith("acc") and not classification:
            continue
        if last.get(key) is not None or key.endswith("loss"):
            rows.append((text, esc(fmt_value(last.get(key), pct=is_accuracy(key)))))
    rows.append(("test loss", esc(fmt_number(test.get("loss")))))
    if classification:
        rows.append(("test acc", esc(fmt_value(test.get("acc"), pct=True))))
    if run.summary.get("stopped_early"):
        restored = run.summary.get("restored_epoch")
        rows.append(("stopped early", "yes" + (f", the weights of epoch {esc(restored)} restored" if restored else "")))
    secs = vals["seconds"]
    rows.append(("train seconds", esc(fmt_number(secs))))
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


GRADS_ALL = 40  # a report of more runs draws the gradient norms of only some of them (grads_drawn)


def run_section(run: Run, index: int, metric: str, color: str | None, figs: SvgFigures, grads: bool = True) -> str:
    """A run's section; ``grads``: whether to draw its gradient norms (else a line says where they are)."""
    out = [f'<section class="run" id="{_anchor(index)}">']
    out.append(f"<h2>{_swatch(color)}{esc(run.name)}{status_badge(run.status)}</h2>")
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
    svg = gradnorm_svg(figs, run.diagnostics, run.name) if run.diagnostics and grads else None
    if svg:
        left.append(f'<figure class="grad"><h3>Gradient norms</h3>{svg}</figure>')
    elif run.diagnostics and not grads:
        left.append(f'<h3>Gradient norms</h3><p class="none">Not drawn in a report of more than {GRADS_ALL} runs '
                    "(only for the first run of each row whose curve is drawn, and for runs that did not "
                    "complete): see diagnostics.png in the run's folder.</p>")
    text = _config_text(run)
    if text is not None:
        right = f'<h3>Resolved config</h3><pre class="config">{esc(text.rstrip())}</pre>'
    else:
        right = '<h3>Resolved config</h3><p class="none">No config.yaml in this folder.</p>'
    out.append(f'<div class="cols"><div class="left">{"".join(left)}</div><div class="right">{right}</div></div>')
    out.append("</section>")
    return "\n".join(out)


# ------------------------------------------------------------------ a sweep's section

# ------------------------------------------------------------------ the report


def _has_curve(run: Run) -> bool:
    return any(is_finite(r.get("train_loss")) or is_finite(r.get("val_loss")) for r in run.metrics)


@dataclass
class Curve:
    """One overlaid curve: a row of the comparison (one run, or a group of seeds drawn as mean and band)."""

    row: Row
    runs: list  # the row's runs that recorded a curve
    label: str = ""
    color: str = ""


@dataclass
class Report:
    """What every section of the report may use; built once by ``build_report``."""

    runs: list
    comp: Comparison
    figs: SvgFigures
    title: str
    now: datetime
    anchors: dict  # run folder (as given) -> the id of its section
    real_anchors: dict  # real path of a run folder -> the id of its section
    by_path: dict  # run folder -> Run
    common: dict = field(default_factory=dict)  # the settings most rows share (common_settings)
    curves: list = field(default_factory=list)  # the Curves drawn, in table order
    left: list = field(default_factory=list)  # the Curves not drawn (over the cap)
    colors: dict = field(default_factory=dict)  # run folder -> the colour of its drawn curve


LABEL_CHARS = 100  # a legend label's settings are cut after about this many characters


def legend_label(row: Row, common: dict | None = None, chars: int | None = LABEL_CHARS) -> str:
    """A curve's legend label: the row's name and its settings that differ (from ``common``), as the table
    shows them ('adam (3 seeds): optimizer: adam lr=0.001 · model: hidden=[64]'); cut after ``chars``."""
    text = settings_text(departures(row.settings, common or {}))
    if chars is not None and len(text) > chars:
        text = text[:chars].rsplit(" ", 1)[0] + " …"
    return f"{row.name}: {text}" if text else row.name


def legend_labels(rows: list[Row], common: dict | None = None) -> list[str]:
    """One legend label per row, all different: legend_label; where two are still alike, with all their
    differing settings, then with the folder's name."""
    labels = [legend_label(row, common) for row in rows]
    for i, text in enumerate(labels):
        if labels.count(text) > 1:
            labels[i] = legend_label(rows[i], None, None)
    for i, text in enumerate(labels):
        if labels.count(text) > 1 and rows[i].runs:
            labels[i] = f"{text} [{Path(rows[i].runs[0]).name}]"
    return distinct_labels(labels)


def choose_curves(comp: Comparison, by_path: dict, cap: int = CURVES_SHOWN) -> tuple[list, list]:
    """(drawn, left out): one Curve per table row with a curve; at most ``cap`` drawn, the best by the
    table's best-metric column (None last), kept in table order."""
    curves = []
    for row in comp.rows:
        members = [by_path[p] for p in row.runs if p in by_path and _has_curve(by_path[p])]
        if members:
            curves.append(Curve(row=row, runs=members))
    keep = set(top_series([c.row.values.get("best") for c in curves], cap, maximize=is_accuracy(comp.metric))) \
        if cap and len(curves) > cap else set(range(len(curves)))
    drawn = [c for i, c in enumerate(curves) if i in keep]
    left = [c for i, c in enumerate(curves) if i not in keep]
    # the labels name what differs among the curves drawn (the table's common values may not be theirs)
    with_config = [c.row for c in drawn if all(r.config for r in c.runs)]
    for c, text in zip(drawn, legend_labels([c.row for c in drawn], common_settings(with_config))):
        c.label = text
    for c, color in zip(drawn, run_colors(list(range(len(drawn)))).values()):
        c.color = color
    return drawn, left


def build_report(runs: list[Run], *, metric: str | None = None, group: bool = True, title: str = "nnlab report",
                 now: datetime | None = None, curves: int = CURVES_SHOWN) -> Report:
    """Read what the sections need: the comparison, which curves are drawn and their colours."""
    runs = list(runs)
    comp = compare(runs, metric=metric, group=group)
    by_path = {str(r.path): r for r in runs}
    rep = Report(runs=runs, comp=comp, figs=SvgFigures(), title=title, now=now or datetime.now(),
                 anchors={str(r.path): _anchor(i) for i, r in enumerate(runs)},
                 real_anchors={os.path.realpath(r.path): _anchor(i) for i, r in enumerate(runs)}, by_path=by_path)
    rep.common = common_settings(comp.rows, lambda row: not row.runs or row.runs[0] not in by_path
                                 or bool(by_path[row.runs[0]].config))
    rep.curves, rep.left = choose_curves(comp, by_path, curves)
    rep.colors = {str(r.path): c.color for c in rep.curves for r in c.runs}
    return rep


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def header_section(rep: Report) -> str:
    n_rows = len(rep.comp.rows)
    counts = _plural(len(rep.runs), "run")
    if n_rows != len(rep.runs):
        counts += f" in {n_rows} rows (completed runs whose configs differ only in the seed are grouped: mean ± std)"
    direction = "highest" if is_accuracy(rep.comp.metric) else "lowest"
    return "\n".join(["<header>", f"<h1>{esc(rep.title)}</h1>",
                      f'<p class="meta">Generated {esc(rep.now.strftime("%Y-%m-%d %H:%M:%S"))} by nnlab '
                      f"{esc(__version__)} · {esc(counts)} · best = {direction} {esc(rep.comp.metric)}</p>",
                      "</header>"])


def comparison_section(rep: Report) -> str:
    comp = rep.comp
    out = ['<section class="comparison">', "<h2>Comparison</h2>"]
    if not comp.rows:
        out.append('<p class="none">No runs.</p>')
    else:
        text = "One row per run"
        if len(comp.rows) != len(rep.runs):
            text += (", or per group of runs that differ only in the seed (mean ± standard deviation over the "
                     "seeds; for accuracies in percentage points)")
        text += ". Accuracies in percent."
        if comp.keys:
            text += " Settings: the config keys whose values differ between the runs, by component"
            text += "; a row shows those where it departs from the common values below." if rep.common else "."
        if rep.curves:
            text += " A swatch marks a row whose curve is drawn below."
        out.append(f'<p class="meta">{esc(text)}</p>')
        if rep.common:
            out.append(f'<p class="common">Common values: <code>{esc(settings_text(rep.common))}</code></p>')
        out.append(comparison_table(comp, rep.anchors, rep.colors, rep.by_path, rep.common))
    out.append("</section>")
    return "\n".join(out)


def curves_section(rep: Report) -> str:
    out = ['<section class="curves">', "<h2>Curves</h2>"]
    metric = rep.comp.metric
    if rep.curves:
        regression = all(r.task == "regression" for c in rep.curves for r in c.runs)
        series = [(c.label, [r.metrics for r in c.runs], c.color) for c in rep.curves]
        caption = "One curve per row of the table"
        if any(len(c.runs) > 1 for c in rep.curves):
            caption += ("; a group of seeds is drawn as the mean over its seeds with a band of ± one standard "
                        "deviation, as in the table")
        out.append(f"<figure>{curves_svg(rep.figs, series, regression)}<figcaption>{esc(caption)}.</figcaption>"
                   "</figure>")
        if rep.left:
            n_runs = sum(len(c.runs) for c in rep.left)
            rows = f" in {_plural(len(rep.left), 'row')}" if len(rep.left) != n_runs else ""
            out.append(f'<p class="more">and {esc(_plural(n_runs, "more run"))}{esc(rows)} not drawn, see the '
                       f'<a href="#comparison">table</a>: the {len(rep.curves)} best rows by best {esc(metric)} '
                       f"are drawn.</p>")
    else:
        out.append('<p class="none">No run recorded a finite loss, so there are no curves.</p>')
    missing = [r for r in rep.runs if not _has_curve(r)]
    if missing and rep.curves:
        out.append('<p class="meta">No curve for: ' + ", ".join(
            f'<a href="#{rep.anchors[str(r.path)]}">{esc(r.name)}</a> ({esc(r.status)})' for r in missing) + ".</p>")
    out.append("</section>")
    return "\n".join(out)


def grads_drawn(rep: Report) -> set | None:
    """The run folders whose gradient norms are drawn: all (None) up to GRADS_ALL runs; beyond, the first
    run of each drawn curve's row and the runs that did not complete (each figure costs a fraction of a
    second and tens of kilobytes)."""
    if len(rep.runs) <= GRADS_ALL:
        return None
    return {c.row.runs[0] for c in rep.curves if c.row.runs} | {
        str(r.path) for r in rep.runs if r.status != "completed"}


def runs_section(rep: Report) -> str:
    parts = ["<h2>Runs</h2>"]
    drawn = grads_drawn(rep)
    for i, run in enumerate(rep.runs):
        parts.append(run_section(run, i, rep.comp.metric, rep.colors.get(str(run.path)), rep.figs,
                                 grads=drawn is None or str(run.path) in drawn))
    return "\n".join(parts)


# the report's own sections, in order: each takes the Report and returns its HTML ("" for nothing); the
# parts a caller adds (a sweep's, the claims gallery: nnlab.sweep.section, nnlab.claims.html) go after the header
SECTIONS = (header_section, comparison_section, curves_section, runs_section)


class Part:
    """A section another layer adds to the report (nnlab.sweep.section's sweeps, nnlab.claims.html's gallery): its
    HTML for a Report, the style it needs, and the metric it would have the comparison use (None: no wish)."""

    css = ""
    metric: str | None = None

    def html(self, rep: Report) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def render_report(runs: list[Run], *, metric: str | None = None, group: bool = True,
                  title: str = "nnlab report", now: datetime | None = None, curves: int = CURVES_SHOWN,
                  sections=SECTIONS, parts: list | None = None) -> str:
    """The report's HTML text (``write_report`` writes it).

    ``curves``: at most this many curves overlaid (0: all).  ``sections``: the functions that write the
    report's own sections, in order (SECTIONS).  ``parts``: sections of other layers (Part), after the
    header; without ``metric``, the comparison uses the parts' metric when they name one; a report of
    parts alone (no runs) has only the header and the parts.
    """
    parts = list(parts or [])
    wished = {p.metric for p in parts if p.metric in METRICS}
    if metric is None and len(wished) == 1:
        metric = wished.pop()
    rep = build_report(runs, metric=metric, group=group, title=title, now=now, curves=curves)
    own = [s for s in sections if s is header_section] if parts and not rep.runs else list(sections)
    head = [s for s in own if s is header_section]
    body = [s for s in own if s is not header_section]
    css = "".join(dict.fromkeys(p.css for p in parts))
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f'<meta name="generator" content="nnlab {esc(__version__)}">',
           f"<title>{esc(title)}</title>", f"<style>{CSS}{css}</style>", "</head>", "<body>", "<main>"]
    out += [html_text for section in head if (html_text := section(rep))]
    out += [html_text for p in parts if (html_text := p.html(rep))]
    out += [html_text for section in body if (html_text := section(rep))]
    out += [f'<footer>nnlab {esc(__version__)} · self-contained: no scripts, no network.</footer>',
            "</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def write_report(runs: list[Run], path, *, metric: str | None = None, group: bool = True,
                 title: str = "nnlab report", curves: int = CURVES_SHOWN, parts: list | None = None) -> Path:
    """Write the HTML report of ``runs`` (and ``parts``, see render_report) to ``path`` atomically; return the path."""
    path = Path(path)
    if path.parent.is_dir():
        output_target(path)  # a device, FIFO or folder is refused before any work
    text = render_report(runs, metric=metric, group=group, title=title, curves=curves, parts=parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
    except OutputError:
        raise
    except OSError as exc:
        raise RunError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return path
