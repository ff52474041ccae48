"""Terminal output at any width, and piped (issue 12): compare, runs, show, train, and the piped tables.

Every text view takes the width as a parameter.  Each is rendered at 60, 80, 120 and 200 columns and
piped, with run names of 46+ characters, 10+ differing settings, 300 runs and damaged folders; every
run's name and every number shown must appear in full, and in a terminal no line may be wider than the
screen (except a name or path alone on its line, which is never cut: the terminal wraps it).
"""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from click.testing import CliRunner
from helpers import invoke

from nnlab.cli import main
from nnlab.look.term import coloured, emit, paint_status, width_of
from nnlab.look.views import render_compare, render_runs, render_show, runs_cells
from nnlab.runs import find_runs, load_run, write_json
from nnlab.runs.compare import compare, settings_line

WIDTHS = (60, 80, 120, 200)
LONG = "spiral_batchnorm_dropout_ema_with_a_rather_long_descriptive_name"  # 64 characters
ANSI = re.compile(r"\x1b\[")

OPTIMIZERS = [{"name": "adam", "lr": 0.001, "beta1": 0.9}, {"name": "sgd", "lr": 0.1, "momentum": 0.9},
              {"name": "rmsprop", "lr": 0.005, "rho": 0.9}]


def config(i: int, name: str) -> dict:
    """A resolved-looking config; i varies 12 settings across components (optimizer, schedule, ...)."""
    return {
        "name": name, "seed": i % 3,
        "data": {"name": "spiral", "n_samples": 300 + 10 * (i % 4), "val_fraction": 0.1},
        "model": {"hidden": [16 * (1 + i % 3)], "activation": {"name": ["relu", "tanh", "elu"][i % 3]},
                  "init": {"name": ["he_normal", "xavier_normal"][i % 2]},
                  "dropout": {"rate": 0.1 * (i % 2), "mode": "inverted"},
                  "batch_norm": {"momentum": 0.9, "eps": 1e-5} if i % 2 else False},
        "train": {"epochs": 5 + i % 4, "batch_size": 16 * (1 + i % 2), "optimizer": OPTIMIZERS[i % 3],
                  "schedule": {"name": "step", "step_size": 2 + i % 3, "gamma": 0.5} if i % 2 else
                  {"name": "constant"},
                  "regularization": {"l2": 0.001 * (i % 5)},
                  "grad_clip": {"norm": 1.0} if i % 4 == 0 else None},
    }


def metrics_csv(n: int, i: int) -> str:
    lines = ["epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds"]
    for e in range(1, n + 1):
        lines.append(f"{e},0.01,{1.5 / e + i * 1e-4!r},{0.3 + 0.05 * e!r},{1.6 / e!r},{0.35 + 0.04 * e + i * 1e-4!r},"
                     "0.01")
    return "\n".join(lines) + "\n"


