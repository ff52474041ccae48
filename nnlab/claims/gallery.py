"""The claims gallery: per claim the note's words, the design, per regime a table, the checks and a figure.

``collect`` reads one finished claim folder (claim.json, values.csv, each regime's choice.json and
range_test.json, the judging runs' curves) and judges it regime by regime (nnlab.claims.verdict);
``sections`` turns the results into format-free parts that ``markdown`` (docs/claims.md) and
nnlab.claims.html render.  Paths on the page are relative to the working folder (the repository).
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from nnlab import files
from nnlab.claims.claim_metrics import counts_never, label, parse_key
from nnlab.claims.run import is_finished, read_values
from nnlab.claims.verdict import FAILS, HOLDS, INCONCLUSIVE, RULE, judge, num
from nnlab.errors import ConfigError
from nnlab.look.figures import to_file
from nnlab.runs import read_metrics
from nnlab.sweep.plots import best_curves_figure
from nnlab.text import setting

NOTES_DIR = "claims/notes"  # the five course notes, verbatim (the originals are checked against them)


@dataclass
class RegimeResult:
    name: str
    overrides: dict
    values: dict  # variant -> seed -> values.csv row
    choices: dict  # variant -> choice.json entry
    range_tests: dict  # variant -> range_test.json entry
    runs: dict  # variant -> [run folder, ...] (judging seeds in order)
    verdict: str = INCONCLUSIVE
    outcomes: list = field(default_factory=list)


@dataclass
class Result:
    claim: dict  # claim.json
    folder: Path
    regimes: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.claim["id"]

    @property
    def verdicts(self) -> list[str]:
        return [r.verdict for r in self.regimes]

    @property
    def overall(self) -> str:
        """'holds in 3 of 4 regimes, inconclusive in 1', 'holds in both regimes', or the one regime's verdict."""
        return overall(self.verdicts)

    @property
    def verdict(self) -> str:
        """One word for the summary: holds / does not hold / inconclusive when every regime agrees, else mixed."""
        v = set(self.verdicts)
        return next(iter(v)) if len(v) == 1 else "mixed"


def overall(verdicts: list[str]) -> str:
    n = len(verdicts)
    counts = {v: verdicts.count(v) for v in (HOLDS, FAILS, INCONCLUSIVE)}
    for v in (HOLDS, FAILS, INCONCLUSIVE):
        if n and counts[v] == n:  # every regime agrees
            return f"{v} in {'both' if n == 2 else f'all {n}'} regimes" if n > 1 else v
    parts = []
    first = True
    for v in (HOLDS, FAILS, INCONCLUSIVE):
        if counts[v]:
            if first:
                parts.append(f"{v} in {counts[v]} of {n} regime{'s' if n > 1 else ''}")
                first = False
            else:
                parts.append(f"{v} in {counts[v]}")
    return ", ".join(parts)


def _text(path: Path, limit: int = files.CONFIG_MAX_BYTES) -> str:
    """A file of a claim's folder: a regular file of at most ``limit`` bytes (never a wait on a FIFO), UTF-8."""
    return files.read_text_bounded(path, limit, f"a claim folder's {path.name}")


def _json(path: Path):
    try:
        return json.loads(_text(path))
    except (OSError, ValueError):
        return {}


def collect(folder) -> Result:
    """The finished claim of one folder with every judging run's values, judged regime by regime."""
    folder = Path(folder)
    claim = json.loads(_text(folder / "claim.json"))
    rows = read_values(folder)
    res = Result(claim, folder)
    for name in claim["regimes"]:
        values: dict = {}
        runs: dict = {v: [] for v in claim["variants"]}
        for row in rows:
            if row["regime"] == name:
                values.setdefault(row["variant"], {})[row["seed"]] = row
                runs.setdefault(row["variant"], []).append(folder / row["run"])
        r = RegimeResult(name, claim["regime_overrides"].get(name, {}), values, _json(folder / name / "choice.json"),
                         _json(folder / name / "range_test.json"), runs)
        r.verdict, r.outcomes = judge(claim["checks"], values, claim["seeds"])
        res.regimes.append(r)
    return res


def find(out, ids: set | None = None) -> tuple[list[Path], list[str]]:
    """Per claim id in ``out`` (those in ``ids`` only, when given), its finished full folder, else its finished
    quick one; notes on the rest."""
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


