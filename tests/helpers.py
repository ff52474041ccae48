"""Small helpers shared by the test files."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from nnlab.config import validate


def merged_config(base: dict, **sections):
    """validate(base) with each keyword merged into its section (mappings) or replacing it (values)."""
    raw = copy.deepcopy(base)
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return validate(raw)


def write_sweep(folder: Path, sweep: dict, base: dict) -> Path:
    """``folder``/s.yaml: the sweep ``sweep`` over the config ``base`` (written beside it as base.yaml)."""
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    p = folder / "s.yaml"
    p.write_text(yaml.safe_dump({"config": "base.yaml", **sweep}, sort_keys=False))
    return p


def only_folder(out: Path) -> Path:
    """The one sweep folder a sweep wrote into ``out``."""
    (folder,) = [d for d in out.iterdir() if d.is_dir()]
    return folder
