"""A claims output folder as a hostile user leaves it (hardening findings 2, 3, 18, 24 and 30): nnlab claims
run deletes only what it can prove it made, takes the lock before it changes anything, resumes what is
missing instead of reusing it, and says in one line what it will not do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import invoke, small_disk

BASE = {"data": {"name": "blobs", "n_samples": 120}, "model": {"hidden": [8], "activation": "relu"},
        "train": {"epochs": 3, "batch_size": 40, "optimizer": {"name": "sgd", "lr": 0.1}}}
CLI = [sys.executable, "-c", "from nnlab.cli import main; main()"]


def claims_dir(tmp_path, epochs: int = 3, title: str = "ReLU beats sigmoid") -> Path:
    d = tmp_path / "claims"
    d.mkdir(exist_ok=True)
    (d / "tiny.yaml").write_text(yaml.safe_dump({
        "claim": {"title": title, "source": {"note": "003_x.txt", "section": "activations"},
                  "quote": "ReLU trains better than sigmoid.",
                  "expect": {"metric": "test_acc", "by": "model.activation", "better": "relu", "than": "sigmoid"}},
        "quick": {"train.epochs": 2},
        "sweep": {"config": {**BASE, "train": {**BASE["train"], "epochs": epochs}}, "method": "grid",
                  "seeds": [0, 1, 2, 3, 4], "params": {"model.activation": ["relu", "sigmoid"]}}}))
    return d


def run(tmp_path, *extra):
    return invoke("claims", "run", "tiny", "--claims-dir", tmp_path / "claims", "--out", tmp_path / "out", "-j", "1",
                  *extra)


def one_line(res, code: int, needle: str) -> None:
    assert res.exit_code == code, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], res.output
    assert "Traceback" not in res.output


def test_02_a_folder_nnlab_cannot_prove_it_made_is_never_deleted(tmp_path):
    claims_dir(tmp_path)
    folder = tmp_path / "out" / "tiny-full"
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("a user's file")
    one_line(run(tmp_path), 1, "holds files but no sweep.yaml, so nnlab cannot tell that it made them")
    assert (folder / "thesis.tex").read_text() == "a user's file"
    shutil.rmtree(folder)
    assert run(tmp_path).exit_code == 0
    (folder / "sweep.yaml").unlink()  # a finished claim whose sweep.yaml went: its runs are not retrained
    one_line(run(tmp_path), 1, "holds files but no sweep.yaml")
    assert len(list((folder / "runs").iterdir())) == 10


def test_02_a_changed_claim_removes_only_nnlabs_files_and_refuses_a_foreign_one(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    folder = tmp_path / "out" / "tiny-full"
    (folder / "runs" / "t000-seed0" / "notes.txt").write_text("mine")
    claims_dir(tmp_path, epochs=4)  # the claim changed: its sweep must run again
    one_line(run(tmp_path), 1, "notes.txt: not a file nnlab writes there; nnlab deletes only what it can prove it made")
    assert (folder / "runs" / "t000-seed0" / "notes.txt").read_text() == "mine"
    assert (folder / "runs" / "t000-seed0" / "model.npz").is_file()  # nothing half deleted
    (folder / "runs" / "t000-seed0" / "notes.txt").unlink()
    res = run(tmp_path)
    assert res.exit_code == 0 and "the claim's sweep changed" in res.output, res.output
    assert yaml.safe_load((folder / "runs" / "t000-seed0" / "config.yaml").read_text())["train"]["epochs"] == 4


@pytest.mark.slow
def test_03_two_runs_of_a_changed_claim_never_delete_each_others_live_folder(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    claims_dir(tmp_path, epochs=3000)  # changed, and slow enough to overlap
    args = [*CLI, "claims", "run", "tiny", "--claims-dir", str(tmp_path / "claims"), "--out", str(tmp_path / "out"),
            "-j", "1"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "out" / "tiny-full"
    deadline = time.monotonic() + 60
    def started():  # the changed claim's own first run has begun (its config says 3000 epochs)
        try:
            return yaml.safe_load((folder / "runs" / "t000-seed0" / "config.yaml").read_text())["train"]["epochs"] == 3000
        except (OSError, TypeError, KeyError, yaml.YAMLError):
            return False

    while time.monotonic() < deadline and not started():
        time.sleep(0.05)
    second = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "another nnlab is running this claim" in second.stderr, second.stderr
    assert (folder / "runs" / "t000-seed0" / "metrics.csv").is_file()  # the first's live folder is intact
    first.send_signal(2)
    first.communicate(timeout=60)


def test_18_a_run_deleted_or_damaged_after_the_claim_finished_is_resumed_not_reused(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    folder = tmp_path / "out" / "tiny-full"
    shutil.rmtree(folder / "runs" / "t001-seed3")
    (folder / "runs" / "t000-seed2" / "summary.json").write_text("{damaged")
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    assert res.exit_code == 0
    assert "relu: n = 4, sigmoid: n = 4 of the 5 seeds" in res.output and "**Warning:**" in (tmp_path / "g.md").read_text()
    res = run(tmp_path)
    assert res.exit_code == 0 and "tiny: resumed (10 runs)" in res.output, res.output
    assert "2 to run again" in res.output
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    assert "n = 4" not in res.output and "Warning" not in (tmp_path / "g.md").read_text()
    assert "| 5 |" in (tmp_path / "g.md").read_text()


def test_24_a_link_or_a_file_as_the_claims_folder_and_a_file_where_figures_go(tmp_path):
    claims_dir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "tiny-full").symlink_to(tmp_path / "elsewhere")
    one_line(run(tmp_path), 1, "tiny-full: is a symbolic link, where the claim's sweep folder goes")
    assert list((tmp_path / "elsewhere").iterdir()) == []
    (tmp_path / "out" / "tiny-full").unlink()
    (tmp_path / "out" / "tiny-full").write_text("a file")
    one_line(run(tmp_path), 1, "tiny-full: is not a folder")
    (tmp_path / "out" / "tiny-full").unlink()
    assert run(tmp_path).exit_code == 0
    (tmp_path / "gf").write_text("a file named like the figures' folder")
    one_line(invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "gf.md"), 1,
             "gf: is a file, where the page's figures go")


def test_23_claims_report_on_a_read_only_disk_is_one_line(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    with small_disk(tmp_path / "ro", "1m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        res = invoke("claims", "report", "--out", tmp_path / "out", "-o", disk / "g.md")
        assert res.exit_code != 0 and "Traceback" not in res.output and "Read-only file system" in res.output
        res = invoke("claims", "run", "tiny", "--claims-dir", tmp_path / "claims", "--out", disk / "out")
        assert res.exit_code != 0 and "Traceback" not in res.output and "Read-only file system" in res.output


def test_30_report_claims_dir_without_a_match_and_titles_as_text(tmp_path):
    claims_dir(tmp_path, title="<b>bold</b> & <script>x</script>")
    assert run(tmp_path).exit_code == 0
    res = invoke("claims", "report", "--out", tmp_path / "out", "-o", tmp_path / "g.md")
    page = (tmp_path / "g.md").read_text()
    assert "**&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;**" in page and "<script>" not in page
    other = tmp_path / "other"
    other.mkdir()
    (other / "unrelated.yaml").write_text("x: 1")
    res = invoke("claims", "report", "--out", tmp_path / "out", "--claims-dir", other, "-o", tmp_path / "h.md")
    one_line(res, 2, "none of its claim sweeps is one of the claims with a file in --claims-dir")


def test_a_claim_sweep_folder_lists_only_what_nnlab_writes(tmp_path):
    from nnlab.sweep.record import made_in_sweep_folder

    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    folder = tmp_path / "out" / "tiny-full"
    for p in folder.rglob("*"):
        assert made_in_sweep_folder(p.relative_to(folder), p.is_dir()), p
    assert json.loads((folder / "summary.json").read_text())["kind"] == "sweep"


def test_23_claims_report_on_a_full_disk_is_one_line_and_leaves_no_half_file(tmp_path):
    claims_dir(tmp_path)
    assert run(tmp_path).exit_code == 0
    with small_disk(tmp_path / "full", "64k") as disk:
        with open(disk / "filler", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        res = invoke("claims", "report", "--out", tmp_path / "out", "-o", disk / "g.md")
        assert res.exit_code != 0 and "Traceback" not in res.output and "No space left on device" in res.output
        assert not [p for p in disk.rglob("*") if p.name not in ("filler", "g")]  # no half-written page
