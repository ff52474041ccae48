"""The claims gallery: per claim, its numbers over the seeds, a figure and the verdict, in markdown.

Each run's value of a claim's metric is nnlab.claims.claim_metrics' (val_acc, test_acc, epochs_to_target, ...;
a diverged run scores the worst value).

A claim with ``tune`` keeps, per variant, only the runs of the tuned value with the best mean of the
sweep's metric (validation); a ``range_test`` claim adds the variants ``range_test`` (the range test's
rate) and ``best`` (the grid rate with the best mean validation score, the range test's rate excluded).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from nnlab import files
from nnlab.claims import claim_metrics
from nnlab.claims.claim_metrics import RunData, counts_never, higher_is_better, is_percent
from nnlab.claims.run import is_finished
from nnlab.claims.verdict import RULE, Stats, judge, num
from nnlab.errors import ConfigError
from nnlab.look.figures import to_file
from nnlab.runs import read_metrics
from nnlab.runs.read import read_diagnostics
from nnlab.sweep.plots import best_curves_figure
from nnlab.text import setting

COLUMNS = ("test_acc", "first_layer_grad_ratio")  # shown beside the claim's own metric


@dataclass
class Result:
    claim: dict  # claim.json
    folder: Path
    runs: dict = field(default_factory=dict)  # variant -> list of (seed, run folder)
    values: dict = field(default_factory=dict)  # metric -> variant -> list of values (None dropped)
    curves: dict = field(default_factory=dict)  # variant -> list of metrics rows per seed
    verdict: str = ""
    lines: list = field(default_factory=list)
    chosen: dict = field(default_factory=dict)  # tune: variant -> the tuned value's label
    aliases: dict = field(default_factory=dict)  # range_test: range_test / best -> a variant

    def stats(self, metric: str) -> dict:
        out = {v: Stats.of(self.values.get(metric, {}).get(v, [])) for v in self.claim["variants"]}
        for alias, v in self.aliases.items():
            out[alias] = out.get(v, Stats.of([]))
        return out


def collect(folder) -> Result:
    """The claim of one sweep folder with every run's values, grouped by variant."""
    folder = Path(folder)
    claim = json.loads(_text(folder / "claim.json"))
    res = Result(claim, folder)
    expect = claim["expect"]
    by, tune = expect["by"], claim.get("tune")
    rows = list(csv.DictReader(io.StringIO(_text(folder / "trials.csv", files.TABLE_MAX_BYTES), newline="")))
    sweep_metric = _sweep_metric(folder)
    metrics = list(dict.fromkeys([expect["metric"], *COLUMNS, sweep_metric]))
    groups: dict = {}  # (variant, tuned value) -> Result-like parts
    for row in rows:
        variant = "+".join(row[p] for p in by)
        key = (variant, row[tune] if tune else "")
        g = groups.setdefault(key, {"runs": [], "curves": [], "values": {}})
        d = folder / "runs" / row["run"]
        g["runs"].append((int(row["seed"]), d))
        try:
            summary = json.loads(_text(d / "summary.json"))
        except (OSError, ValueError):
            continue
        hist = read_metrics(d / "metrics.csv") if (d / "metrics.csv").is_file() else []
        diag = read_diagnostics(d / "diagnostics.csv") if (d / "diagnostics.csv").is_file() else []
        g["curves"].append(hist)
        run = RunData(summary, hist, diag)
        for m in metrics:
            v = claim_metrics.value(m, run, expect)
            if v is not None:
                g["values"].setdefault(m, []).append(float(v))
    keep = {}
    for (variant, value), g in groups.items():
        if tune:
            best = keep.get(variant)
            if best is not None and not _better(g, groups[(variant, best)], sweep_metric):
                continue
            keep[variant] = value
        else:
            keep[variant] = value
    for variant, value in keep.items():
        g = groups[(variant, value)]
        res.runs[variant], res.curves[variant] = g["runs"], g["curves"]
        for m, vals in g["values"].items():
            res.values.setdefault(m, {})[variant] = vals
        if tune:
            res.chosen[variant] = value
    rt = claim.get("range_test") or {}
    if "label" in rt:
        res.aliases["range_test"] = rt["label"]
        grid = [v for v in claim["variants"] if v != rt["label"] or rt.get("in_grid")]
        ranked = [v for v in grid if v in res.runs]
        if ranked:
            best = ranked[0]
            for v in ranked[1:]:
                if _better({"values": {sweep_metric: res.values.get(sweep_metric, {}).get(v, [])}},
                           {"values": {sweep_metric: res.values.get(sweep_metric, {}).get(best, [])}}, sweep_metric):
                    best = v
            res.aliases["best"] = best
    res.verdict, res.lines = judge(expect, res.stats(expect["metric"]), higher_is_better(expect["metric"]),
                                   name=lambda v: f"{v} (lr {res.aliases[v]})" if v in res.aliases else v,
                                   scale=100.0 if is_percent(expect["metric"]) else 1.0)
    return res


