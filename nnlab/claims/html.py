"""The claims gallery in HTML: the same sections as docs/claims.md (nnlab.claims.gallery.parts), figures inline.

``gallery_section`` is one ``<section>`` (what ``nnlab report --claims`` puts in its page);
``render_page`` a self-contained page (``nnlab claims report -o gallery.html``) with the report's style.
"""

from __future__ import annotations

import re

from nnlab.version import __version__
from nnlab.claims.gallery import INTRO, Result, claim_source_label, note_label, section
from nnlab.claims.verdict import FAILS, HOLDS, INCONCLUSIVE, RULE
from nnlab.look.figures import SvgFigures
from nnlab.look.report import CSS as REPORT_CSS
from nnlab.look.report import Part, Report, esc

CSS = """
.claims table td:first-child { max-width: 26em; overflow-wrap: anywhere; }
.claims blockquote { margin: 8px 0; padding: 4px 12px; border-left: 3px solid var(--line); color: var(--muted); }
.claims table.verdicts td:first-child { white-space: nowrap; }
.verdict { white-space: nowrap; display: inline-block; padding: 1px 8px; border-radius: 10px;
           font-weight: 600; font-size: 90%; }
.verdict.holds { background: #d8f0dc; color: #1d5e2a; }
.verdict.fails { background: #f6d9d9; color: #8a1f1f; }
.verdict.inconclusive { background: #eceff2; color: #44505b; }
.verdict.mixed { background: #fbeecb; color: #6b4d00; }
.claim { margin: 28px 0; }
"""


def code_spans(text: str) -> str:
    """Escaped text with `x` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def badge(verdict: str) -> str:
    cls = {HOLDS: "holds", FAILS: "fails", INCONCLUSIVE: "inconclusive"}.get(verdict, "mixed")
    return f'<span class="verdict {cls}">{esc(verdict)}</span>'


def _table(header: list, rows: list) -> str:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = [f"<td>{esc(row[0])}</td>"] + [f'<td class="num">{esc(c)}</td>' for c in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _regime(reg, figs, sub: str) -> str:
    out = [f"<{sub}>Regime {esc(reg.name)} {badge(reg.verdict)}</{sub}>", f'<p class="meta">{esc(reg.setting)}</p>',
           _table(reg.header, reg.rows)]
    out += [f"<p>{esc(n)}</p>" for n in reg.notes]
    out.append("<ul>" + "".join(f"<li>{esc(ln)}</li>" for ln in reg.lines) + "</ul>")
    if reg.figure is not None:
        out.append(f"<figure>{figs.render(reg.figure[0], reg.figure[1])}</figure>")
    return "\n".join(out)


def _claim(s, figs, sub: str, low: str) -> list[str]:
    out = [f'<div class="claim" id="claim-{esc(s.id)}">', f"<{sub}>{esc(s.id)}</{sub}>",
           f"<p><strong>{esc(s.title)}</strong></p>"]
    if s.original:
        out.append("<blockquote>" + "".join(f'<p lang="zh">{esc(p)}</p>' for p in s.original)
                   + f"<p><em>{esc(s.quote)}</em></p></blockquote>")
        if s.extension:
            out.append(f"<p>What is tested goes beyond the note's words (an extension): {esc(s.extension)}.</p>")
    else:
        out += [f"<blockquote>{esc(s.quote)}</blockquote>", f"<p>Extension: {esc(s.extension)}.</p>"]
    out += [f'<p class="meta">{code_spans(s.source)}</p>', f"<p><strong>Design.</strong> {esc(s.design)}</p>",
            "<ul>" + "".join(f"<li>{esc(c)}</li>" for c in s.checks) + "</ul>"]
    out += [_regime(reg, figs, low) for reg in s.regimes]
    out += [f"<p><strong>Overall: {esc(s.overall)}.</strong></p>", "</div>"]
    return out


def gallery_section(results: list[Result], figs, heading: str = "h2", untested: list | None = None) -> str:
    """The gallery as one HTML section: the rule, the verdict table, then one block per claim."""
    sub = "h3" if heading == "h2" else "h2"
    low = "h4" if heading == "h2" else "h3"
    out = ['<section class="claims" id="claims">', f"<{heading}>Claims gallery</{heading}>",
           f'<p class="meta">{code_spans(INTRO)}</p>', f"<p><strong>Verdict rule.</strong> {esc(RULE)}</p>",
           '<table class="verdicts">', "<thead><tr><th>claim</th><th>note</th><th>verdict</th></tr></thead>", "<tbody>"]
    for r in results:
        note = claim_source_label(r.claim)
        out.append(f'<tr><td><a href="#claim-{esc(r.id)}">{esc(r.id)}</a></td><td>{esc(note)}</td>'
                   f'<td>{badge(r.verdict)} {esc(r.overall)}</td></tr>')
    out += ["</tbody>", "</table>"]
    for r in results:
        out += _claim(section(r), figs, sub, low)
    if untested:
        out += [f"<{sub}>The notes' claims not tested</{sub}>",
                _table(["note", "the note's words", "translation", "why not tested"],
                       [[note_label(u["note"]), u["original"], u["quote"], u["reason"]] for u in untested])]
    out.append("</section>")
    return "\n".join(x for x in out if x)


def render_page(results: list[Result], title: str = "nnlab claims gallery", untested: list | None = None) -> str:
    body = gallery_section(results, SvgFigures(), heading="h1", untested=untested)
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f'<meta name="generator" content="nnlab {esc(__version__)}">', f"<title>{esc(title)}</title>",
                      f"<style>{REPORT_CSS}{CSS}</style>", "</head>", "<body>", "<main>", body,
                      f"<footer>nnlab {esc(__version__)} · self-contained: no scripts, no network.</footer>",
                      "</main>", "</body>", "</html>", ""])


class GalleryPart(Part):
    """The claims gallery as a part of the report (nnlab report --claims)."""

    css = CSS

    def __init__(self, results: list[Result]):
        self.results = results

    def html(self, rep: Report) -> str:
        return gallery_section(self.results, rep.figs) if self.results else ""
