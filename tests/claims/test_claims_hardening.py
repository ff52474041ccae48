"""A claims output folder as a hostile user leaves it (hardening findings 2, 3, 18, 24 and 30): nnlab claims
run deletes only what it can prove it made, takes the lock before it changes anything, resumes what is
missing instead of reusing it, and says in one line what it will not do.

The claim of these tests is tiny (blobs, two variants, two learning rates to tune, two regimes, 10 judging
seeds); most tests run it with --quick (2 judging seeds, 1 tuning seed: 16 runs in a second or two), whose
folder is ``out/tiny-quick``: per regime ``tune/`` and ``judge/``, each an ordinary sweep folder.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import invoke, small_disk

NOTE = "A tiny note for the tests.\nReLU trains better than\n  the sigmoid, they say.\n"
BASE = {"data": {"name": "blobs", "n_samples": 120}, "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 2, "batch_size": 40, "optimizer": {"name": "sgd", "lr": 0.1}}}
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]

pytestmark = pytest.mark.slow  # every test runs the tiny claim (16 runs or more) at least once: seconds each


def claims_dir(tmp_path, epochs: int = 2, title: str = "ReLU beats sigmoid") -> Path:
    """claims/tiny.yaml (and the note it quotes, claims/notes/n.txt) in ``tmp_path``."""
    d = tmp_path / "claims"
    (d / "notes").mkdir(parents=True, exist_ok=True)
    (d / "notes" / "n.txt").write_text(NOTE)
    (d / "tiny.yaml").write_text(yaml.safe_dump({
        "claim": {"title": title,
                  "source": {"note": "n.txt", "section": "activations",
                             "original": "ReLU trains better than the sigmoid"},
                  "quote": "ReLU trains better than the sigmoid.", "design": "Two activations on tiny blobs.",
                  "expect": [{"metric": "test_acc", "better": "relu", "than": "sigmoid"}]},
        "config": {**BASE, "train": {**BASE["train"], "epochs": epochs}},
        "variants": {"relu": {"model.activation": "relu"}, "sigmoid": {"model.activation": "sigmoid"}},
        "tune": {"train.optimizer.lr": [0.05, 0.2]},
        "regimes": {"a": {}, "b": {"data.n_samples": 100}},
        "seeds": 10}, sort_keys=False))
    return d


def run(tmp_path, *extra):
    return invoke("claims", "run", "tiny", "--claims-dir", tmp_path / "claims", "--out", tmp_path / "out", "-j", "1",
                  *extra)


def one_line(res, code: int, needle: str) -> None:
    assert res.exit_code == code, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], res.output
    assert "Traceback" not in res.output


def runs_of(folder: Path) -> dict:
    """'<regime>/<sweep>/<run>' -> the run's summary.json (bytes), for every run folder of the claim folder."""
    return {str(d.relative_to(folder)): (d / "summary.json").read_bytes() if (d / "summary.json").is_file() else None
            for d in sorted(folder.glob("*/*/runs/*"))}


def epochs_of(run: Path) -> int:
    return yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"]


def test_02_a_folder_nnlab_cannot_prove_it_made_is_never_deleted(tmp_path):
    claims_dir(tmp_path)
    folder = tmp_path / "out" / "tiny-quick"
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("a user's file")
    one_line(run(tmp_path, "--quick"), 1, "holds files but no claim.json, so nnlab cannot tell that it made them")
    assert [p.name for p in folder.iterdir() if p.name != ".lock"] == ["thesis.tex"]
    assert (folder / "thesis.tex").read_text() == "a user's file"
    shutil.rmtree(folder)
    assert run(tmp_path, "--quick").exit_code == 0
    before = runs_of(folder)
    assert len(before) == 16  # per regime: 2 variants x 2 rates x 1 tuning seed, then 2 variants x 2 seeds
    (folder / "claim.json").unlink()  # a finished claim whose claim.json went: its runs are not retrained
    one_line(run(tmp_path, "--quick"), 1, "holds files but no claim.json")
    assert runs_of(folder) == before