def _text(path: Path, limit: int = files.CONFIG_MAX_BYTES) -> str:
    """A file of a claim's folder: a regular file of at most ``limit`` bytes (OSError otherwise, never a wait
    on a FIFO), UTF-8 (UnicodeDecodeError, a ValueError, otherwise)."""
    return files.read_text_bounded(path, limit, f"a claim folder's {path.name}")


def _sweep_metric(folder: Path) -> str:
    """The metric the claim's sweep chooses by (sweep.yaml), val_acc when unreadable."""
    import yaml

    try:
        m = (files.yaml_load_bounded(_text(folder / "sweep.yaml")) or {}).get("metric")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        m = None
    return m if m in claim_metrics.metrics else "val_acc"


def _better(a: dict, b: dict, metric: str) -> bool:
    """Whether group a's mean of ``metric`` beats b's (a group without values never does)."""
    sa, sb = Stats.of(a["values"].get(metric, [])), Stats.of(b["values"].get(metric, []))
    if sa.n == 0 or math.isnan(sa.mean):
        return False
    if sb.n == 0 or math.isnan(sb.mean):
        return True
    return sa.mean > sb.mean if higher_is_better(metric) else sa.mean < sb.mean


def find(out, ids: set | None = None) -> tuple[list[Path], list[str]]:
    """Per claim id in ``out`` (those in ``ids`` only, when given), its finished full sweep folder, else its
    finished quick one; notes on the rest."""
    out = Path(out)
    by_id: dict = {}
    notes = []
    for d in sorted(p for p in out.iterdir() if p.is_dir() and (p / "claim.json").is_file()):
        try:
            cid = json.loads(_text(d / "claim.json"))["id"]
        except (OSError, ValueError, KeyError, TypeError):
            notes.append(f"{d}: unreadable claim.json; skipped")
            continue
        if ids is not None and cid not in ids:
            notes.append(f"{d}: claim {cid} has no file in the claims folder any more; skipped")
            continue
        if not is_finished(d):
            notes.append(f"{d}: not finished (nnlab claims run continues it); skipped")
            continue
        if cid not in by_id or d.name.endswith("-full"):
            by_id[cid] = d
    return [by_id[k] for k in sorted(by_id)], notes




