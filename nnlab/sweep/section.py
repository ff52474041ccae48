"""A sweep in the HTML report: what was searched, the best trial, the figures, the trials best first.

``SweepsPart`` is the report's part for the sweeps whose runs it shows (``sweeps_of``); nnlab.look.report
renders the page around it.
"""

from __future__ import annotations

import os
from pathlib import Path

from nnlab.look.figures import SvgFigures, is_accuracy
from nnlab.look.report import Part, Report, cell_num, esc, fmt_number, fmt_value, is_finite, status_badge
from nnlab.runs import Run
from nnlab.runs.read import holds_runs, summary_number
from nnlab.sweep.plots import short_names, sweep_svgs
from nnlab.sweep.record import rank_trials, read_sweep
from nnlab.text import setting

TRIALS_SHOWN = 50  # rows of a sweep's trials table


def sweeps_of(runs: list[Run]) -> list[Path]:
    """The sweep folders whose runs are all among ``runs``, in order of first appearance.

    That is what ``nnlab report <sweep folder>`` (or ``<sweep>/runs``) gives; a report of a few of a
    sweep's runs next to other runs gets no sweep section.
    """
    have = {os.path.realpath(r.path) for r in runs}
    out: dict = {}
    for run in runs:
        parent = run.path.parent
        key = os.path.realpath(parent.parent)
        if parent.name != "runs" or key in out or not holds_runs(parent.parent):
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
    """Trials best first: the candidates ranked, then the diverged, then the others with a value (pruned), then
    the rest by number."""
    ranked = rank_trials(sweep.trials, sweep.direction)
    done = {id(t) for t in ranked}
    sign = -1.0 if sweep.direction == "maximize" else 1.0
    rest = [t for t in sweep.trials if id(t) not in done]
    valued = sorted((t for t in rest if is_finite(t.value)),
                    key=lambda t: (t.status != "diverged", sign * t.value, t.number))
    others = [t for t in rest if not is_finite(t.value)]
    return ranked + valued + others


def _trial_status(trial) -> str:
    text = status_badge(trial.status)
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
    anchors = anchors or {}
    summary = sweep.summary
    metric = sweep.metric
    paths = list(sweep.params)
    names = short_names(paths)
    status = summary.get("status") if isinstance(summary.get("status"), str) else None
    out = [f'<section class="sweep" id="sweep-{index + 1}">',
           f"<h2>Sweep {esc(sweep.name)}{status_badge(status) if status else ''}</h2>",
           f'<p class="meta">folder: <code>{esc(sweep.path.resolve())}</code></p>']
    seeds = sweep.n_seeds
    facts = [f"method {sweep.method or '?'}", f"metric {metric} ({sweep.direction})",
             f"{len(sweep.trials)} trial{'s' if len(sweep.trials) != 1 else ''} × {seeds} seed{'s' if seeds != 1 else ''}"]
    counts = sweep.counts()
    if counts:
        facts.append("trials: " + ", ".join(f"{fmt_number(n)} {k}" for k, n in counts.items() if n))
    if is_finite(summary.get("seconds")):
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
                rows.append((f'<span title="{esc(p)}">{esc(names.get(p, p))}</span>', f"<code>{esc(setting(params[p]))}</code>"))
        text = fmt_value(value, std if is_finite(std) else None, pct=is_accuracy(metric))
        over = f" (mean over {n_values} seed{'s' if n_values != 1 else ''})" if n_values else ""
        rows.append((esc(metric), esc(text + over)))
        test = named.get("test") if isinstance(named.get("test"), dict) else {}
        acc, acc_std = summary_number(test.get("acc")), summary_number(test.get("acc_std"))
        rows.append(("test accuracy", esc(fmt_value(acc, acc_std if is_finite(acc_std) else None, pct=True))
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
                 '<th scope="col">status</th>', '<th scope="col" title="summed over the trial&#x27;s runs">seconds</th>']
        lines = ['<div class="scroll"><table class="compare trials">', "<thead><tr>" + "".join(head) + "</tr></thead>",
                 "<tbody>"]
        for t in order[:TRIALS_SHOWN]:
            link = _run_link(sweep, t, anchors)
            num = esc(t.number)
            num = f'<a href="#{link}">{num}</a>' if link else num
            cells = [f'<td class="num{" best" if best is not None and t is best else ""}">{num}</td>']
            cells += [f'<td class="set">{esc(setting(t.params[p])) if p in t.params else "–"}</td>' for p in paths]
            cells.append(cell_num(t.value, t.std, is_accuracy(metric)))
            cells.append(f'<td class="num">{len(t.values)} of {len(t.statuses)}</td>')
            cells.append(f"<td>{_trial_status(t)}</td>")
            cells.append(cell_num(t.seconds))
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</tbody></table></div>")
        out.append("\n".join(lines))
        if len(order) > TRIALS_SHOWN:
            out.append(f'<p class="meta">The best {TRIALS_SHOWN} of {len(order)} trials are shown; '
                       f"all of them are in <code>{esc(sweep.path / 'trials.csv')}</code>.</p>")
    out.append("</section>")
    return "\n".join(out)


class SweepsPart(Part):
    """The sweeps' sections for the report, before its comparison; the comparison then uses their metric."""

    def __init__(self, folders):
        self.sweeps = [read_sweep(p) for p in folders]
        metrics = {sw.metric for sw in self.sweeps}
        self.metric = metrics.pop() if len(metrics) == 1 else None

    def html(self, rep: Report) -> str:
        return "\n".join(sweep_section(sweep, i, rep.figs, rep.real_anchors) for i, sweep in enumerate(self.sweeps))