def read_results(out, ids: set | None = None, option: str = "--out") -> tuple[list[Result], list[str]]:
    """Every finished claim in the folder ``out`` (see find), collected; ConfigError when there is none."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"{option} {out}: no such folder; run nnlab claims run --out {out} first")
    folders, notes = find(out, ids)
    if not folders:
        if ids is not None and notes and all("no file in the claims folder" in n for n in notes):
            raise ConfigError(f"{option} {out}: none of its claim folders is one of the claims with a file in "
                              f"--claims-dir ({len(ids)} there); name the folder they were run from")
        raise ConfigError(f"{option} {out}: no finished claims; run nnlab claims run --out {out} first")
    results = []
    for f in folders:
        try:
            results.append(collect(f))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged or replaced file
            reason = str(exc) if isinstance(exc, OSError) and str(exc).startswith(str(f)) else type(exc).__name__
            notes.append(f"{f}: unreadable ({reason}); skipped")
    if not results:
        raise ConfigError(f"{option} {out}: no readable claims ({'; '.join(notes)})")
    return results, notes


def missing_runs(r: Result) -> str:
    """What the page must say when a variant has fewer values than the claim's judging seeds: '' when none."""
    n = len(r.claim["seeds"])
    short = []
    for reg in r.regimes:
        for v in r.claim["variants"]:
            got = len(reg.values.get(v, {}))
            if got < n:
                short.append(f"{reg.name}/{v}: n = {got}")
    if not short:
        return ""
    return f"{', '.join(short)} of the {n} seeds (runs missing in {r.folder.name}); nnlab claims run resumes them"


# -- format-free parts -------------------------------------------------------------------------------


@dataclass
class RegimePart:
    name: str
    verdict: str
    setting: str  # the regime's overrides in words
    header: list
    rows: list
    lines: list  # one per hypothesis
    notes: list  # the tuning, the range test
    figure: object = None  # (draw, alt) or None


@dataclass
class Section:
    id: str
    title: str
    original: list
    quote: str
    source: str  # may hold `code` spans
    extension: str | None
    design: str
    checks: list
    overall: str
    verdict: str
    regimes: list
    mode: str


