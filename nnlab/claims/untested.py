"""The notes' claims that have no claim file, each with its reason: ``claims/notes/untested.yaml``::

    - note: 003_a333818317fa00ee.txt
      section: 梯度消失或爆炸的解决方案
      original: 还有一些呢?则是越到第一层,变化越来越大。这种叫梯度爆炸。常见于RNN。   # verbatim
      quote: In other cases the changes grow towards the first layer: exploding gradients, common in RNNs.
      reason: nnlab trains multilayer perceptrons; it has no recurrent network.

The gallery lists them at its end, so that every claim of the notes is either tested or accounted for.
"""

from __future__ import annotations

from pathlib import Path

from nnlab import files
from nnlab.claims.notes import missing_passages, read_note
from nnlab.config.loader import parse_yaml
from nnlab.errors import ConfigError
from nnlab.text import printable, shown

KEYS = ("note", "section", "original", "quote", "reason")


def read_untested(path) -> list[dict]:
    """The entries of an untested.yaml, each with every key as one line of text (one ConfigError otherwise)."""
    path = Path(path)
    try:
        text = files.read_text_bounded(path, files.CONFIG_MAX_BYTES, "the untested claims' list")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the list of untested claims ({exc})") from None
    data = parse_yaml(text, str(path))
    errors = []
    if not isinstance(data, list):
        raise ConfigError(f"{path}: must be a list of {{{', '.join(KEYS)}}} entries, got {shown(data)}")
    out = []
    for i, e in enumerate(data, start=1):
        if not isinstance(e, dict):
            errors.append(f"{path}: entry {i}: must be a mapping of {', '.join(KEYS)}, got {shown(e)}")
            continue
        for k in e:
            if k not in KEYS:
                errors.append(f"{path}: entry {i}: {printable(k)}: unknown key; the keys are {', '.join(KEYS)}")
        for k in KEYS:
            if not isinstance(e.get(k), str) or not e[k].strip():
                errors.append(f"{path}: entry {i}: {k}: must be text, got {shown(e.get(k))}")
        entry = {k: " ".join(str(e.get(k, "")).split()) for k in KEYS}
        out.append(entry)
        note = path.parent / entry["note"]
        try:
            missing = missing_passages([entry["original"]], read_note(note)) if entry["original"] else []
        except (OSError, ValueError) as exc:
            errors.append(f"{path}: entry {i}: note: cannot read {note} ({getattr(exc, 'strerror', None) or exc})")
            continue
        if missing:
            errors.append(f"{path}: entry {i}: original: not found word for word in {note} (only whitespace may "
                          f"differ)")
    if errors:
        raise ConfigError(lines=errors)
    return out
