"""The course notes a claim quotes (``claims/notes/`` beside the claim files) and the verbatim check.

A claim's ``source.original`` is the note's own words: found in the note's text once whitespace is set
aside (the notes break lines and space CJK text irregularly; nothing else may differ).
"""

from __future__ import annotations

import re
from pathlib import Path

from nnlab import files

NOTE_MAX_BYTES = 1 << 20
_SPACE = re.compile(r"\s+")


def notes_dir(claim_path) -> Path:
    """The notes folder of a claim file: ``notes/`` beside it."""
    return Path(claim_path).parent / "notes"


def squeeze(text: str) -> str:
    """``text`` without any whitespace: what the verbatim check compares."""
    return _SPACE.sub("", text)


def read_note(path) -> str:
    return files.read_text_bounded(path, NOTE_MAX_BYTES, "a course note")


def missing_passages(passages: list[str], note_text: str) -> list[int]:
    """The 1-based numbers of the passages not found verbatim (whitespace aside) in ``note_text``."""
    body = squeeze(note_text)
    return [i for i, p in enumerate(passages, start=1) if not squeeze(p) or squeeze(p) not in body]
