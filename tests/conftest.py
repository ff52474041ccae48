"""Shared by every test: tests/ on the import path (helpers.py: configs, the CLI runner, the HTML checker,
the resume helpers), and the ``slow`` marker (``pytest -m "not slow"`` is the quick loop, under 30 s).

The tests mirror the package: tests/components/ for nnlab/components/, tests/sweep/ for nnlab/sweep/, ...;
a top-level module's tests are tests/test_<module>.py.  Every test file's name is unique (pytest imports
them by their base name).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402


def pytest_collection_modifyitems(items):
    """A test that uses one of its module's SLOW_FIXTURES (the module-wide runs or sweep it shares: seconds to
    make) is slow too."""
    for item in items:
        slow = getattr(getattr(item, "module", None), "SLOW_FIXTURES", ())
        if set(slow) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