def _relative(path: str) -> str:
    """A path as the page shows it: relative to the working folder when inside it (the repository's paths,
    never the machine's)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return Path(path).name
    return rel if not rel.startswith("..") else Path(path).name


def _cell(values: list, key: str, percent: bool) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    never = sum(1 for x in v if math.isinf(x))
    finite = [x for x in v if math.isfinite(x)]
    if never:
        rest = f" (the rest {_mean_sd(finite, percent)})" if finite else ""
        return f"{never} of {len(v)} never{rest}" if counts_never(parse_key(key)[0]) else f"{never} of {len(v)} inf{rest}"
    return _mean_sd(v, percent)


def _mean_sd(v: list, percent: bool) -> str:
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    if percent:
        return f"{100 * m:.1f}%" + (f" ± {100 * sd:.1f}" if sd is not None else "")
    return num(m) + (f" ± {num(sd)}" if sd is not None else "")


def _overrides_text(overrides: dict) -> str:
    return ", ".join(f"{k}={setting(v)}" for k, v in overrides.items()) or "the base config"


def regime_part(r: Result, reg: RegimeResult, figures: bool = True) -> RegimePart:
    c = r.claim
    keys = list(dict.fromkeys([ch["key"] for ch in c["checks"]] + ["test_acc"]))
    percent = {ch["key"]: ch["percent"] for ch in c["checks"]} | {"test_acc": True}
    tuned = any(reg.choices.get(v) or reg.range_tests.get(v) for v in c["variants"])
    header = ["variant", *(["tuned"] if tuned else []), *(label(*parse_key(k)) for k in keys), "n"]
    rows = []
    for v in c["variants"]:
        seeds = reg.values.get(v, {})
        ch = reg.choices.get(v)
        rt = reg.range_tests.get(v)
        if ch:
            chosen = ", ".join(f"{k.rsplit('.', 1)[-1]} {setting(x)}" for k, x in ch["values"].items())
            chosen += " (edge)" if ch.get("edge") else ""
            if ch.get("relative"):
                chosen += f" ({setting(ch['relative']['factor'])}× {ch['relative']['to']}'s)"
        elif rt:
            chosen = f"lr {setting(rt['lr'])} (range test)"
        else:
            chosen = "–"
        cells = [_cell([seeds[s].get(k) for s in sorted(seeds)], k, percent[k]) for k in keys]
        rows.append([v, *([chosen] if tuned else []), *cells, str(len(seeds))])
    notes = []
    if any(ch.get("scores") for ch in reg.choices.values()):
        tuned_keys = sorted({k for ch in reg.choices.values() if ch and ch.get("scores") for k in ch["values"]})
        notes.append(f"Tuned: each variant at its own best {', '.join(tuned_keys)}, chosen on the mean validation "
                     f"accuracy of the tuning seeds {', '.join(map(str, c['tune_seeds']))} (tried: "
                     + "; ".join(f"{v}: {', '.join(ch['scores'])}" for v, ch in reg.choices.items() if ch.get("scores"))
                     + f"); the judging seeds are {_seed_range(c['seeds'])}.")
        for v, ch in reg.choices.items():
            if ch and ch.get("note"):
                notes.append(f"{v}: {ch['note']}.")
    for v, rt in reg.range_tests.items():
        notes.append(f"{v}: the learning-rate range test ({rt['rule']}) on the tuning seed {c['tune_seeds'][0]} gives "
                     f"lr {setting(rt['lr'])} ({rt['steps_done']} steps; {rt['stopped']}).")
    lines = [h.line() for o in reg.outcomes for h in o.hypotheses]
    fig = regime_figure(r, reg) if figures else None
    return RegimePart(reg.name, reg.verdict, _overrides_text(reg.overrides), header, rows, lines, notes, fig)


def _seed_range(seeds: list) -> str:
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]} to {seeds[-1]}"
    return ", ".join(map(str, seeds))


def regime_figure(r: Result, reg: RegimeResult):
    """(draw, alt) of the claim's curve per variant in the regime (mean over the judging seeds, min–max band)."""
    c = r.claim
    if c.get("search"):
        return search_figure(r, reg)
    m = c.get("curve", "val_acc")
    curves = []
    for v in c["variants"]:
        rows = []
        for d in reg.runs.get(v, []):
            try:
                rows.append(read_metrics(d / "metrics.csv"))
            except (OSError, ValueError):
                rows.append([])
        curves.append((v, rows))
    made = best_curves_figure(curves, m, title=f"{c['id']} · {reg.name}: {m} per variant (mean over seeds, "
                                                "band: min–max)")
    return None if made is None else (made[0], f"{m} against epoch per variant, mean over the judging seeds with a "
                                               "min–max band")


def search_figure(r: Result, reg: RegimeResult):
    """(draw, alt) for a search claim: the best validation accuracy found so far against the trials spent, per
    method (mean over the judging seeds)."""
    import csv
    import io

    c = r.claim
    series = []
    for v in c["variants"]:
        curves = []
        for d in reg.runs.get(v, []):
            try:
                rows = list(csv.DictReader(io.StringIO(_text(d / "trials.csv", files.TABLE_MAX_BYTES), newline="")))
            except (OSError, ValueError):
                continue
            best, curve = -math.inf, []
            for row in rows:
                try:
                    best = max(best, float(row.get(c["search"].get("metric", "val_acc")) or "nan"))
                except ValueError:
                    pass
                curve.append(best if math.isfinite(best) else math.nan)
            curves.append(curve)
        if curves:
            n = min(len(x) for x in curves)
            series.append((v, [sum(x[i] for x in curves) / len(curves) for i in range(n)]))
    if not series:
        return None

    def draw(plt):
        fig, ax = plt.subplots(figsize=(7.2, 3.8))
        for name, ys in series:
            ax.plot(range(1, len(ys) + 1), ys, marker="o", markersize=3, linewidth=1.8, label=name)
        ax.set_xlabel("trials")
        ax.set_ylabel("best val_acc so far")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{c['id']} · {reg.name}: the best validation accuracy found, mean over seeds", fontsize=10)
        fig.tight_layout()
        return fig

    return draw, "best validation accuracy found against trials spent, per search method"


def section(r: Result, figures: bool = True) -> Section:
    c = r.claim
    src = (f"Source: note `{NOTES_DIR}/{c['note']}`, section \"{c['section']}\"; " if c.get("note") else "") + \
        f"claim file `{_relative(c['file'])}`; {c['mode']} run."
    return Section(id=c["id"], title=c["title"], original=list(c.get("original") or []), quote=c["quote"], source=src,
                   extension=c.get("extension"), design=c["design"], checks=[ch["text"] for ch in c["checks"]],
                   overall=r.overall, verdict=r.verdict, regimes=[regime_part(r, reg, figures) for reg in r.regimes],
                   mode=c["mode"])


