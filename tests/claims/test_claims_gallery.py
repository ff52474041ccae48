"""The committed gallery (docs/claims.md) is what the code writes, and its verdicts follow its stated rule."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "claims.md"
PAIR = re.compile(r"^- (.+?): d = (\S+), 2·se = (\S+): (holds|does not hold|inconclusive)$")
SAME = re.compile(r"^- (.+?) same as (.+?) within (\S+): \|d\| = (\S+), 2·se = (\S+): (holds|does not hold|inconclusive)$")
BOUND = re.compile(r"^- (.+?): mean (\S+) ± 2·se (\S+) (below|above) (\S+): (holds|does not hold|inconclusive)$")


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {p.split("\n", 1)[0].strip(): p for p in parts}


def rule_pair(d: float, two_se: str) -> str:
    if math.isinf(d):  # one variant's mean is infinite (5 seeds each on the committed page): decided by it
        return "holds" if d > 0 else "does not hold"
    if two_se == "n/a":
        return "inconclusive"
    t = float(two_se)
    return "holds" if d > t else "does not hold" if d < -t else "inconclusive"


def rule_bound(mean: float, two_se: str, side: str, x: float) -> str:
    if two_se == "n/a":
        return "inconclusive"
    t = float(two_se)
    lo, hi = mean - t, mean + t
    if side == "below":
        return "holds" if hi < x else "does not hold" if lo > x else "inconclusive"
    return "holds" if lo > x else "does not hold" if hi < x else "inconclusive"


def rule_same(d: float, two_se: str, tol: float) -> str:
    if two_se == "n/a":
        return "inconclusive"
    t = float(two_se)
    return "holds" if d + t < tol else "does not hold" if d - t > tol else "inconclusive"


def combined(verdicts: list[str]) -> str:
    if "does not hold" in verdicts:
        return "does not hold"
    return "holds" if verdicts and all(v == "holds" for v in verdicts) else "inconclusive"


def test_every_claim_has_its_section_and_a_verdict_that_follows_the_rule():
    text = PAGE.read_text(encoding="utf-8")
    secs = sections(text)
    ids = sorted(p.stem for p in (ROOT / "claims").glob("*.yaml"))
    assert sorted(secs) == ids
    summary = {m[1]: m[2] for m in re.finditer(r"^\| \[(\w+)\]\(#\w+\) \|.*\| (holds|does not hold|inconclusive) \|$",
                                                text, flags=re.M)}
    assert sorted(summary) == ids
    for cid, sec in secs.items():
        verdict = re.search(r"^\*\*Verdict: (holds|does not hold|inconclusive)\.\*\*$", sec, flags=re.M)[1]
        lines = [ln for ln in sec.splitlines() if ln.startswith("- ")]
        got = []
        for ln in lines:
            if m := PAIR.match(ln):
                assert m[4] == rule_pair(float(m[2]), m[3]), (cid, ln)
                got.append(m[4])
            elif m := BOUND.match(ln):
                assert m[6] == rule_bound(float(m[2]), m[3], m[4], float(m[5])), (cid, ln)
                got.append(m[6])
            elif m := SAME.match(ln):
                assert m[6] == rule_same(float(m[4]), m[5], float(m[3])), (cid, ln)
                got.append(m[6])
        assert got and verdict == combined(got), cid
        assert summary[cid] == verdict
        assert "(quick)" not in sec and "| 5 |" in sec  # the committed page is a full run: 5 seeds a variant
        figure = re.search(r"!\[.*?\]\((.+?\.png)\)", sec)[1]
        assert (PAGE.parent / figure).is_file(), figure


def skeleton(section: str) -> list[str]:
    """A section's structure: headings, source, expectation, table header, figure, the compared pairs."""
    out = []
    for ln in section.splitlines():
        if ln.startswith(("**", ">", "| variant", "![", "Expected:")):
            out.append(re.sub(r"\*\*Verdict: .*", "**Verdict", ln))
        elif m := PAIR.match(ln):
            out.append(f"pair {m[1]}")
        elif m := BOUND.match(ln):
            out.append(f"bound {m[1]} {m[4]} {m[5]}")
    return out


@pytest.mark.slow
def test_a_regenerated_claim_has_the_committed_sections_structure(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["claims", "run", "lr_too_high", "--quick", "--out", str(tmp_path / "out"),
                               "--claims-dir", str(ROOT / "claims")])
    assert res.exit_code == 0, res.output
    md = tmp_path / "claims.md"
    res = runner.invoke(main, ["claims", "report", "--out", str(tmp_path / "out"), "-o", str(md),
                               "--claims-dir", str(ROOT / "claims")])
    assert res.exit_code == 0, res.output
    fresh = sections(md.read_text(encoding="utf-8"))["lr_too_high"]
    committed = sections(PAGE.read_text(encoding="utf-8"))["lr_too_high"]
    assert skeleton(fresh) == skeleton(committed)
    assert (tmp_path / "claims" / "lr_too_high.png").is_file()
