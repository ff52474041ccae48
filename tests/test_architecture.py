"""The package's shape, checked on its source: the layer contracts (lint-imports) and what they cannot see.

lint-imports (in CI, and below when import-linter is installed) keeps the layers and forbids cycles; these
tests keep the rest of nnlab's rules: no private name imported across modules, every module name used
once, an import inside a function only where start-up time asks for it, and the leaf modules free of nnlab.
"""

from __future__ import annotations

import ast
import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nnlab"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def nnlab_imports(path: Path) -> tuple:
    """(imported module, imported names, inside a function?, line) for every import of nnlab in a file (each file
    parsed once for all the tests)."""
    tree = ast.parse(path.read_text())
    out = []

    def walk(node, inside):
        for child in ast.iter_child_nodes(node):
            fn = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and (child.module or "").startswith("nnlab"):
                out.append((child.module, [a.name for a in child.names], inside, child.lineno))
            elif isinstance(child, ast.Import):
                out.extend((a.name, [], inside, child.lineno) for a in child.names if a.name.startswith("nnlab"))
            walk(child, fn)
    walk(tree, False)
    return tuple(out)


SOURCES = sorted(PACKAGE.rglob("*.py"))

# where an import inside a function is allowed, and why: each keeps a command's start-up time
LAZY = {
    "nnlab.cli": "every command module imports what its command needs when it runs: nnlab --help loads no numpy",
    "nnlab.runs.read": "load_model builds a network; reading run folders (runs, show) must not load the trainer",
    "nnlab.runs.compare": "a component's defaults load every component; compare needs them only for options",
    "nnlab.runs.diagnosis": "a rule asks a component's capability only when a run folder names one",
    "nnlab.train.threads": "the CLI reads NNLAB_THREADS through it before every command, numpy-free",
}


def test_no_private_name_is_imported_across_modules():
    found = [f"{module_name(p)}:{line}: {mod}.{name}" for p in SOURCES for mod, names, _, line in nnlab_imports(p)
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert not found, "private names imported from another module:\n" + "\n".join(found)


def test_imports_inside_functions_only_where_start_up_time_asks_for_them():
    found = [f"{module_name(p)}:{line}: {mod}" for p in SOURCES for mod, _, inside, line in nnlab_imports(p)
             if inside and not any(module_name(p) == m or module_name(p).startswith(m + ".") for m in LAZY)]
    assert not found, "an import inside a function outside the modules that need it for start-up time " \
                      "(import it at the top, or add the module and its reason to LAZY):\n" + "\n".join(found)
    for prefix in LAZY:  # and each of them says so in a comment or its docstring
        files = [p for p in SOURCES if module_name(p) == prefix or module_name(p).startswith(prefix + ".")]
        lazy = [p for p in files if any(inside for _, _, inside, _ in nnlab_imports(p))]
        for p in lazy:
            assert "start-up" in p.read_text() or "not at the top" in p.read_text() or "imported here" in \
                p.read_text(), f"{p}: say in a comment why its imports wait"


def test_every_module_name_is_used_once():
    names = [p.name for p in SOURCES if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_the_leaves_import_nothing_of_nnlab_but_the_exception_types_and_the_formatter():
    leaves = {"errors": set(), "text": set(), "options": {"nnlab.errors", "nnlab.text"},
              "files": {"nnlab.errors", "nnlab.text"}, "interrupt": set(), "metrics": set(),
              "progress": set()}
    for name, allowed in leaves.items():
        got = {mod for mod, _, _, _ in nnlab_imports(PACKAGE / f"{name}.py")}
        assert got <= allowed, f"nnlab.{name} imports {sorted(got - allowed)}"


def test_the_layer_contracts_are_kept():
    lint = shutil.which("lint-imports") or (Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    res = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "2 kept, 0 broken" in res.stdout
