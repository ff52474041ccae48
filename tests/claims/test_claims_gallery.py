"""The committed gallery (docs/claims.md) is what nnlab claims report writes from a full run of every claim:
each claim file has its section with its note's words, each verdict follows the stated rule from the
numbers beside it, the regimes' verdicts add up to the overall line, and the page names no machine path."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from nnlab.claims.claim import claim_files, load_claim
from nnlab.claims.untested import read_untested
from nnlab.claims.verdict import FAILS, HOLDS, INCONCLUSIVE, combine
from nnlab.claims.gallery import overall

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "claims.md"
TEXT = html.unescape(PAGE.read_text(encoding="utf-8"))  # the page escapes &, < and > of every text it quotes
LINE = re.compile(r"^- (?P<what>.+?): (?P<detail>.+), Holm-adjusted p (?P<p>= [0-9.e-]+|< 0\.0001): "
                  r"(?P<verdict>holds|does not hold|inconclusive)(?: \((?P<note>.+)\))?$")
REGIME = re.compile(r"^\*\*Regime (?P<name>\S+)\*\* \((?P<setting>.+)\): \*\*(?P<verdict>[a-z ]+)\*\*$")


def sections() -> dict[str, str]:
    claims = TEXT.split("## The notes' claims not tested", 1)[0]
    parts = re.split(r"^### ", claims, flags=re.M)[1:]
    return {p.split("\n", 1)[0].strip(): p for p in parts}


SECTIONS = sections()


def test_every_claim_file_has_its_section_with_the_notes_words_and_a_full_run():
    files = claim_files([], ROOT / "claims")
    assert sorted(SECTIONS) == sorted(p.stem for p in files)
    for p in files:
        c = load_claim(p)
        sec = SECTIONS[c.id]
        for original in c.original:
            assert f"> {original}" in sec.replace("\\|", "|") or original in sec
        assert "full run" in sec and "quick run" not in sec
        rows = [ln for ln in sec.splitlines() if ln.startswith("| ") and not ln.startswith("| variant")]
        assert rows and all(ln.rstrip(" |").endswith("| 10") for ln in rows), c.id  # 10 judging seeds each


def test_every_verdict_follows_the_rule_from_its_numbers():
    seen = 0
    for cid, sec in SECTIONS.items():
        regimes = re.split(r"^(?=\*\*Regime )", sec, flags=re.M)[1:]
        verdicts = []
        for block in regimes:
            head = REGIME.match(block.splitlines()[0])
            assert head, block.splitlines()[0]
            lines = [LINE.match(ln) for ln in block.splitlines() if ln.startswith("- ") and "Holm-adjusted" in ln]
            assert lines and all(lines), cid
            for m in lines:
                seen += 1
                p = 0.0 if m["p"].startswith("<") else float(m["p"][2:])
                if p >= 0.05:
                    assert m["verdict"] == INCONCLUSIVE, m.group(0)
                else:
                    assert m["verdict"] in (HOLDS, FAILS), m.group(0)
                    diff = re.search(r"mean (?:difference )?([-+][0-9.e+-]+)", m["detail"])
                    if diff and "against [" not in m["detail"] and "threshold" not in m["detail"]:
                        assert (float(diff.group(1)) > 0) == (m["verdict"] == HOLDS), m.group(0)
            # a regime's verdict combines its checks; a check's hypotheses must all hold
            hyps = [m["verdict"] for m in lines]
            assert head["verdict"] in (HOLDS, FAILS, INCONCLUSIVE)
            if head["verdict"] == HOLDS:
                assert all(v == HOLDS for v in hyps), cid
            if FAILS in hyps:
                assert head["verdict"] == FAILS, cid
            verdicts.append(head["verdict"])
        assert f"**Overall: {overall(verdicts)}.**" in sec, cid
        assert combine(verdicts) in (HOLDS, FAILS, INCONCLUSIVE)
    assert seen >= 150


def test_the_summary_table_lists_each_claims_overall_line():
    for cid, sec in SECTIONS.items():
        line = re.search(r"\*\*Overall: (.+)\.\*\*", sec).group(1)
        assert f"| [{cid}](#{cid}) |" in TEXT and f"| {line} |" in TEXT


def test_the_untested_claims_close_the_page():
    tail = TEXT.split("## The notes' claims not tested", 1)[1]
    for e in read_untested(ROOT / "claims" / "notes" / "untested.yaml"):
        assert e["original"].replace("|", "\\|") in tail or e["original"] in tail, e["original"][:30]


def test_figures_exist_and_the_page_names_no_machine_path():
    for png in re.findall(r"\]\((claims/[^)]+\.png)\)", TEXT):
        assert (PAGE.parent / png).stat().st_size > 5000, png
    assert not re.search(r"(?<![\w.])/(tmp|work|root|home|usr)/", TEXT)  # an absolute path of some machine


@pytest.mark.parametrize("word", ["Holm", "paired", "95%", "90%", "sign test", "tuning seeds"])
def test_the_rule_is_stated_on_the_page(word):
    assert word in TEXT.split("## The notes' claims", 1)[0]
