"""The few exception types nnlab raises for problems a user can fix.

Library code raises these; ``nnlab.cli`` turns them into one line each and an
exit code (2 for bad input, 1 for a run that failed), never a traceback.
"""

from __future__ import annotations


class NnlabError(Exception):
    """Base class: a problem with what the user asked for, explained in one line."""

    exit_code = 1

    def __init__(self, message: str | None = None, *, lines: list[str] | None = None):
        self.lines = list(lines) if lines else [message or ""]
        super().__init__("\n".join(self.lines))


class ConfigError(NnlabError):
    """The config (YAML, ``--set`` overrides, component options) is invalid.

    May carry several lines: validation reports every error at once.
    """

    exit_code = 2


class DataError(NnlabError):
    """A data file is missing or malformed, or the data cannot be used as asked."""

    exit_code = 2


class RunError(NnlabError):
    """A run folder is missing, incomplete or cannot be written."""

    exit_code = 1


class OutputError(RunError, OSError):
    """An output file cannot be written where it was asked for (not a regular file, no such folder).

    Also an OSError, so code that already tolerates a failed write (a read-only cache) still does.
    """
