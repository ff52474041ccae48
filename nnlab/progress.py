"""How far long work that is not training has got (a download): reported to whoever shows it.

Work reports through ``task(description, total)``; what is shown is up to the reporter that the caller
set: the command line sets one that draws a progress bar on a terminal and writes a line at the start
and the end when piped; the Python API sets one only when asked (``quiet=False``).  With no reporter
(a library call, a test) nothing is shown.  A leaf module: it imports nothing of nnlab, so the data
layer reports through it without knowing who listens, and setting a reporter loads nothing heavy.

A reporter is a function ``(description, total) -> handle``; the handle has ``advance(n)`` (n more
units done; bytes for a download) and ``close(ok)`` (the work ended, done or failed).
"""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()
_default = None  # the reporter of every thread that has not set its own (the command line's)


class _Silent:
    def advance(self, n: int) -> None:
        pass

    def close(self, ok: bool = True) -> None:
        pass


def set_reporter(reporter) -> object:
    """Make ``reporter`` the default for every thread; returns the one it replaces (None: silent)."""
    global _default
    old, _default = _default, reporter
    return old


def current():
    """The reporter in force in this thread (None: nothing is shown)."""
    return getattr(_state, "reporter", _default)


@contextlib.contextmanager
def reporting(reporter):
    """Within the block, this thread reports to ``reporter`` (None: nothing is shown)."""
    had, old = hasattr(_state, "reporter"), getattr(_state, "reporter", None)
    _state.reporter = reporter
    try:
        yield
    finally:
        if had:
            _state.reporter = old
        else:  # back to the default, whatever it is by then
            del _state.reporter


@contextlib.contextmanager
def task(description: str, total: int | None = None):
    """A handle to report one piece of work to (``advance(n)``), closed when the block ends."""
    reporter = current()
    handle = reporter(description, total) if reporter is not None else _Silent()
    ok = False
    try:
        yield handle
        ok = True
    finally:
        handle.close(ok)
