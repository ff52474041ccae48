"""Outputs (report -o, compare --plot, schedule --plot) only ever replace regular files, checked before any work."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest
from helpers import invoke

from nnlab.errors import OutputError, RunError
from nnlab.files import atomic_savez, atomic_write, output_target
from nnlab.runs import write_json

ROWS = "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n1,0.1,1.0,0.5,1.1,0.4,0.1\n2,0.1,0.8,0.6,0.9,0.5,0.1\n"
TINY = """name: t
seed: 0
data: {name: spiral, n_samples: 60}
model: {hidden: [4]}
train: {epochs: 2, batch_size: 16, optimizer: {name: sgd, lr: 0.1}}
"""


def fake_run(folder, name="a"):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: {name}\nseed: 0\ndata: {{name: spiral}}\nmodel: {{}}\ntrain: {{}}\n")
    (folder / "metrics.csv").write_text(ROWS)
    write_json(folder / "summary.json", {"status": "completed", "name": name})
    return folder


def no_writes(monkeypatch):
    """Make any attempt to write fail loudly: a refused target must be refused before anything is opened."""
    def boom(*a, **k):
        raise AssertionError("tried to write")
    monkeypatch.setattr(tempfile, "mkstemp", boom)
    monkeypatch.setattr(os, "replace", boom)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    no_writes(monkeypatch)
    with pytest.raises(OutputError) as exc:
        atomic_write(fifo, "x")
    assert str(exc.value) == (f"{fifo}: is not a regular file (a named pipe (FIFO)); outputs only replace regular files; "
                              "choose another path")
    assert isinstance(exc.value, RunError) and isinstance(exc.value, OSError) and exc.value.exit_code == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_a_folder_and_a_device_are_refused_before_anything_is_opened(tmp_path, monkeypatch):
    (tmp_path / "dir.png").mkdir()
    no_writes(monkeypatch)
    with pytest.raises(OutputError, match=r"dir\.png: is not a regular file \(a folder\); outputs only replace"):
        atomic_savez(tmp_path / "dir.png", {})
    assert (tmp_path / "dir.png").is_dir()
    if os.path.exists("/dev/null"):
        with pytest.raises(OutputError) as exc:
            atomic_write("/dev/null", "x")
        assert str(exc.value) == ("/dev/null: is not a regular file (a character device); outputs only replace "
                                  "regular files; choose another path")
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_missing_folder_and_a_broken_link_are_refused(tmp_path, monkeypatch):
    no_writes(monkeypatch)
    with pytest.raises(OutputError) as exc:
        atomic_write(tmp_path / "nope" / "a.txt", "x")
    assert str(exc.value) == f"{tmp_path / 'nope' / 'a.txt'}: folder {tmp_path / 'nope'} does not exist"
    (tmp_path / "f.csv").write_text("x")
    with pytest.raises(OutputError) as exc:
        output_target(tmp_path / "f.csv" / "a.txt")
    assert str(exc.value) == f"{tmp_path / 'f.csv' / 'a.txt'}: {tmp_path / 'f.csv'} is a file, not a folder"
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(OutputError, match="dangling: is a broken symbolic link"):
        atomic_write(tmp_path / "dangling", "x")


def test_a_link_is_never_written_through_even_to_a_regular_file(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with pytest.raises(OutputError, match="link.txt: is a symbolic link; nnlab never writes through a link"):
        atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "old" and leftovers(tmp_path) == []
    html_link = tmp_path / "r.html"
    html_link.symlink_to(real)
    r = invoke("report", fake_run(tmp_path / "runs" / "a"), "-o", html_link)
    assert r.exit_code == 2 and "r.html: is a symbolic link" in r.output and real.read_text() == "old"


def test_cli_outputs_onto_a_fifo_or_folder_fail_in_one_line_and_keep_them(tmp_path):
    run = fake_run(tmp_path / "runs" / "a")
    fifo = tmp_path / "out.html"
    os.mkfifo(fifo)
    r = invoke("report", run, "-o", fifo)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit) and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"error: --output {fifo}: is not a regular file (a named pipe (FIFO)); outputs only replace regular files; "
        "choose another path"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "fig.png").mkdir()
    r = invoke("compare", run, "--plot", tmp_path / "fig.png")
    assert r.exit_code == 2 and r.stdout == ""  # refused before the table
    assert r.stderr.strip() == (f"error: --plot {tmp_path / 'fig.png'}: is not a regular file (a folder); outputs "
                                "only replace regular files; choose another path")
    assert (tmp_path / "fig.png").is_dir() and leftovers(tmp_path) == []


@pytest.mark.parametrize("name, got", [("cmp.txt", "'.txt' is not a file type it writes; use .png, .svg or .pdf"),
                                       ("cmp", "has no file extension; name a .png, .svg or .pdf file")])
def test_cli_plot_needs_a_known_file_type_before_the_table(tmp_path, name, got):
    run = fake_run(tmp_path / "runs" / "a")
    r = invoke("compare", run, "--plot", tmp_path / name)
    assert r.exit_code == 2 and r.stdout == "" and not isinstance(r.exception, (TypeError, ValueError))
    assert r.stderr.strip() == f"error: --plot {tmp_path / name}: {got}"
    r = invoke("compare", run, "--plot", tmp_path / "missing" / "c.png")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == f"error: --plot {tmp_path / 'missing' / 'c.png'}: folder {tmp_path / 'missing'} " \
                               "does not exist"
    r = invoke("compare", run, "--plot", tmp_path / "c.SVG")
    assert r.exit_code == 0 and (tmp_path / "c.SVG").read_text().lstrip().startswith("<?xml")


def test_cli_schedule_plot_and_report_output_are_checked_first(tmp_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TINY)
    r = invoke("schedule", cfg, "--plot", tmp_path / "lr.jpeg")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == f"error: --plot {tmp_path / 'lr.jpeg'}: '.jpeg' is not a file type it writes; " \
                               "use .png, .svg or .pdf"
    run = fake_run(tmp_path / "runs" / "a")
    r = invoke("report", run, "-o", tmp_path / "report.txt")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == f"error: --output {tmp_path / 'report.txt'}: '.txt' is not a file type it writes; " \
                               "use .html or .htm"
    r = invoke("report", run, "-o", tmp_path / "new" / "r.htm")  # the report creates its folder
    assert r.exit_code == 0 and (tmp_path / "new" / "r.htm").read_text().startswith("<!DOCTYPE html>")
    assert r.stdout.strip() == f"report: {tmp_path / 'new' / 'r.htm'} (1 run)"


def test_write_report_refuses_a_fifo_before_rendering(tmp_path, monkeypatch):
    from nnlab.look import report
    from nnlab.runs import load_run

    fifo = tmp_path / "r.html"
    os.mkfifo(fifo)
    monkeypatch.setattr(report, "render_report", lambda *a, **k: pytest.fail("rendered"))
    with pytest.raises(OutputError, match="r.html: is not a regular file"):
        report.write_report([load_run(fake_run(tmp_path / "a"))], fifo)