def pct(x) -> str:
    """An accuracy in percent to 1 decimal, as the CLI shows it."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return num(x)
    return f"{100 * x:.1f}%"


def _pm(s: Stats, values: list | None = None, percent: bool = False) -> str:
    if s.n == 0:
        return "n/a"
    if percent:
        return pct(s.mean) + (f" ± {100 * s.std:.1f}" if s.n > 1 and math.isfinite(s.std) else "")
    never = sum(1 for v in values or () if math.isinf(v))
    if never:
        reached = [v for v in values if not math.isinf(v)]
        return f"{never} of {s.n} never" + (f" (the rest {_pm(Stats.of(reached))})" if reached else "")
    return num(s.mean) + (f" ± {num(s.std)}" if s.n > 1 else "")


def expected_text(e: dict) -> str:
    m = claim_metrics.label(e["metric"], e)
    word = " (lower is better)" if not higher_is_better(e["metric"]) else ""
    if "order" in e:
        return f"{m}{word}: " + " better than ".join(e["order"]) if word else f"{m}: " + " > ".join(e["order"])
    if "better" in e:
        better = e["better"] if isinstance(e["better"], list) else [e["better"]]
        if len(better) > 1:
            return f"{m}: each of {', '.join(better)} better than {e['than']}{word}"
        return f"{m}: {better[0]} better than {e['than']}{word}" if word else f"{m}: {better[0]} > {e['than']}"
    if "same" in e:
        tol = f"{num(100 * e['within'])} points" if is_percent(e["metric"]) else num(e["within"])
        return f"{m}: {e['same'][0]} the same as {e['same'][1]}, within {tol}"
    side = "below" if "below" in e else "above"
    return f"{m} {side} {pct(e[side]) if is_percent(e['metric']) else num(e[side])} for {e['for']}"


def _factor(suggested: float, best) -> str:
    try:
        f = float(best) / suggested
    except (TypeError, ValueError, ZeroDivisionError):
        return ""
    return f", {num(f)} times the range test's rate" if f >= 1 else f", {num(1 / f)} times below the range test's rate"


def _tuned_values(r: Result) -> list[str]:
    import yaml

    try:
        sweep = files.yaml_load_bounded(_text(r.folder / "sweep.yaml"))
        p = sweep["params"][r.claim["tune"]]
        values = p["choices"] if isinstance(p, dict) else p
        return [setting(v) for v in values]
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
        return sorted(set(r.chosen.values()))


def _fill(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 80, break_long_words=False, break_on_hyphens=False)


def curves_metric(metric: str) -> str:
    return "val_loss" if metric.endswith("loss") else "val_acc"


def figure(res: Result, path: Path):
    m = curves_metric(res.claim["expect"]["metric"])
    curves = [(v, res.curves.get(v, [])) for v in res.claim["variants"]]
    made = best_curves_figure(curves, m, title=f"{res.claim['id']}: {m} per variant (mean over seeds, "
                                               "band: min–max)")
    if made is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file(made[0], path)
    return path


INTRO = ("Each claim of the course notes, run as a sweep over its variants with several seeds "
         "(`nnlab claims run`), and judged by a stated rule (`nnlab claims report`). Accuracies are in "
         "percent, and their differences (d, 2·se) in percentage points.")


@dataclass
class Parts:
    """One claim's section, format-free: markdown() and nnlab.claims.html render it."""
    id: str
    title: str
    quote: str
    source: str  # may hold `code` spans
    expected: str
    notes: list  # paragraphs (tuned values, the range test)
    header: list  # table header cells
    rows: list  # table rows (cells)
    verdict: str
    lines: list  # one per compared pair or threshold


def parts(r: Result) -> Parts:
    c, e = r.claim, r.claim["expect"]
    m = e["metric"]
    cols = [m, *(x for x in COLUMNS if x != m)]
    tune = c.get("tune")
    notes = []
    grid = _tuned_values(r) if tune else []
    edge = {v for v, x in r.chosen.items() if len(grid) > 2 and x in (grid[0], grid[-1])}
    if tune:
        notes.append(f"Each variant at its own best {tune} (of {', '.join(grid)}): the value whose runs score best "
                     "on the validation data, mean over the seeds; the test set plays no part in the choice."
                     + (" A value marked (edge) is the grid's first or last: the best may lie beyond it."
                        if edge else ""))
    rt = c.get("range_test") or {}
    if "label" in rt:
        notes.append(f"The learning-rate range test ({num(rt['start'])} to {num(rt['end'])} in {rt['steps']} steps, "
                     f"on the base config) recommends lr {rt['label']} ({rt.get('rule', 'valley')}; "
                     f"{rt.get('stopped', '')}). The grid's best rate on the validation data is "
                     f"{r.aliases.get('best', 'n/a')}{_factor(rt['suggested'], r.aliases.get('best'))}.")
    header = ["variant", *([f"{tune} chosen"] if tune else []), *(f"{claim_metrics.label(x, e)} (mean ± std)" for x in cols), "n"]
    marks: dict = {}
    for alias, v in r.aliases.items():
        marks.setdefault(v, []).append("range test" if alias == "range_test" else "grid best")
    rows = []
    for v in c["variants"]:
        vals = [r.values.get(x, {}).get(v, []) for x in cols]
        st = [Stats.of(x) for x in vals]
        label = v + (f" ({', '.join(marks[v])})" if v in marks else "")
        chosen = [r.chosen.get(v, "n/a") + (" (edge)" if v in edge else "")] if tune else []
        rows.append([label, *chosen, *(_pm(s, x if counts_never(col) else None, is_percent(col))
                                       for s, x, col in zip(st, vals, cols)), str(st[0].n)])
    return Parts(id=c["id"], title=c["title"], quote=c["quote"],
                 source=(f"Source: note `{c['note']}`, section \"{c['section']}\"; claim file `{_relative(c['file'])}`; "
                         f"{c['mode']} run in `{r.folder.name}`."),
                 expected=f"Expected: {expected_text(e)} (by {' + '.join(e['by'])}).", notes=notes, header=header,
                 rows=rows, verdict=r.verdict, lines=list(r.lines))


