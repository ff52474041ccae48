"""The README is the front door: keep its commands, tables and reference true."""

from __future__ import annotations

import re
from pathlib import Path

from nnlab.config import SCHEMAS
from nnlab.docs import components_markdown, readme_block

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INSTALL_TRAIN = "pip install -e . && nnlab train configs/adam_relu.yaml"
INSTALL_TEST = "pip install -e '.[test]' && pytest"


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_quick_start_has_exactly_the_two_commands():
    assert quick_start_commands() == [INSTALL_TRAIN, INSTALL_TEST]


def test_ci_runs_the_readme_test_command_as_written():
    ci = (ROOT / ".ci" / "run").read_text()
    assert INSTALL_TEST in ci.splitlines()


def test_quick_start_config_exists():
    assert (ROOT / "configs" / "adam_relu.yaml").exists()


def test_component_tables_match_the_code():
    assert readme_block(README) == components_markdown(), "run: python -m nnlab.docs --write"


def test_every_command_is_documented():
    from nnlab.cli import main

    for name in main.commands:
        assert f"`nnlab {name}" in README, name


def test_config_reference_names_every_key():
    ref = README.split("## Config reference", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for section in SCHEMAS.values():
        keys |= set(section)
    keys |= {"name", "seed", "dtype", "extends", "path", "n_samples", "noise"}
    missing = [k for k in sorted(keys) if not re.search(rf"\b{k}\b", ref)]
    assert not missing, missing


def test_every_component_is_used_by_a_config():

    from nnlab.cli import registries
    from nnlab.config import load_config

    used: dict[str, set] = {}
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        if "data" in path.parts[-2:-1]:
            continue
        cfg = load_config(path)
        pick = {"dataset": cfg.data["name"], "preprocessor": cfg.data["preprocess"]["name"],
                "initializer": cfg.model["init"]["name"], "activation": cfg.model["activation"]["name"],
                "optimizer": cfg.train["optimizer"]["name"], "schedule": cfg.train["schedule"]["name"]}
        if cfg.train.get("averaging"):
            pick["averaging"] = cfg.train["averaging"]["method"]
        for kind, name in pick.items():
            used.setdefault(kind, set()).add(name)
    for kind, reg, _ in registries():
        unused = set(reg.names()) - used.get(kind, set())
        assert not unused, f"{kind}s used by no config: {sorted(unused)}"
