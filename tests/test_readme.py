"""The README is the front door: keep its commands, its config, its numbers and its links true.

The documentation site (docs/, mkdocs.yml) is kept by tests/test_docs.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nnlab.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INSTALL_TRAIN = "pip install -e . && nnlab train configs/adam_relu.yaml"
INSTALL_TEST = "pip install -e '.[test]' && pytest"
MAX_LINES = 300


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def quick_start_commands():
    return re.findall(r"```bash\n(.*?)\n```", section("Quick start"), re.S)


def test_quick_start_has_exactly_the_two_commands():
    assert quick_start_commands() == [INSTALL_TRAIN, INSTALL_TEST]


def test_ci_runs_the_readme_test_command_as_written():
    ci = (ROOT / ".ci" / "run").read_text()
    assert INSTALL_TEST in ci.splitlines()


def test_quick_start_config_exists():
    assert (ROOT / "configs" / "adam_relu.yaml").exists()


def test_the_readme_stays_short():
    assert len(README.splitlines()) <= MAX_LINES, "move the detail to a page under docs/"


def test_every_command_is_in_the_table_of_commands():
    from nnlab.cli import main

    table = section("Commands")
    for name in main.commands:
        assert f"`nnlab {name}" in table, name


def test_the_minimal_config_is_valid(tmp_path):
    text = re.search(r"```yaml\n(.*?)```", section("A minimal config"), re.S).group(1)
    path = tmp_path / "my_run.yaml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.data["name"] == "mnist1d" and cfg.model["hidden"] == [100, 100]


def test_the_counts_of_components_are_the_registries():
    from nnlab.config.kinds import KINDS

    words = {"dataset": "data sets", "preprocessor": "preprocessors", "initializer": "initializers",
             "activation": "activations", "optimizer": "optimizers", "schedule": "schedules"}
    inside = section("What is inside")
    for kind in KINDS:
        if kind.name in words:
            m = re.search(rf"(\d+) {words[kind.name]}\b", inside)
            assert m, f"README does not count the {words[kind.name]}"
            assert int(m.group(1)) == len(kind.registry.names()), kind.name


def test_the_counts_of_verdicts_are_the_gallery():
    gallery = (ROOT / "docs" / "claims.md").read_text()
    verdicts = re.findall(r"^\| \[[^]]+\]\(#[^)]+\) \|.*\| ([a-z0-9 ,]+) \|$", gallery, re.M)
    m = re.search(r"(\d+) claims of the notes, .*?: (\d+)\s+hold in every regime .*?, (\d+) fail in\s+every one "
                  r".*?, (\d+) depend on the regime", section("What the experiments show"), re.S)
    assert m, "README does not count the verdicts"
    every = [v for v in verdicts if " of " not in v]  # 'holds', 'holds in both regimes', 'holds in all 3 regimes'
    assert tuple(map(int, m.groups())) == (
        len(verdicts), sum(v.startswith("holds") for v in every), sum(v.startswith("does not hold") for v in every),
        len(verdicts) - len(every))
    assert len(verdicts) == len(list((ROOT / "claims").glob("*.yaml")))


def links():
    """Every relative link of the README: (target file, anchor or None)."""
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        yield path, anchor or None


def slugs(markdown: str) -> set[str]:
    """The anchors of a page's headings (Python-Markdown's and GitHub's, which agree on these pages)."""
    out = set()
    for title in re.findall(r"^#{1,6} (.+?)\s*$", markdown, re.M):
        text = re.sub(r"[`*]", "", title).strip().lower()
        out.add(re.sub(r"\s+", "-", re.sub(r"[^\w\s-]", "", text)))
    return out


@pytest.mark.parametrize("path, anchor", sorted(set(links()), key=str))
def test_every_link_of_the_readme_leads_somewhere(path, anchor):
    target = ROOT / path
    assert target.is_file(), path
    if anchor:
        assert anchor in slugs(target.read_text()), f"{path} has no heading for #{anchor}"


def test_the_readme_links_every_page_of_the_site():
    from test_docs import nav_pages

    linked = {path for path, _ in links()}
    missing = [page for page in nav_pages() if f"docs/{page}" not in linked]
    assert not missing, missing
