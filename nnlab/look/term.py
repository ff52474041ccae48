"""Text for the terminal and for pipes, at a width given as a parameter (so tests can render any width).

Two modes, as git, kubectl and ripgrep have them:

- ``terminal=True``: lines fit ``width`` columns; tables align, long settings wrap, and where a table
  cannot fit, the caller switches to one block per item.  Names and paths are never cut: a line that
  is a single name longer than the screen is printed whole (the terminal wraps it, a copy keeps it).
- ``terminal=False`` (piped into a file or a CI log): plain lines, no wrapping, no padding at the line
  ends, no colour; tables are tab-separated with a header row, so ``cut -f`` and ``awk -F'\\t'`` read them.

Everything here returns lists of plain strings; ``emit`` writes them.
"""

from __future__ import annotations

import os
import sys
import textwrap

from rich.cells import cell_len

GAP = "  "


def screen(stderr: bool = False) -> tuple[bool, int | None]:
    """(is a terminal, its width) for stdout (or stderr); the width is None when not a terminal.

    rich decides both (it honours COLUMNS, FORCE_COLOR / TTY_COMPATIBLE and Jupyter), so the progress
    bars and these lines agree."""
    from rich.console import Console

    c = Console(stderr=stderr, emoji=False)
    return (True, c.width) if c.is_terminal else (False, None)


def width_of(text: str) -> int:
    """Columns the text takes on a screen (wide characters count 2)."""
    return cell_len(text)


def clean(text) -> str:
    """One cell's text: tabs and line breaks become spaces (a tab-separated line must stay one row)."""
    return " ".join(str(text).replace("\t", " ").splitlines()) if text is not None else ""


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns with a trailing '…' when it is longer."""
    if width_of(text) <= width:
        return text
    if width <= 1:
        return "…"[:max(0, width)]
    out = ""
    for ch in text:
        if width_of(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - width_of(text))
    return fill + text if right else text + fill


def wrap(text: str, width: int, indent: str = "", first: str = "") -> list[str]:
    """Word-wrap ``text`` to ``width`` columns: ``first`` before the first line, ``indent`` before the rest.

    Words are never split (a word longer than the line gets a line of its own)."""
    if width is None:
        return [(first + text).rstrip()]
    lines = textwrap.wrap(text, width=max(1, width), initial_indent=first, subsequent_indent=indent,
                          break_long_words=False, break_on_hyphens=False) or [first.rstrip()]
    return [line.rstrip() for line in lines]


def tsv(header: list[str], rows: list[list[str]]) -> list[str]:
    """Tab-separated lines with a header row: the table for a pipe."""
    return ["\t".join(clean(c) for c in r) for r in [header, *rows]]


def aligned(header: list[str] | None, rows: list[list[str]], right=(), gap: str = GAP) -> list[str]:
    """Columns padded to their widest cell, ``right``-indexed columns right-aligned; no padding at the end."""
    body = ([header] if header else []) + rows
    if not body:
        return []
    n = max(len(r) for r in body)
    widths = [max((width_of(r[i]) for r in body if i < len(r)), default=0) for i in range(n)]
    out = []
    for r in body:
        cells = [pad(c, widths[i], i in right) for i, c in enumerate(r)]
        out.append(gap.join(cells).rstrip())
    return out


def table_width(header: list[str] | None, rows: list[list[str]], gap: str = GAP) -> int:
    body = ([header] if header else []) + rows
    if not body:
        return 0
    n = max(len(r) for r in body)
    widths = [max((width_of(r[i]) for r in body if i < len(r)), default=0) for i in range(n)]
    return sum(widths) + len(gap) * (n - 1)


def fits(lines: list[str], width: int | None) -> bool:
    return width is None or all(width_of(line) <= width for line in lines)


# a run's status in a colour terminal (SGR codes): what went well, what went wrong, what can go on
STATUS_COLOURS = {"completed": "32", "diverged": "31", "failed": "31", "crashed": "31", "interrupted": "33",
                  "incomplete": "33", "pruned": "35", "running": "36"}


class Painted(str):
    """A line with one stretch to colour on a colour terminal; everywhere else (widths, tests, pipes)
    it is the plain line it equals."""

    span: tuple[int, int, str] = (0, 0, "")


def paint_status(line: str, status: str, start: int = 0) -> str:
    """``line`` with the run status that follows character ``start`` (after spaces only) marked for
    colour; the line unchanged when it is not there or has no colour."""
    word = status.split(" ", 1)[0]  # 'interrupted (resumable)': the status word
    code = STATUS_COLOURS.get(word)
    at = line.find(word, start)
    if code is None or at < 0 or line[start:at].strip():
        return line
    out = Painted(line)
    out.span = (at, at + len(word), code)
    return out


def coloured(line: str) -> str:
    """The line with its painted stretch in ANSI colour (unchanged when nothing is painted)."""
    a, b, code = getattr(line, "span", (0, 0, ""))
    return f"{line[:a]}\x1b[{code}m{line[a:b]}\x1b[0m{line[b:]}" if code else line


def colour_wanted(stderr: bool = False) -> bool:
    """Colour for a terminal that has it (rich honours NO_COLOR, TERM=dumb and FORCE_COLOR)."""
    from rich.console import Console

    c = Console(stderr=stderr, emoji=False)
    return c.is_terminal and c.color_system is not None and not c.no_color


def emit(lines, file=None, colour: bool = False) -> None:
    """Write lines as they are (no wrapping, no markup; with ``colour``, painted stretches in ANSI
    colour); a closed pipe (``| head``) ends quietly."""
    f = file or sys.stdout
    try:
        for line in lines:
            f.write((coloured(line) if colour else line) + "\n")
        f.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, f.fileno())
        except (OSError, ValueError):
            pass
