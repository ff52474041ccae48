"""Curves drawn with text, for ``nnlab show`` in a terminal: no matplotlib needed."""

from __future__ import annotations

import math

MARKS = "•x+o*#"


def line_chart(series: dict[str, list], width: int = 60, height: int = 12, log: bool = False,
               pct: bool = False) -> list[str]:
    """Plot several series (name -> values per epoch) into lines of text with a y axis and a legend.

    Each series gets its own mark; where two meet the later one wins.  With ``log``
    the y axis is logarithmic (non-positive values are skipped).
    """
    pts = {k: [(i, v) for i, v in enumerate(vals) if v is not None and math.isfinite(v) and (v > 0 or not log)]
           for k, vals in series.items()}
    values = [v for p in pts.values() for _, v in p]
    n = max((len(v) for v in series.values()), default=0)
    if not values or n == 0:
        return ["(nothing to plot)"]
    f = (lambda v: math.log10(v)) if log else (lambda v: v)
    lo, hi = min(map(f, values)), max(map(f, values))
    if hi == lo:
        hi, lo = hi + 0.5, lo - 0.5
    grid = [[" "] * width for _ in range(height)]
    for mark, (name, p) in zip(MARKS, pts.items()):
        for i, v in p:
            x = 0 if n == 1 else round(i * (width - 1) / (n - 1))
            y = round((f(v) - lo) / (hi - lo) * (height - 1))
            grid[height - 1 - y][x] = mark
    label = (lambda t: f"{10 ** t:.3g}") if log else (lambda t: f"{100 * t:.3g}%") if pct else (lambda t: f"{t:.3g}")
    lines = []
    for r, row in enumerate(grid):
        t = hi - r * (hi - lo) / (height - 1)
        axis = label(t) if r in (0, height // 2, height - 1) else ""
        lines.append(f"{axis:>9} ┤{''.join(row)}")
    lines.append(" " * 10 + "└" + "─" * width)
    # the last epoch's number ends under the last column, where its points are
    lines.append(" " * 11 + f"epoch 1{' ' * max(1, width - 7 - len(str(n)))}{n}")
    lines.append(" " * 11 + "   ".join(f"{m} {name}" for m, name in zip(MARKS, pts)))
    return lines
