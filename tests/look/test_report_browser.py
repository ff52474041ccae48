"""The report in a real browser: headless Chromium at 1280 px, its layout measured through the DOM.

Skipped when no Chromium is installed (Debian's chromium package provides /usr/bin/chromium).  The
report itself has no script; the test copies it with a small one that writes the measurements into
the page, and reads them back from ``chromium --headless --dump-dom``.

Run as a script to screenshot a report at 1280 px: python tests/test_report_browser.py report.html shot.png
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import fake_runs

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
WIDTH = 1280

MEASURE = """<script>
(function () {
  var page = document.documentElement.clientWidth, out = {page: page, doc: document.documentElement.scrollWidth,
                                                          tables: []};
  document.querySelectorAll("table").forEach(function (t) {
    var r = t.getBoundingClientRect(), box = t.parentElement;
    out.tables.push({id: t.id || t.className, left: r.left, right: r.right, width: r.width,
                     overflow: box.scrollWidth - box.clientWidth});
  });
  var p = document.createElement("pre");
  p.id = "measured";
  p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
})();
</script>"""


def chromium(*args: str, timeout: float = 90) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--window-size={WIDTH},2000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout


def measure(report: Path) -> dict:
    """The page's and every table's width in Chromium at WIDTH px."""
    page = report.with_name(report.stem + "-measured.html")
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = chromium("--dump-dom", page.resolve().as_uri())
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def assert_fits(m: dict) -> None:
    assert m["page"] <= WIDTH and m["doc"] <= m["page"], m  # no horizontal scrolling of the page
    comparison = [t for t in m["tables"] if t["id"] == "comparison"]
    assert comparison, m
    for t in m["tables"]:  # the comparison table (and every other) fits the viewport: nothing off-screen
        assert t["left"] >= 0 and t["right"] <= m["page"] and t["overflow"] <= 0, (t, m["page"])


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium to render the report")
pytestmark = pytest.mark.slow  # each test starts a headless Chromium: seconds


@needs_chromium
@pytest.mark.parametrize("group", [True, False], ids=["300 runs in groups", "60 runs, one row each"])
def test_the_comparison_table_fits_1280_px(tmp_path, group):
    from nnlab.look.report import write_report
    from nnlab.runs import find_runs

    fake_runs(tmp_path / "runs", n_configs=30 if group else 60, seeds=10 if group else 1)
    runs, _ = find_runs([tmp_path / "runs"])
    report = write_report(runs, tmp_path / "report.html", group=group)
    m = measure(report)
    assert_fits(m)
    # and the page is laid out as meant: the table is as wide as the text column, not squeezed
    (t,) = [t for t in m["tables"] if t["id"] == "comparison"]
    assert t["width"] > 0.7 * m["page"], t


@needs_chromium
def test_the_old_layout_would_have_failed(tmp_path):
    """The measurement catches an overflowing table (a guard against a test that cannot fail)."""
    page = tmp_path / "wide.html"
    cells = "".join(f"<td>{'x' * 40}</td>" for _ in range(60))
    page.write_text(f"<!DOCTYPE html><html><body><div class='scroll' style='overflow-x:auto'>"
                    f"<table id='comparison'><tr>{cells}</tr></table></div></body></html>")
    m = measure(page)
    with pytest.raises(AssertionError):
        assert_fits(m)


if __name__ == "__main__":  # a screenshot of a report, as a person would see it
    if len(sys.argv) != 3 or CHROMIUM is None:
        sys.exit("usage: python tests/test_report_browser.py REPORT.html SHOT.png (needs chromium)")
    chromium(f"--screenshot={Path(sys.argv[2]).resolve()}", Path(sys.argv[1]).resolve().as_uri())