def write_run(folder, i: int, name: str, status: str = "completed"):
    folder.mkdir(parents=True)
    cfg = config(i, name)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    n = cfg["train"]["epochs"]
    (folder / "metrics.csv").write_text(metrics_csv(n, i))
    rows = [r for r in load_run(folder).metrics]
    best = max(rows, key=lambda r: r["val_acc"])
    summary = {"name": name, "status": status, "epochs": n, "train_seconds": 0.01 * n + i * 1e-3}
    if status == "completed":
        summary.update(best={"metric": "val_acc", "val_acc": best["val_acc"], "epoch": best["epoch"]},
                       test={"loss": 0.5, "acc": 0.6 + i * 1e-3})
    else:  # a run that was still going: its process is gone
        summary.update(pid=2 ** 22 + 12345, host=__import__("socket").gethostname())
        summary["status"] = "running"
        del summary["train_seconds"]
    write_json(folder / "summary.json", summary)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Six runs with 46+-character names and 10+ differing settings, a crashed run, two damaged folders."""
    root = tmp_path_factory.mktemp("widths")
    runs = root / "runs"
    for i in range(6):
        write_run(runs / f"2026-11-23_10-00-0{i}_{LONG}_{i}", i, f"{LONG}_{i}")
    write_run(runs / f"2026-11-23_10-00-10_{LONG}_crashed", 7, f"{LONG}_crashed", status="running")
    bad = write_run(runs / f"2026-11-23_10-00-11_{LONG}_damaged", 8, f"{LONG}_damaged")
    (bad / "summary.json").write_text((bad / "summary.json").read_text()[:40])  # cut mid-write
    no_config = write_run(runs / "2026-11-23_10-00-12_no_config", 9, "no_config")
    (no_config / "config.yaml").unlink()
    return runs


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """300 runs (cheap: a few small files each)."""
    runs = tmp_path_factory.mktemp("many") / "runs"
    for i in range(300):
        write_run(runs / f"2026-11-23_11-{i // 60:02d}-{i % 60:02d}_run_{i:03d}_{'x' * (i % 50)}", i,
                  f"run_{i:03d}_{'x' * (i % 50)}")
    return runs


def check_terminal(lines, width, names=()):
    """No line wider than ``width`` but a name or path that is never cut, alone on its line or after a short
    label ('folder: ', 'name: '); no padding at the end; no colour."""
    for line in lines:
        assert line == line.rstrip(), repr(line)
        assert not ANSI.search(line)
        if width_of(line) > width:
            assert any(line.endswith(n) and width_of(line) - width_of(n) <= 16 for n in names), (width, line)


def check_piped(lines):
    """Tab-separated: the same number of columns on every line, nothing padded, nothing wrapped."""
    assert len({line.count("\t") for line in lines}) == 1, lines[:3]
    for line in lines:
        assert line == line.rstrip() and not ANSI.search(line) and "  " not in line.replace("\t", "|")


def shown_numbers(comp, row):
    """The numbers the compare views show for a row, as they are written."""
    from nnlab.text import mean_std

    v, pct = row.values, comp.metric.endswith("acc")
    return [mean_std(v["best"], row.spread.get("best"), pct=pct), mean_std(v["test_acc"], None, pct=True),
            mean_std(v["final_train_loss"]), mean_std(v["final_val_loss"]), f"{v['epochs']:.0f}"]


# ------------------------------------------------------------------ compare

@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_compare_names_numbers_and_settings_in_full_at_any_width(lab, width):
    runs, _ = find_runs([lab])
    comp = compare(runs, group=False)
    assert len(comp.keys) >= 10
    lines = render_compare(comp, width=width, terminal=width is not None)
    text = "\n".join(lines)
    names = [r.name for r in comp.rows if not set(r.runs) <= {p for p, _ in comp.damaged}]
    assert len(names) == 7
    for row in comp.rows:
        if row.name not in names:
            continue
        # a name is whole on one line, first in its line (table row or block)
        assert any(line.startswith(row.name + " ") or line == row.name or line.startswith(row.name + "\t")
                   for line in lines), row.name
        for number in shown_numbers(comp, row):
            assert number in text, (row.name, number)
        for word in settings_line(row.groups).split():  # the settings wrap between words only
            assert word in text, (row.name, word)
    if width is None:
        check_piped(lines)
        assert lines[0].split("\t")[0] == "run" and len(lines) == 1 + len(names)
    else:
        check_terminal(lines, width, names + [p for p, _ in comp.damaged])  # paths whole too
        # damaged folders: not compared, listed below the table with the reason
        below = lines[lines.index("not compared (2 damaged folders):"):]
        assert any(line.strip().endswith(f"{LONG}_damaged") for line in below)
        assert any("summary.json is damaged" in line for line in below)
        assert any("no config.yaml" in line for line in below)


def test_compare_groups_settings_by_component(lab):
    runs, _ = find_runs([lab])
    comp = compare(runs, group=False)
    by_name = {r.name: dict(r.groups) for r in comp.rows}
    a, b, c = (by_name[f"{LONG}_{i}"] for i in range(3))
    # the component first, its name, then its options: momentum's owner is never in doubt
    # adam's beta1 0.9 is its default and not shown; sgd's momentum 0.9 and rmsprop's rho 0.9 are not theirs
    assert a["optimizer"] == "adam lr=0.001" and b["optimizer"] == "sgd lr=0.1 momentum=0.9"
    assert c["optimizer"] == "rmsprop lr=0.005 rho=0.9"
    # batch norm where it is used, with its options; nothing at all where it is not (not '-')
    assert b["batch_norm"] == "momentum=0.9 eps=1e-05" and "batch_norm" not in a
    assert a["grad_clip"] == "norm=1" and "grad_clip" not in b
    # a damaged folder does not make every key differ
    assert "name" not in comp.keys and all(not k.startswith("train.optimizer.beta") for k in comp.keys)
    assert [p.rsplit("_", 1)[-1] for p, _ in comp.damaged] == ["damaged", "config"]


@pytest.mark.slow
@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_compare_300_runs(many, width):
    runs, _ = find_runs([many])
    comp = compare(runs, group=False)
    lines = render_compare(comp, width=width, terminal=width is not None)
    text = "\n".join(lines)
    assert len(comp.rows) == 300
    for row in comp.rows:
        assert re.search(rf"^{re.escape(row.name)}(\s|$)", text, re.M), row.name
    if width is None:
        check_piped(lines)
        assert len(lines) == 301
    else:
        check_terminal(lines, width)
        assert lines[0].startswith("300 runs, best val acc")


def test_compare_cli_lists_damaged_folders_once(lab):
    r = CliRunner().invoke(main, ["compare", str(lab), "--no-group"], env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    assert "not compared (2 damaged folders):" in r.stdout
    assert "damaged" not in r.stderr  # below the table, not also as a warning above it
    piped = CliRunner().invoke(main, ["compare", str(lab), "--no-group"])
    check_piped(piped.stdout.splitlines())
    assert "not compared (damaged: summary.json is damaged)" in piped.stderr


# ------------------------------------------------------------------ runs

@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_runs_folder_names_whole_and_best_so_far(lab, width):
    runs, _ = find_runs([lab])
    lines = render_runs(runs, str(lab), width=width, terminal=width is not None)
    folders = [r.path.name for r in runs]
    for f in folders:  # whole, on one line: never broken mid-timestamp
        assert any(f in line for line in lines), f
    for r in runs:
        c = runs_cells(r)
        for piece in (c["best"], c["test"], c["secs"], c["epochs"]):
            assert piece in "\n".join(lines), (r.name, piece)
    crashed = next(r for r in runs if r.name.endswith("_crashed"))
    assert crashed.status == "crashed"
    assert re.fullmatch(r"val acc \d+\.\d% @\d+ so far", runs_cells(crashed)["best"])  # from its metrics
    if width is None:
        check_piped(lines)
        assert lines[0] == "status\tepochs\ttrain s\tbest\ttest acc\trun folder"
        assert sorted(line.split("\t")[-1] for line in lines[1:]) == sorted(folders)
    else:
        check_terminal(lines, width, [*folders, str(lab)])


def test_runs_and_compare_report_the_same_training_time(lab):
    runs, _ = find_runs([lab])
    comp = compare(runs, group=False)
    from nnlab.look.views import seconds_text

    for row in comp.rows:
        (run,) = [r for r in runs if str(r.path) == row.runs[0]]
        assert runs_cells(run)["secs"] == seconds_text(row.values["seconds"])


@pytest.mark.slow
@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_runs_300(many, width):
    runs, _ = find_runs([many])
    lines = render_runs(runs, str(many), width=width, terminal=width is not None)
    text = "\n".join(lines)
    for r in runs:
        assert r.path.name in text
    if width is None:
        check_piped(lines)
    else:
        check_terminal(lines, width, [r.path.name for r in runs] + [str(many)])


# ------------------------------------------------------------------ show

@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_show_at_any_width(lab, width):
    run = load_run(next(p for p in lab.iterdir() if p.name.endswith(f"{LONG}_1")))
    lines = render_show(run, width=width, terminal=width is not None)
    assert f"folder: {run.path}" in lines  # whole, on a line of its own
    assert run.name in "\n".join(lines)
    if width is not None:
        check_terminal(lines, width, [run.name, f"folder: {run.path}"])
    else:
        assert all(line == line.rstrip() for line in lines)


# ------------------------------------------------------------------ train

SUMMARY = {"status": "completed", "epochs": 30, "best": {"metric": "val_acc", "val_acc": 0.598, "epoch": 30},
           "final": {"train_loss": 0.448, "train_acc": 0.886, "val_loss": 1.153, "val_acc": 0.598},
           "test": {"loss": 1.171, "acc": 0.566}, "train_seconds": 5.83, "samples_per_second": 18519.0,
           "diagnosis": [{"code": "overfitting", "message": "Training accuracy reached 88.6% but validation only "
                          "59.8%, and the gap grew from 16 to 29 points since epoch 11: overfitting; regularize "
                          "(train.regularization.l2, model.dropout) or stop early (train.early_stopping)."}]}


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_train_result_keeps_the_folder_whole(width):
    from nnlab.cli.train import result_lines

    folder = f"/tmp/some/runs/2026-11-23_19-37-07_{LONG}"
    lines = result_lines(LONG, folder, SUMMARY, width)
    assert f"run folder  {folder}" in lines
    for number in ("59.8%", "epoch 30", "0.448", "88.6%", "1.153", "1.171", "56.6%", "5.83 s", "18,519"):
        assert number in "\n".join(lines), number
    bullet = [i for i, line in enumerate(lines) if line.startswith("  • ")]
    assert len(bullet) == 1
    if width is None:  # piped: the finding is one line, its indentation kept
        assert lines[bullet[0]] == "  • " + SUMMARY["diagnosis"][0]["message"]
    else:
        check_terminal(lines, width, [f"result: {LONG}", f"run folder  {folder}"])
        rest = lines[bullet[0] + 1:]
        assert rest and all(line.startswith("    ") for line in rest)  # wrapped under the bullet's text


@pytest.mark.parametrize("width", [40, *WIDTHS])
def test_train_progress_bar_keeps_the_counter_and_eta(width):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Column

    from nnlab.cli.train import bar_layout

    stats = "loss 0.725/1.19 acc 76.9/55.0% lr 0.001"
    desc, shown, bar = bar_layout(LONG, stats, 150, width)
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    fixed = dict(no_wrap=True, overflow="ellipsis")
    progress = Progress(TextColumn("{task.description}", table_column=Column(**fixed)), BarColumn(bar_width=bar),
                        MofNCompleteColumn(table_column=Column(**fixed)),
                        TextColumn("{task.fields[stats]}", table_column=Column(**fixed)),
                        TimeRemainingColumn(compact=True, table_column=Column(min_width=5, **fixed)),
                        console=console)
    task = progress.add_task(desc, total=150, stats=shown, completed=119)
    console.print(progress.get_renderable())
    (line,) = [x for x in console.file.getvalue().splitlines() if x.strip()]
    assert width_of(line.rstrip()) <= width
    assert "119/150" in line and re.search(r"(--:--|\d\d:\d\d)$", line.rstrip())
    assert desc.rstrip("…") and LONG.startswith(desc.rstrip("…"))
    if width >= 80:
        assert "loss 0.725/1.19" in line
    del task


@pytest.mark.slow
def test_train_piped_is_plain_lines(tmp_path):
    cfg = tmp_path / f"{LONG}.yaml"
    cfg.write_text("data: {name: spiral, n_samples: 150}\nmodel: {hidden: [8]}\ntrain: {epochs: 3, batch_size: 32}\n")
    r = CliRunner().invoke(main, ["train", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    (folder,) = (tmp_path / "runs").iterdir()
    lines, progress = r.stdout.splitlines(), r.stderr.splitlines()
    assert all(line == line.rstrip() and not ANSI.search(line) for line in lines + progress)
    assert f"run folder: {folder}" in progress and f"run folder  {folder}" in lines  # at the start and the end
    assert re.fullmatch(r"  epoch    3/3  loss \S+  val \S+  acc \S+%  val acc \S+%  lr 0.001", progress[-1])
    assert any(line.startswith("  • ") and line.endswith(".") for line in lines)  # a finding, one line


# ------------------------------------------------------------------ the other commands, piped

def test_validate_list_and_schedule_piped_are_never_wrapped(tmp_path):
    r = invoke("validate", "configs/tiny/blobs_softsign_adadelta_inverse_time.yaml")
    assert r.stdout == ("ok configs/tiny/blobs_softsign_adadelta_inverse_time.yaml  (blobs, hidden [16], softsign, "
                        "lecun_uniform, adadelta lr 1, inverse_time, 15 epochs, batch 25)\n")
    lines = invoke("list").stdout.splitlines()
    check_piped(lines)
    assert lines[0] == "kind\tname\toptions (default)\twhat it is"
    assert {line.split("\t")[0] for line in lines[1:]} >= {"optimizer", "activation", "schedule", "dataset"}
    lines = invoke("schedule", "configs/sgd_warm_restart.yaml").stdout.splitlines()
    check_piped(lines[1:])
    assert lines[1] == "epoch\tlearning rate"


def test_list_in_a_narrow_terminal_keeps_names_whole():
    r = invoke("list", "optimizers", env={"COLUMNS": "60", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert r.exit_code == 0
    plain = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
    for name in ("sgd", "momentum", "nesterov", "rmsprop", "adamax"):
        assert re.search(rf"│ {name}\s", plain), name
    assert all(width_of(line) <= 60 for line in plain.splitlines())


@pytest.mark.slow
def test_sweep_piped_lines_and_table(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("data: {name: moons, n_samples: 120}\nmodel: {hidden: [8]}\n"
                    "train: {epochs: 6, batch_size: 20, optimizer: {name: sgd, lr: 0.1}}\n")
    r = invoke("sweep", base, "-p", "train.optimizer.lr=0.001,0.3,0.1", "--method", "grid", "--prune", "median",
               "-j", "1", "--runs-dir", tmp_path / "sweeps")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert all(line == line.rstrip() and not ANSI.search(line) for line in lines)
    head = lines.index("trial\tlr\tval_acc")
    table = lines[head:head + 1 + sum(1 for x in lines[head + 1:] if x[:1].isdigit() and "\t" in x)]
    check_piped(table)
    from nnlab.sweep.task import MedianPruner

    pruner = MedianPruner("val_acc", True, 0, [0.5, 0.95])
    assert pruner({"epoch": 1, "val_acc": 0.6}) is None
    assert pruner({"epoch": 2, "val_acc": 0.9}) == ("pruned after epoch 2: its best val_acc so far, 90.0%, is worse "
                                                    "than the median of the finished runs at epoch 2, 95.0%")
    pruner = MedianPruner("val_loss", False, 0, [0.5])
    assert pruner({"epoch": 1, "val_loss": 0.61234}).endswith("its best val_loss so far, 0.6123, is worse than the "
                                                            "median of the finished runs at epoch 1, 0.5")


@pytest.mark.slow
def test_ensemble_piped_keeps_paths_whole(tmp_path):
    cfg = tmp_path / "e.yaml"
    cfg.write_text("data: {name: spiral, n_samples: 150}\nmodel: {hidden: [8]}\ntrain: {epochs: 2, batch_size: 32}\n")
    for seed in (1, 2):
        assert invoke("train", cfg, "--set", f"seed={seed}", "--name", f"{LONG}_{seed}", "--runs-dir",
                      tmp_path / "runs", "-q").exit_code == 0
    r = invoke("ensemble", *sorted((tmp_path / "runs").iterdir()))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    table = lines[1:5]
    check_piped(table)
    assert [line.split("\t")[-1] for line in table[1:]] == [*map(str, sorted((tmp_path / "runs").iterdir())),
                                                            "ensemble"]


# ------------------------------------------------------------------ messages (issue 12's list)

def errors(*args):
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "Usage:" not in r.output
    return r.output


def test_message_test_fraction_too_few_rows(tmp_path):
    import numpy as np

    from nnlab.data.splits import split_test
    from nnlab.errors import DataError

    with pytest.raises(DataError) as exc:
        split_test(np.zeros((1, 2)), np.zeros(1, int), 0.2, 0, "one.csv")
    (line,) = exc.value.lines
    assert line == "one.csv: has only 1 row, too few to hold out a test set; use more rows, or store x_test, " \
                   "y_test in an .npz"
    assert "at least 1" not in line
    with pytest.raises(DataError) as exc:
        split_test(np.zeros((10, 2)), np.zeros(10, int), 0.01, 0, "ten.csv")
    assert exc.value.lines[0].endswith("use a test_fraction of at least 0.1 (and below 1)")


def test_message_extends_given_with_set():
    out = errors("validate", "configs/tiny/spiral_relu_sgd.yaml", "--set", "extends=base.yaml")
    assert out == ("error: configs/tiny/spiral_relu_sgd.yaml: extends: names the file a config builds on, so it "
                   "belongs in the config file itself (its top level); it cannot be given with --set\n")
    assert "did you mean 'extends'" not in out
    # a near miss is still helped
    assert "did you mean 'extends'?" in errors("validate", "configs/tiny/spiral_relu_sgd.yaml", "--set",
                                                "extend=base.yaml")


def test_message_an_optimizer():
    out = errors("validate", "configs/tiny/spiral_relu_sgd.yaml", "--set", "train.optimizer={lr: 0.1}")
    assert "train.optimizer: an optimizer mapping needs a 'name' key; choose from adadelta," in out
    out = errors("validate", "configs/tiny/spiral_relu_sgd.yaml", "--set", "train.optimizer=[1]")
    assert "train.optimizer: must be an optimizer name or a mapping with 'name', got [1]" in out
    assert "a optimizer" not in out


def test_message_no_options_instead_of_choose_from_none():
    out = errors("validate", "configs/tiny/spiral_relu_sgd.yaml", "--set", "model.activation.foo=1")
    assert out == ("error: configs/tiny/spiral_relu_sgd.yaml: model.activation.foo: unknown option 'foo': "
                   "activation 'relu' takes no options\n")


@pytest.mark.parametrize("command", ["train", "sweep", "lr-find"])
def test_message_runs_dir_that_is_a_device_or_a_file(tmp_path, command):
    args = {"train": ["configs/tiny/spiral_relu_sgd.yaml"], "sweep": ["sweeps/tiny_ci.yaml"],
            "lr-find": ["configs/tiny/spiral_relu_sgd.yaml"]}[command]
    out = errors(command, *args, "--runs-dir", "/dev/null")
    assert out == ("error: --runs-dir /dev/null: is not a folder (a device or another special file); name a "
                   "folder (it is created if missing)\n")
    assert "File exists" not in out
    f = tmp_path / "f"
    f.write_text("x")
    out = errors(command, *args, "--runs-dir", f)
    assert out == f"error: --runs-dir {f}: is a file, not a folder; name a folder (it is created if missing)\n"


def test_message_create_run_dir_in_a_device():
    from nnlab.errors import RunError
    from nnlab.runs import create_run_dir

    with pytest.raises(RunError) as exc:
        create_run_dir("/dev/null", "x")
    assert exc.value.lines == ["/dev/null: is not a folder; name a folder for the runs (it is created if missing)"]


def test_message_one_run_not_one_runs(lab):
    from nnlab.look.views import plural

    assert (plural(1, "run"), plural(2, "run")) == ("1 run", "2 runs")
    one = next(p for p in lab.iterdir() if p.name.endswith("_0"))
    r = invoke("compare", one, env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert r.stdout.startswith("1 run, best val acc\n")
    r = invoke("runs", lab, "--status", "crashed", env={"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"})
    assert r.stdout.startswith(f"1 run in {lab}, newest first\n")


@pytest.mark.slow
def test_message_cache_not_writable_is_one_warning_line(tmp_path):
    from nnlab.cli import _show_warning

    buf = io.StringIO()
    _show_warning(UserWarning("/x/mnist1d_v1.npz: cannot write the data cache (Permission denied); the data will "
                              "be generated again next time"), UserWarning, "/src/nnlab/data/mnist1d.py", 90,
                  file=buf)
    assert buf.getvalue() == ("warning: /x/mnist1d_v1.npz: cannot write the data cache (Permission denied); the "
                              "data will be generated again next time\n")
    # through the command line: a cache folder that cannot be created
    import os
    import subprocess
    import sys

    env = {**os.environ, "NNLAB_CACHE": "/proc/nnlab-test-cache"}
    r = subprocess.run([sys.executable, "-m", "nnlab", "train", "configs/tiny/mnist1d_small.yaml", "--runs-dir",
                        str(tmp_path / "runs"), "-q"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("warning: /proc/nnlab-test-cache/mnist1d_v1.npz: cannot write the data cache (No such file "
                        "or directory); the data will be generated again next time\n")


def test_message_runs_dir_file_for_sweep_is_not_clicks_usage(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = invoke("sweep", "sweeps/tiny_ci.yaml", "--runs-dir", f)
    assert r.exit_code == 2 and "Usage:" not in r.output and "Try 'nnlab" not in r.output
    assert r.output.count("\n") == 1


def test_piped_json_of_compare_is_unchanged_by_the_width(lab):
    a = invoke("compare", lab, "--format", "json", env={"COLUMNS": "60"}).stdout
    b = invoke("compare", lab, "--format", "json", env={"COLUMNS": "200"}).stdout
    assert a == b and json.loads(a)


def test_compare_seed_groups_say_how_many_runs(tmp_path):
    for seed in range(3):
        folder = write_run(tmp_path / f"r{seed}", 0, "same")
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        (folder / "config.yaml").write_text(yaml.safe_dump({**cfg, "seed": seed}))
    write_run(tmp_path / "other", 1, "other")
    runs, _ = find_runs([tmp_path])
    comp = compare(runs)
    lines = render_compare(comp, width=80)
    assert lines[0] == "4 runs in 2 rows, best val acc (mean ± std over seeds)"
    assert any(line.startswith("same (3 seeds)") for line in lines)
    assert any(" ± " in line for line in lines)
    check_terminal(lines, 80)


# ------------------------------------------------------------------ status colours

GREEN, RED = "\x1b[32m", "\x1b[31m"


def painted_words(lines):
    """(status word, SGR code) of every coloured stretch, in order."""
    return re.findall(r"\x1b\[(\d+)m(\w+)\x1b\[0m", "\n".join(coloured(line) for line in lines))


@pytest.mark.parametrize("width", WIDTHS)
def test_status_is_coloured_on_a_terminal_and_only_the_status(lab, width):
    """Every run's status word, and nothing else, is green (completed) or red (crashed); the plain lines
    are unchanged, so widths and pipes do not see the colour."""
    runs, _ = find_runs([lab])
    comp = compare(runs, group=False)
    shown = [r for r in comp.rows if not set(r.runs) <= {p for p, _ in comp.damaged}]
    for lines, statuses in ((render_runs(runs, str(lab), width=width), [r.status for r in runs]),
                            (render_compare(comp, width=width), [r.status for r in shown])):
        check_terminal(lines, width, [*(r.path.name for r in runs), *(str(r.path) for r in runs),
                                      *(r.name for r in runs), str(lab)])
        assert painted_words(lines) == [({"completed": "32", "crashed": "31", "incomplete": "33"}[s], s)
                                        for s in statuses]
    show = render_show(next(r for r in runs if r.status == "crashed"), width=width)
    assert painted_words(show) == [("31", "crashed")]


def test_paint_status_leaves_names_alone():
    # a run named after a status: only the status column is coloured
    line = paint_status("completed_failed  crashed  3", "crashed", len("completed_failed"))
    assert coloured(line) == f"completed_failed  {RED}crashed\x1b[0m  3" and line == "completed_failed  crashed  3"
    assert coloured(paint_status("interrupted (resumable)  4", "interrupted (resumable)")) \
        == "\x1b[33minterrupted\x1b[0m (resumable)  4"
    # not where it was said to be (text between), or a status without a colour: plain
    assert coloured(paint_status("name  x crashed", "crashed", 4)) == "name  x crashed"
    assert coloured(paint_status("name  unknown", "unknown", 4)) == "name  unknown"


def test_emit_colours_only_when_asked():
    line = paint_status("a  completed", "completed", 1)
    plain, colour = io.StringIO(), io.StringIO()
    emit([line, "b"], plain)
    emit([line, "b"], colour, colour=True)
    assert plain.getvalue() == "a  completed\nb\n"
    assert colour.getvalue() == f"a  {GREEN}completed\x1b[0m\nb\n"


def test_cli_tables_are_coloured_on_a_colour_terminal_only(lab):
    """FORCE_COLOR makes rich (and so nnlab) treat the output as a colour terminal; NO_COLOR wins over it."""
    for args in (("runs", lab), ("compare", *sorted(lab.iterdir())), ("show", sorted(lab.iterdir())[0])):
        for env, colour in (({"FORCE_COLOR": None, "NO_COLOR": None}, False), ({"FORCE_COLOR": "1"}, True),
                            ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)):
            r = invoke(*args, env={"COLUMNS": "100", **env})
            assert "completed" in r.stdout and bool(ANSI.search(r.stdout)) == colour, (args[0], env)
            if colour:
                assert f"{GREEN}completed\x1b[0m" in r.stdout
