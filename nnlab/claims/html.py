"""The claims gallery in HTML: the same sections as docs/claims.md (nnlab.claims.gallery.parts), figures inline.

``gallery_section`` is one ``<section>`` (what ``nnlab report --claims`` puts in its page);
``render_page`` a self-contained page (``nnlab claims report -o gallery.html``) with the report's style.
"""

from __future__ import annotations

import re

from nnlab import __version__
from nnlab.claims.gallery import INTRO, Result, curves_metric, expected_text, parts, seeds_of
from nnlab.claims.verdict import FAILS, HOLDS, RULE
from nnlab.look.figures import SvgFigures
from nnlab.look.report import CSS as REPORT_CSS
from nnlab.look.report import Part, Report, esc
from nnlab.sweep.plots import best_curves_figure

CSS = """
.claims table td:first-child { max-width: 26em; overflow-wrap: anywhere; }
.claims blockquote { margin: 8px 0; padding: 4px 12px; border-left: 3px solid var(--line); color: var(--muted); }
.claims table.verdicts td:first-child { white-space: nowrap; }
.verdict { white-space: nowrap; display: inline-block; padding: 1px 8px; border-radius: 10px;
           font-weight: 600; font-size: 90%; }
.verdict.holds { background: #d8f0dc; color: #1d5e2a; }
.verdict.fails { background: #f6d9d9; color: #8a1f1f; }
.verdict.inconclusive { background: #eceff2; color: #44505b; }
.claim { margin: 28px 0; }
"""


def code_spans(text: str) -> str:
    """Escaped text with `x` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def badge(verdict: str) -> str:
    cls = "holds" if verdict == HOLDS else "fails" if verdict == FAILS else "inconclusive"
    return f'<span class="verdict {cls}">{esc(verdict)}</span>'


def _table(header: list, rows: list) -> str:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = [f"<td>{esc(row[0])}</td>"] + [f'<td class="num">{esc(c)}</td>' for c in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _figure(r: Result, figs) -> str:
    m = curves_metric(r.claim["expect"]["metric"])
    made = best_curves_figure([(v, r.curves.get(v, [])) for v in r.claim["variants"]], m,
                              title=f"{r.claim['id']}: {m} per variant (mean over seeds, band: min–max)")
    if made is None:
        return ""
    draw, alt = made[0], made[1] if len(made) > 1 else f"{m} per variant"
    return f"<figure>{figs.render(draw, alt)}</figure>"


def gallery_section(results: list[Result], figs, heading: str = "h2") -> str:
    """The gallery as one HTML section: the rule, the verdict table, then one block per claim."""
    sub = "h3" if heading == "h2" else "h4"
    out = ['<section class="claims" id="claims">', f"<{heading}>Claims gallery</{heading}>",
           f'<p class="meta">{code_spans(INTRO)}</p>', f"<p><strong>Verdict rule.</strong> {esc(RULE)}</p>",
           '<table class="verdicts">',
           "<thead><tr><th>claim</th><th>expected</th><th>seeds</th><th>verdict</th></tr></thead>",
           "<tbody>"]
    for r in results:
        cid = r.claim["id"]
        out.append(f'<tr><td><a href="#claim-{esc(cid)}">{esc(cid)}</a></td><td>{esc(expected_text(r.claim["expect"]))}'
                   f'</td><td class="num">{seeds_of(r)} ({esc(r.claim["mode"])})</td><td>{badge(r.verdict)}</td></tr>')
    out += ["</tbody>", "</table>"]
    for r in results:
        p = parts(r)
        out += [f'<div class="claim" id="claim-{esc(p.id)}">', f"<{sub}>{esc(p.id)} {badge(p.verdict)}</{sub}>",
                f"<p><strong>{esc(p.title)}</strong></p>", f"<blockquote>{esc(p.quote)}</blockquote>",
                f'<p class="meta">{code_spans(p.source)}</p>', f"<p>{esc(p.expected)}</p>"]
        out += [f"<p>{esc(n)}</p>" for n in p.notes]
        out.append(_table(p.header, p.rows))
        out.append(_figure(r, figs))
        out.append("<ul>" + "".join(f"<li>{esc(ln)}</li>" for ln in p.lines) + "</ul>")
        out.append("</div>")
    out.append("</section>")
    return "\n".join(x for x in out if x)


def render_page(results: list[Result], title: str = "nnlab claims gallery") -> str:
    body = gallery_section(results, SvgFigures(), heading="h1")
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
