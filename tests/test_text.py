"""One number formatter for every view, and the metric names in one light module."""

from __future__ import annotations

import os
import subprocess
import sys

from nnlab.text import mean_std, number, percent, spread


def test_number_percent_and_mean_std():
    assert [number(v) for v in (None, 3, 12345, 0.123456, float("nan"), float("inf"), -float("inf"), True, "x")] == \
        ["-", "3", "12345", "0.1235", "nan", "inf", "-inf", "true", "x"]
    assert number(None, missing="–") == "–"
    assert [percent(v) for v in (0.9234, 1, None, "x", float("nan"))] == ["92.3%", "100.0%", "-", "x", "nan"]
    assert mean_std(0.5, 0.0123) == "0.5 ± 0.012"
    assert mean_std(0.9, 0.01, pct=True) == "90.0% ± 1.0"
    assert mean_std(None, 0.1) == "-" and mean_std(0.5) == "0.5" and mean_std(0.5, "junk") == "0.5"
    assert spread(0.25) == " ± 0.25" and spread(None) == ""


def test_every_view_formats_alike():
    from nnlab.cli.runs import _num
    from nnlab.look.report import fmt_number, fmt_value

    for v in (0.123456, 7, 1e-7, float("inf")):
        assert _num(v) == fmt_number(v) == number(v)
    assert fmt_value(0.5, 0.0123) == _num(0.5, spread=0.0123) == "0.5 ± 0.012"
    assert _num(0.9, True, 0.01) == "90.0% ± 1.0"
    assert fmt_number(None) == "–" and _num(None) == "-"


def test_metric_names_live_in_one_light_module():
    import click

    from nnlab.cli import main
    from nnlab.metrics import METRIC_COLUMNS, METRICS
    from nnlab.runs import compare

    assert METRICS == ("val_acc", "val_loss", "train_acc", "train_loss")
    assert METRIC_COLUMNS == ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
                              "raw_val_loss", "raw_val_acc")
    assert compare.METRICS is METRICS
    for command in ("compare", "report"):
        (opt,) = [p for p in main.commands[command].params if p.name == "metric"]
        assert isinstance(opt.type, click.Choice) and tuple(opt.type.choices) == METRICS
    code = "import sys, nnlab.metrics; print(sorted(m for m in ('numpy', 'yaml', 'click') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
