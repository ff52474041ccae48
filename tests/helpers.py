"""Small helpers shared by the test files."""

from __future__ import annotations

import copy

from nnlab.config import validate


def merged_config(base: dict, **sections):
    """validate(base) with each keyword merged into its section (mappings) or replacing it (values)."""
    raw = copy.deepcopy(base)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(raw)
