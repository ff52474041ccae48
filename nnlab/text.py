"""How values are written for people: the one formatter of every view.

Two kinds of value, two spellings, used everywhere (terminal, CSV and markdown, the HTML report,
figures, sweep files, messages):

- a setting (a config value, a sweep param): ``setting`` writes it exactly, as YAML flow text that
  reads back to the same value: ``0.000123456789``, ``[100, 100]``, ``true``, ``null``, ``relu``.
  Floats get Python's shortest round-trip repr (``1e-05``; a whole number without its ``.0``), so a
  view never shows a rounded setting that is not the one the run used.  ``shown`` is the same text with a string in quotes, for
  messages that quote what the user wrote (``got 'abc'``).
- a measured number (a loss, an accuracy, seconds): ``number`` to 4 significant digits, ``percent``
  for a fraction, ``mean_std`` for a mean over seeds with its spread.

``printable`` makes any text safe for a one-line message (control characters shown as escapes).
Imports nothing of nnlab: every layer may use it.
"""

from __future__ import annotations

import math
import re

MISSING = "-"


def printable(text) -> str:
    """Text for a one-line message: control characters (newlines, escapes) shown as \\xNN, never sent raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


# a plain YAML scalar that reads back as the same string: no flow or comment characters, not a number,
# bool or null, no leading or trailing space
_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./+-]*( [A-Za-z0-9_./+-]+)*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _float_text(v: float) -> str:
    """The shortest text that reads back as the same number; a whole number without its '.0' (as a config
    writes it: step_size 2, lr 1)."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(v, quote: bool) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float_text(v)
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # a numpy scalar
        try:
            return _scalar(v.item(), quote)
        except (TypeError, ValueError):
            pass
    text = printable(v)
    if quote or not (_PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS and not _looks_numeric(text)):
        return "'" + text.replace("'", "''") + "'"
    return text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def setting(value, quote: bool = False) -> str:
    """A config value as YAML flow text that reads back to the same value: 0.001, [100, 100], true,
    {name: adam, lr: 0.001}; a string plain where YAML keeps it a string (relu), else in quotes ('300')."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k, False)}: {setting(v, quote)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(setting(v, quote) for v in value) + "]"
    return _scalar(value, quote)


def shown(value) -> str:
    """``setting`` with every string in quotes: how a message quotes a value the user wrote (got 'abc')."""
    return setting(value, quote=True)


def number(v, missing: str = MISSING) -> str:
    """A measured number to 4 significant digits (ints in full); ``missing`` for None; anything else
    (a damaged summary.json) as its text, never raised on."""
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
    if not _is_real(v) or not math.isfinite(v):
        return number(v, missing)
    return f"{100 * v:.1f}%"


def spread(std, pct: bool = False) -> str:
    """The `` ± std`` suffix of a mean (std in percentage points when ``pct``)."""
    if not _is_real(std):
        return ""
    return f" ± {100 * std:.1f}" if pct and math.isfinite(std) else f" ± {std:.2g}"


def mean_std(v, std=None, pct: bool = False, missing: str = MISSING) -> str:
    """A value, as a percentage when ``pct``, followed by `` ± std`` when a spread is given."""
    text = percent(v, missing) if pct else number(v, missing)
    if std is not None and v is not None:
        text += spread(std, pct)
    return text


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