def test_02_a_changed_claim_removes_only_nnlabs_files_and_refuses_a_foreign_one(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    folder = tmp_path / "out" / "tiny-quick"
    judged = folder / "a" / "judge" / "runs" / "t000-seed0"
    (judged / "notes.txt").write_text("mine")
    old_judge = {k: v for k, v in runs_of(folder).items() if k.startswith("a/judge/")}
    claims_dir(tmp_path, epochs=3)  # the claim changed: its sweeps must run again
    one_line(run(tmp_path, "--quick"), 1,
             "notes.txt: not a file nnlab writes there; nnlab deletes only what it can prove it made")
    assert (judged / "notes.txt").read_text() == "mine"
    assert {k: v for k, v in runs_of(folder).items() if k.startswith("a/judge/")} == old_judge  # none half deleted
    assert (judged / "model.npz").is_file() and epochs_of(judged) == 2
    assert epochs_of(folder / "a" / "tune" / "runs" / "t000-seed100") == 3  # only nnlab's: replaced
    (judged / "notes.txt").unlink()
    res = run(tmp_path, "--quick")
    assert res.exit_code == 0 and "tiny · a · judging: the claim changed since" in res.output, res.output
    assert {epochs_of(d) for d in folder.glob("*/*/runs/*")} == {3}


def test_03_two_runs_of_a_changed_claim_never_delete_each_others_live_folder(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    claims_dir(tmp_path, epochs=3000)  # changed, and slow enough to overlap
    args = [*CLI, "claims", "run", "tiny", "--quick", "--claims-dir", str(tmp_path / "claims"), "--out",
            str(tmp_path / "out"), "-j", "1"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    live = tmp_path / "out" / "tiny-quick" / "a" / "tune" / "runs" / "t000-seed100"
    deadline = time.monotonic() + 60

    def started():  # the changed claim's own first run has begun (its config says 3000 epochs)
        try:
            return epochs_of(live) == 3000 and (live / "metrics.csv").is_file()
        except (OSError, TypeError, KeyError, yaml.YAMLError):
            return False

    while time.monotonic() < deadline and not started():
        time.sleep(0.05)
    assert started(), first.poll()
    second = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "another nnlab is running this claim" in second.stderr, second.stderr
    assert epochs_of(live) == 3000 and (live / "metrics.csv").is_file()  # the first's live folder is intact
    first.send_signal(2)
    first.communicate(timeout=60)
    assert first.returncode == 130


def test_18_a_run_deleted_or_damaged_after_the_claim_finished_is_resumed_not_reused(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    folder = tmp_path / "out" / "tiny-quick"
    before = runs_of(folder)
    gone, damaged, tuned = "a/judge/runs/t001-seed1", "a/judge/runs/t000-seed0", "b/tune/runs/t002-seed100"
    shutil.rmtree(folder / gone)
    shutil.rmtree(folder / tuned)
    (folder / damaged / "summary.json").write_text("{damaged")
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    assert res.exit_code == 0, res.output  # the values were measured when the claim finished; a curve is missing
    res = run(tmp_path, "--quick")
    assert res.exit_code == 0 and "tiny: ran (16 runs)" in res.output, res.output
    after = runs_of(folder)
    assert sorted(after) == sorted(before)
    assert {k for k in after if after[k] != before[k]} == {gone, damaged, tuned}  # those three only, trained again
    for k in (gone, damaged, tuned):
        assert json.loads(after[k])["status"] == "completed"
    values = {(r["regime"], r["run"]) for r in csv.DictReader(open(folder / "values.csv"))}
    assert ("a", gone) in values and ("a", damaged) in values and len(values) == 8
    res = run(tmp_path, "--quick")
    assert res.exit_code == 0 and "tiny: reused (16 runs)" in res.output, res.output
    assert runs_of(folder) == after


def test_18_values_csv_deleted_or_cut_after_the_claim_finished_is_measured_again_not_reused(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    folder = tmp_path / "out" / "tiny-quick"
    runs, values = runs_of(folder), (folder / "values.csv").read_text()
    assert len(values.splitlines()) == 9  # a header, then per regime 2 variants x 2 seeds
    for damage in ("gone", "cut"):
        if damage == "gone":
            (folder / "values.csv").unlink()
        else:
            (folder / "values.csv").write_text(values[:len(values) // 2])
        res = run(tmp_path, "--quick")
        assert res.exit_code == 0 and "tiny: ran (16 runs)" in res.output, res.output
        assert (folder / "values.csv").read_text() == values  # measured again, from the same runs
        assert runs_of(folder) == runs  # none trained again
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    assert res.exit_code == 0 and "note:" not in res.output, res.output


def test_24_a_link_or_a_file_as_the_claims_folder_and_a_file_where_figures_go(tmp_path):
    claims_dir(tmp_path)
    folder = tmp_path / "out" / "tiny-quick"
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    folder.symlink_to(tmp_path / "elsewhere")
    one_line(run(tmp_path, "--quick"), 1, "tiny-quick: is a symbolic link, where the claim's folder goes")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    folder.unlink()
    folder.write_text("a file")
    one_line(run(tmp_path, "--quick"), 1, "tiny-quick: is not a folder, where the claim's folder goes")
    assert folder.read_text() == "a file"
    folder.unlink()
    assert run(tmp_path, "--quick").exit_code == 0
    shutil.rmtree(folder / "b" / "judge")  # a link where a sweep of the finished claim goes
    (folder / "b" / "judge").symlink_to(tmp_path / "elsewhere")
    one_line(run(tmp_path, "--quick"), 1, "judge: a symbolic link where a sweep of the claim goes")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    (tmp_path / "gf").write_text("a file named like the figures' folder")
    one_line(invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "gf.md"), 1,
             "gf: is a file, where the page's figures go")
    assert (tmp_path / "gf").read_text() == "a file named like the figures' folder"
    assert not (tmp_path / "gf.md").exists()


def test_23_claims_report_on_a_read_only_disk_is_one_line(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    with small_disk(tmp_path / "ro", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        one_line(invoke("claims", "report", "--out", tmp_path / "out", "-o", disk / "g.md"), 1,
                 "Read-only file system")
        one_line(invoke("claims", "run", "tiny", "--quick", "--claims-dir", tmp_path / "claims", "--out",
                        disk / "out"), 1, "Read-only file system")


def test_30_report_claims_dir_without_a_match_and_titles_as_text(tmp_path):
    claims_dir(tmp_path, title="<b>bold</b> & <script>x</script>")
    assert run(tmp_path, "--quick").exit_code == 0
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "g.md").read_text()
    assert "**&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;**" in page and "<script>" not in page
    other = tmp_path / "other"
    other.mkdir()
    (other / "unrelated.yaml").write_text("x: 1")
    res = invoke("claims", "report", "--out", tmp_path / "out", "--claims-dir", other, "-o", tmp_path / "h.md")
    one_line(res, 2, "none of its claim folders is one of the claims with a file in --claims-dir (1 there)")
    assert not (tmp_path / "h.md").exists()


def test_a_claim_folder_lists_only_what_nnlab_writes(tmp_path):
    from nnlab.claims.run import made_in_claim_folder

    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0  # the full claim: 10 judging seeds
    folder = tmp_path / "out" / "tiny-full"
    assert (folder / "a" / "tune").is_dir() and (folder / "b" / "judge" / "runs" / "t001-seed9").is_dir()
    assert made_in_claim_folder(Path("a") / "tune-2", True) and made_in_claim_folder(Path("a/tune-3/runs"), True)
    seen = sorted(folder.rglob("*"))
    assert len(seen) > 100
    for p in seen:
        assert made_in_claim_folder(p.relative_to(folder), p.is_dir()), p
    for foreign in ("notes.txt", "a/notes.txt", "a/tune/notes.txt", "a/judge/runs/t000-seed0/notes.txt"):
        assert not made_in_claim_folder(Path(foreign), False), foreign
    assert json.loads((folder / "summary.json").read_text())["kind"] == "claim"


def test_23_claims_report_on_a_full_disk_is_one_line_and_leaves_no_half_file(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path, "--quick").exit_code == 0
    with small_disk(tmp_path / "full", "64k") as disk:
        with open(disk / "filler", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        res = invoke("claims", "report", "--out", tmp_path / "out", "-o", disk / "g.md")
        one_line(res, 1, "No space left on device")
        assert not [p for p in disk.rglob("*") if p.name not in ("filler", "g")]  # no half-written page
