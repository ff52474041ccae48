"""The documentation site (docs/, mkdocs.yml): generated tables equal to the code, every page in the site,
tables a reader can read, and no path of the machine that wrote a file in any committed file.

Links and anchors between the pages are checked by ``mkdocs build --strict`` (in CI, .ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nnlab.config import SCHEMAS
from nnlab.docs import END, START, TARGET, components_markdown, generated_block

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
CONFIGS_PAGE = (ROOT / TARGET).read_text()
MAX_CELL = 200  # characters in one table cell: a longer one is a paragraph, not a cell


def nav_pages(nav=None) -> list[str]:
    """Every page of mkdocs.yml's nav, as paths under docs/."""
    out = []
    for item in MKDOCS["nav"] if nav is None else nav:
        for value in (item.values() if isinstance(item, dict) else [item]):
            out.extend(nav_pages(value) if isinstance(value, list) else [value])
    return out


def page_section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


# --- generated tables ---------------------------------------------------------------------------------

def test_component_tables_match_the_code():
    assert START in CONFIGS_PAGE and END in CONFIGS_PAGE, f"{TARGET} lost its markers"
    assert generated_block(CONFIGS_PAGE) == components_markdown(), "run: python -m nnlab.docs --write"


def test_config_reference_names_every_key():
    ref = re.search(r"```yaml\n(.*?)```", page_section(CONFIGS_PAGE, "Config reference"), re.S).group(1)
    keys = set()
    for section in SCHEMAS.values():
        keys |= set(section)
    keys |= {"name", "seed", "dtype", "extends", "path", "n_samples", "noise"}
    missing = [k for k in sorted(keys) if not re.search(rf"\b{k}\b", ref)]
    assert not missing, missing


def test_every_command_has_its_section_in_the_commands_page():
    from nnlab.cli import main

    text = (DOCS / "commands.md").read_text()
    for name in main.commands:
        assert f"\n### nnlab {name}\n" in text, name


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


# --- the site -----------------------------------------------------------------------------------------

def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    pages = nav_pages()
    assert len(pages) == len(set(pages)), "a page is in the nav twice"
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"in mkdocs.yml's nav but not in docs/: {missing}"
    hidden = [line.strip() for line in MKDOCS.get("not_in_nav", "").splitlines() if line.strip()]
    left_out = [str(p.relative_to(DOCS)) for p in sorted(DOCS.rglob("*.md"))
                if str(p.relative_to(DOCS)) not in pages
                and not any(str(p.relative_to(DOCS)).startswith(h.rstrip("/") + "/") for h in hidden)]
    assert not left_out, f"pages in docs/ that the site does not list (add them to nav or not_in_nav): {left_out}"


def test_the_site_is_built_from_docs_and_checks_its_links():
    assert MKDOCS["docs_dir"] == "docs" and MKDOCS["theme"]["name"] == "material"
    assert all(MKDOCS["validation"][k] == "warn" for k in ("unrecognized_links", "anchors", "omitted_files"))


def test_ci_builds_the_site_strictly():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any("pip install -e '.[docs]'" in line and "mkdocs build --strict" in line for line in ci)
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_docs_extra_installs_mkdocs_material():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^docs = \["mkdocs-material>=[\d.]+"\]$', text, re.M)


def test_the_site_quick_start_is_the_readmes():
    index = (DOCS / "index.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("pip install -e . && nnlab train configs/adam_relu.yaml", "pip install -e '.[test]' && pytest"):
        assert f"```bash\n{command}\n```" in index and f"```bash\n{command}\n```" in readme


@pytest.mark.slow
def test_mkdocs_build_strict_passes(tmp_path):
    mkdocs = shutil.which("mkdocs")
    if not mkdocs:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]'); CI builds the site in .ci/run")
    res = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


# --- readable tables ------------------------------------------------------------------------------------

def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def long_cells(path: Path):
    in_code = False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        if in_code or not line.lstrip().startswith("|"):
            continue
        for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]:
            if len(cell.strip()) > MAX_CELL:
                yield f"{path.relative_to(ROOT)}:{n}: a cell of {len(cell.strip())} characters: {cell.strip()[:60]}..."


def test_no_table_cell_is_a_paragraph():
    found = [msg for path in markdown_files() for msg in long_cells(path)]
    assert not found, f"table cells over {MAX_CELL} characters (write a list below the table):\n" + "\n".join(found)


# --- no path of the generating machine --------------------------------------------------------------------

# An absolute path of the machine that wrote a file: its work folder, a home folder, a temporary folder.
# The patterns are assembled from pieces so that this file does not match itself.
_ROOTS = ["work/", "root/", "home/[^/\\s`'\"]+/", "Users/[^/\\s`'\"]+/", "tmp/[\\w.-]+", "var/folders/", "private/var/"]
MACHINE_PATH = re.compile(r"(?<![\w.~/:-])/(?:" + "|".join(_ROOTS) + ")")

# (file, the text that matches, why it is not a path of this machine)
ALLOWED = {
    ("tests/look/test_terminal.py", "/" + "tmp/some"): "a made-up long folder path, the input of a width test",
}


def committed_text_files() -> list[Path]:
    """Every file git tracks, and every new one it would track (not ignored), that is text."""
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    res = subprocess.run([git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, timeout=60)
    if res.returncode != 0:
        pytest.skip(f"git ls-files failed: {res.stderr.decode(errors='replace')[:200]}")
    out = []
    for name in sorted(set(res.stdout.decode().split("\0")) - {""}):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: PNG, npz, gz
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append(path)
    return out


def test_no_committed_file_holds_a_path_of_the_machine_that_wrote_it():
    found = []
    for path in committed_text_files():
        rel = str(path.relative_to(ROOT))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in MACHINE_PATH.finditer(line):
                if (rel, m.group(0)) not in ALLOWED:
                    found.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not found, "absolute paths of the machine that wrote these files (write them relative):\n" + \
        "\n".join(found)


def test_the_machine_path_rule_finds_what_it_should():
    hits = ["see /" + "work/main/claims/x.yaml", "`/" + "tmp/pytest-of-root/x`", "/" + "home/ana/nnlab/runs",
            "cd /" + "root/nnlab", "/" + "Users/ana/x", "--json /" + "tmp/bench-full.json"]
    misses = ["claims/x.yaml", "https://example.org/work/x", "tcp://HEAD:8786", "~/.cache/nnlab", "/usr/bin/time",
              "runs/term-demo/x", "a/work/b", "$XDG_CACHE_HOME/nnlab"]
    assert all(MACHINE_PATH.search(h) for h in hits), [h for h in hits if not MACHINE_PATH.search(h)]
    assert not any(MACHINE_PATH.search(m) for m in misses), [m for m in misses if MACHINE_PATH.search(m)]