def _relative(path: str) -> str:
    """A claim file's path as the page shows it: relative to the working folder when inside it, so a page
    generated in the repository names repository paths, never the machine's."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def seeds_of(r: Result) -> int:
    return max((len(s) for s in r.runs.values()), default=0)


def md_text(text: str) -> str:
    """Text from a claim file for a markdown page: shown as written, never as HTML ('<b>' stays '<b>')."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def missing_runs(r: Result) -> str:
    """What the page must say when a variant has fewer runs than the claim's seeds (a run folder deleted or
    damaged after the sweep finished): '' when none is missing."""
    try:
        seeds = len(yaml_seeds(r.folder))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    short = {v: len(r.values.get(r.claim["expect"]["metric"], {}).get(v, [])) for v in r.claim["variants"]}
    short = {v: n for v, n in short.items() if n < seeds}
    if not short:
        return ""
    return (f"{', '.join(f'{v}: n = {n}' for v, n in short.items())} of the {seeds} seeds (runs missing or "
            f"unreadable in {r.folder.name}); nnlab claims run resumes them")


def yaml_seeds(folder: Path) -> list:
    return files.yaml_load_bounded(_text(folder / "sweep.yaml"))["seeds"]


def markdown(results: list[Result], md_path: Path, figures: bool = True) -> str:
    lines = ["# Claims gallery", "", _fill(INTRO), "", _fill(f"**Verdict rule.** {RULE}"), "",
             "| claim | expected | seeds | verdict |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.claim['id']}](#{r.claim['id']}) | {expected_text(r.claim['expect'])} | {seeds_of(r)} "
                     f"({r.claim['mode']}) | {r.verdict} |")
    for r in results:
        p = parts(r)
        lines += ["", f"## {p.id}", "", f"**{md_text(p.title)}**", "", f"> {md_text(p.quote)}", "", _fill(p.source),
                  "", _fill(p.expected), ""]
        short = missing_runs(r)
        if short:
            lines += [_fill(f"**Warning:** {short}"), ""]
        for note in p.notes:
            lines += [_fill(note), ""]
        lines += ["| " + " | ".join(p.header) + " |", "|" + "---|" * len(p.header)]
        lines += ["| " + " | ".join(row) + " |" for row in p.rows]
        if figures:
            png = md_path.parent / md_path.stem / f"{p.id}.png"
            if figure(r, png) is not None:
                lines += ["", f"![{p.id}: validation curves per variant]({md_path.stem}/{p.id}.png)"]
        lines += ["", f"**Verdict: {p.verdict}.**", ""] + [f"- {ln}" for ln in p.lines]
    return "\n".join(lines) + "\n"


def read_results(out, ids: set | None = None, option: str = "--out") -> tuple[list[Result], list[str]]:
    """Every finished claim in the folder ``out`` (see find), collected; ConfigError when there is none."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"{option} {out}: no such folder; run nnlab claims run --out {out} first")
    folders, notes = find(out, ids)
    if not folders:
        if ids is not None and notes and all("no file in the claims folder" in n for n in notes):
            raise ConfigError(f"{option} {out}: none of its claim sweeps is one of the claims with a file in "
                              f"--claims-dir ({len(ids)} there); name the folder they were run from")
        raise ConfigError(f"{option} {out}: no finished claim sweeps; run nnlab claims run --out {out} first")
    results = []
    for f in folders:
        try:
            results.append(collect(f))
        except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:  # a damaged or replaced file
            reason = str(exc) if isinstance(exc, OSError) and str(exc).startswith(str(f)) else type(exc).__name__
            notes.append(f"{f}: unreadable ({reason}); skipped")
    if not results:
        raise ConfigError(f"{option} {out}: no readable claim sweeps ({'; '.join(notes)})")
    return results, notes
