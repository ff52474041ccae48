"""Stopping cleanly on Ctrl-C, SIGTERM and SIGHUP.

``graceful_signals()`` makes SIGTERM (what ``timeout``, ``kill`` and job schedulers
send) and SIGHUP (a closed terminal) behave like Ctrl-C: they raise ``Interrupted``,
a KeyboardInterrupt that remembers its signal, so the trainer stops at once with
status ``interrupted`` and keeps what was recorded.  While ``deferred()`` is active
(the run folder's final files are being written) a signal is only remembered and
raised when the block ends, so a second Ctrl-C cannot leave half the files written.

The exit code of an interrupted command is 128 + the signal number: 130 for Ctrl-C,
143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import contextlib
import signal
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by a handled signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_number(name: str | None) -> int:
    """The number of a signal named in summary.json ('SIGTERM'); SIGINT when unknown."""
    try:
        return int(signal.Signals[name]) if name else int(signal.SIGINT)
    except KeyError:
        return int(signal.SIGINT)


def exit_code(exc: BaseException) -> int:
    """128 + the signal number for an interruption (130 for a plain KeyboardInterrupt)."""
    return getattr(exc, "exit_code", 128 + signal.SIGINT)


_state = threading.local()


def _deferring() -> bool:
    return getattr(_state, "depth", 0) > 0


def _handler(signum, frame):
    if _deferring():
        _state.pending = getattr(_state, "pending", None) or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def graceful_signals():
    """Within the block, SIGINT, SIGTERM and SIGHUP raise Interrupted (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def ignore_more() -> None:
    """On the way out after an interruption (the command line only): further Ctrl-C or SIGTERM are ignored, so
    the last lines (how to resume) are printed and the exit code is 130 or 143, never a kill mid-message."""
    if threading.current_thread() is threading.main_thread():
        for s in HANDLED:
            signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def deferred():
    """Hold signals back for the block (final writes); raise the first one after it."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        pending = getattr(_state, "pending", None)
        if pending is not None and not _deferring():
            _state.pending = None
            raise Interrupted(pending)
