"""The committed claims gallery's files: every claim file loads (full and quick), quotes its note word for
word, is judged in at least two regimes on at least ten seeds; the notes' other claims are accounted for in
claims/notes/untested.yaml; the notes are the ones the project was given."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnlab.claims.claim import MIN_REGIMES, MIN_SEEDS, claim_files, load_claim
from nnlab.claims.notes import missing_passages, read_note, squeeze
from nnlab.claims.untested import read_untested
from nnlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "claims"
NOTES = CLAIMS / "notes"
SEEDS = ROOT.parent / "shared" / "seeds"  # where the notes came from, on the machines that have it
FILES = claim_files([], CLAIMS)


@functools.lru_cache(maxsize=None)
def loaded(path: Path):
    """load_claim(path), once per claim file for all the tests below (they only read it)."""
    return load_claim(path)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_claim_file_loads_full_and_quick_with_its_originals_found(path):
    c = loaded(path)  # the originals are checked against the note on load
    assert len(c.seeds) >= MIN_SEEDS and len(c.regimes) >= MIN_REGIMES
    assert not set(c.seeds) & set(c.tune_seeds)
    assert c.original or c.extension, "a claim quotes its note or names its source as an extension"
    if c.original:
        text = read_note(NOTES / c.note)
        assert not missing_passages(c.original, text)
    assert len(c.design) > 80 and len(c.quote) > 20 and c.title
    head = path.read_text(encoding="utf-8").splitlines()[0]
    assert head.startswith("#"), "a claim file starts with a comment saying what the note says"
    q = load_claim(path, quick=True)
    assert len(q.seeds) == 2 and q.max_widen == 0


def test_every_note_is_quoted_and_the_claims_cover_each():
    notes = sorted(p.name for p in NOTES.glob("*.txt"))
    assert len(notes) == 5
    by_note = {n: [] for n in notes}
    for p in FILES:
        c = loaded(p)
        if c.note:
            by_note[c.note].append(c.id)
    assert all(len(ids) >= 5 for ids in by_note.values()), {n: len(i) for n, i in by_note.items()}
    assert sum(len(i) for i in by_note.values()) >= 60


def test_the_untested_list_quotes_its_notes_and_gives_each_a_reason():
    entries = read_untested(NOTES / "untested.yaml")  # checks every original against its note
    assert len(entries) >= 40
    ids = {p.stem for p in FILES}
    for e in entries:
        assert len(e["reason"]) > 20 and e["quote"]
        for named in re.findall(r"\b([a-z0-9]+(?:_[a-z0-9]+)+)\b", e["reason"]):
            if named in ("pca_whiten", "zca_whiten", "test_claim_files"):
                continue
            assert named in ids, f"{e['original'][:30]}: names {named}, which is no claim file"
    tested = " ".join(squeeze(" ".join(loaded(p).original)) for p in FILES)
    for e in entries:
        assert squeeze(e["original"]) not in tested, f"{e['original'][:30]} has a claim file of its own"


def test_a_wrong_original_in_the_untested_list_is_one_line(tmp_path):
    (tmp_path / "n.txt").write_text("原文。\n", encoding="utf-8")
    (tmp_path / "untested.yaml").write_text(yaml.safe_dump([{"note": "n.txt", "section": "s", "original": "原话。",
                                                             "quote": "q", "reason": "r"}], allow_unicode=True),
                                            encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        read_untested(tmp_path / "untested.yaml")
    assert e.value.lines == [f"{tmp_path / 'untested.yaml'}: entry 1: original: not found word for word in "
                             f"{tmp_path / 'n.txt'} (only whitespace may differ)"]


def test_the_notes_are_the_projects_notes_unchanged():
    if not SEEDS.is_dir():
        pytest.skip("the project's seed notes are not on this machine")
    for p in NOTES.glob("*.txt"):
        assert p.read_bytes() == (SEEDS / p.name).read_bytes(), p.name
    assert sorted(p.name for p in NOTES.glob("*.txt")) == sorted(p.name for p in SEEDS.glob("*.txt"))


def test_the_30_minute_posts_worked_example_through_nnlabs_layers():
    """Note 003's exercise: inputs (3, 4); n1 = max(3*1 + 4*(-1) + 9, 0) = 8, n2 = max(3*2 + 4*0 - 3, 0) = 3,
    y1 = max(4 n1 + 3 n2 + 5, 0) = 46, y2 = max(-2 n1 + n2 + 0, 0) = 0 ("答案是 y1 = 46, y2 = 0")."""
    from nnlab.components.activations import ReLU
    from nnlab.components.layers import Dense
    from nnlab.train.model import MLP

    model = MLP([("dense1", Dense(2)), ("act1", ReLU()), ("output", Dense(2))], 2, "float64")
    model.view("dense1.W")[...] = [[1, 2], [-1, 0]]
    model.view("dense1.b")[...] = [9, -3]
    model.view("output.W")[...] = [[4, -2], [3, 1]]
    model.view("output.b")[...] = [5, 0]
    h = model.forward(np.array([[3.0, 4.0]]))
    assert np.maximum(h, 0).tolist() == [[46.0, 0.0]]
    assert "答案是 y1 = 46" in read_note(NOTES / "003_a333818317fa00ee.txt")
