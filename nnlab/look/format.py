"""How numbers are written for people (tables, reports): one formatter for every view.

``number``: ints as they are, floats to 4 significant digits, nan/inf spelled out.
``percent``: a fraction as a percentage with one decimal.
``mean_std``: either of those and, for groups of seeds, `` ± std``.
Anything that is not a number (a damaged summary.json) is shown as its text, never raised on.
CSV and JSON outputs for scripts do not use these: they keep full precision.
"""

from __future__ import annotations

import math

MISSING = "-"


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(v, missing: str = MISSING) -> str:
    """A number to 4 significant digits (ints in full); ``missing`` for None."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    return str(v)


def percent(v, missing: str = MISSING) -> str:
    """A fraction as a percentage with one decimal: 0.9234 -> '92.3%'."""
    if not _real(v) or not math.isfinite(v):
        return number(v, missing)
    return f"{100 * v:.1f}%"


def spread(std, pct: bool = False) -> str:
    """The `` ± std`` suffix of a mean (std in percentage points when ``pct``)."""
    if not _real(std):
        return ""
    return f" ± {100 * std:.1f}" if pct and math.isfinite(std) else f" ± {std:.2g}"


def mean_std(v, std=None, pct: bool = False, missing: str = MISSING) -> str:
    """A value, as a percentage when ``pct``, followed by `` ± std`` when a spread is given."""
    text = percent(v, missing) if pct else number(v, missing)
    if std is not None and v is not None:
        text += spread(std, pct)
    return text