# -- markdown ----------------------------------------------------------------------------------------

INTRO = ("Each claim of the course notes, in the note's own words beside an English translation, tested by "
         "`nnlab claims run` and judged by `nnlab claims report` with the rule below, regime by regime. "
         "Accuracies are in percent, their differences in percentage points.")


def claim_source_label(claim: dict) -> str:
    """The summary table's source cell: the note's number, "extension", or both for an extension that quotes
    what the note says (the search methods: the note lists them, the ranking is the extension's)."""
    if not claim.get("note"):
        return "extension"
    return note_label(claim["note"]) + (" (extension)" if claim.get("extension") else "")


def note_label(note: str) -> str:
    """A note as the tables name it: its number (000 for 000_e09f....txt), else its file name."""
    m = re.match(r"(\d{3})_", note or "")
    return m.group(1) if m else (note or "-")


def _fill(text: str) -> str:
    return textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False)


def md_text(text: str) -> str:
    """Text from a claim file for a markdown page: shown as written, never as HTML ('<b>' stays '<b>')."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown(results: list[Result], md_path: Path, figures: bool = True, untested: list | None = None) -> str:
    quoted = [r for r in results if not r.claim.get("extension")]
    extensions = [r for r in results if r.claim.get("extension")]
    lines = ["# Claims gallery", "", _fill(INTRO), "", _fill(f"**Verdict rule.** {RULE}"), "",
             "| claim | note | verdict |", "|---|---|---|"]
    for r in quoted + extensions:
        where = claim_source_label(r.claim)
        lines.append(f"| [{r.id}](#{r.id}) | {where} | {r.overall}{' (quick)' if r.claim['mode'] == 'quick' else ''} |")
    lines += ["", "## The notes' claims", ""]
    for r in quoted:
        lines += _md_section(section(r, figures), md_path, "###")
    if extensions:
        lines += ["", "## Extensions", "", _fill("Claims the notes do not make, each with its own source: "
                                                 "tested the same way, never presented as the notes' words."), ""]
        for r in extensions:
            lines += _md_section(section(r, figures), md_path, "###")
    if untested:
        lines += ["", "## The notes' claims not tested", "",
                  _fill("Every other claim the five notes make, with the reason it has no claim file."), "",
                  "| note | the note's words | translation | why not tested |", "|---|---|---|---|"]
        for u in untested:
            lines.append(f"| {note_label(u['note'])} | {md_text(u['original'])} | {md_text(u['quote'])} | "
                         f"{md_text(u['reason'])} |")
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_section(s: Section, md_path: Path, h: str) -> list[str]:
    out = ["", f'{h} {s.id}', "", f"**{md_text(s.title)}**", ""]
    for p in s.original:
        out += [f"> {md_text(p)}", ">"]
    if s.original:
        out += [f"> *{md_text(s.quote)}*", ""]
        if s.extension:
            out += [_fill(f"What is tested goes beyond the note's words (an extension): {md_text(s.extension)}."),
                    ""]
    else:
        out += [f"> {md_text(s.quote)}", "", _fill(f"Extension: {md_text(s.extension)}."), ""]
    out += [_fill(s.source), "", _fill(f"**Design.** {md_text(s.design)}"), "", "**Checks:**", ""]
    out += [f"- {md_text(c)}" for c in s.checks]
    for reg in s.regimes:
        out += ["", f"**Regime {reg.name}** ({md_text(reg.setting)}): **{reg.verdict}**", ""]
        out += ["| " + " | ".join(md_text(h) for h in reg.header) + " |", "|" + "---|" * len(reg.header)]
        out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in reg.rows]
        out.append("")
        out += [_fill(n) for n in reg.notes]
        if reg.notes:
            out.append("")
        out += [f"- {md_text(ln)}" for ln in reg.lines]
        if reg.figure is not None:
            png = md_path.parent / md_path.stem / f"{s.id}-{reg.name}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            to_file(reg.figure[0], png)
            out += ["", f"![{s.id}, regime {reg.name}: {md_text(reg.figure[1])}]({md_path.stem}/{s.id}-{reg.name}.png)"]
    out += ["", f"**Overall: {s.overall}.**"]
    return out
