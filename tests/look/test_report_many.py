"""The report of many runs reads like a results section: one row per group of seeds, at most
CURVES_SHOWN curves with the rest counted, percent everywhere, no two columns or legend entries alike;
and the figures keep their legends off the lines and inside the picture."""

from __future__ import annotations

import html
import re

import pytest
from helpers import LONG, fake_runs

from nnlab.look import figures
from nnlab.look.figures import CURVES_SHOWN
from nnlab.look.report import build_report, column_headers, render_report
from nnlab.runs import find_runs

PCT = re.compile(r"^\d{1,3}\.\d% ± \d+\.\d$|^\d{1,3}\.\d%$|^–$")  # '59.8% ± 1.2', '59.8%', missing


SLOW_FIXTURES = ('many',)  # made once for the module, in seconds: their tests are slow (conftest)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """300 runs (30 configs x 10 seeds) and a damaged folder; the report's HTML."""
    folder = tmp_path_factory.mktemp("many")
    fake_runs(folder, n_configs=30, seeds=10)
    broken = folder / "2026-01-02_00-00-00_broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    runs, _ = find_runs([folder])
    assert len(runs) == 301
    return runs, render_report(runs)


def table_of(text: str) -> tuple[list[str], list[list[str]]]:
    """The comparison table's headers and body rows, as cell texts."""
    from helpers import check

    c = check(text)
    part = text[text.index('id="comparison"'):]
    part = part[: part.index("</thead>")]
    heads = [html.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", part)]
    return heads, c.table


@pytest.mark.slow
def test_one_row_per_group_and_unique_column_names(many):
    runs, text = many
    heads, rows = table_of(text)
    assert len(heads) == len(set(heads)), heads  # no two columns alike ("epochs" twice, before)
    assert heads[:3] == ["run", "status", "settings that differ"]
    assert heads[3:] == column_headers("val_acc")
    assert "epoch of best" in heads and "epochs trained" in heads
    assert len(rows) == 31  # 30 groups of 10 seeds, and the damaged folder alone
    names = {r.name for r in runs}
    for cells in rows[:30]:
        assert cells[0].endswith(" (10 seeds)") and cells[0][: -len(" (10 seeds)")] in names  # names in full
        assert LONG in cells[0]


def test_accuracies_in_percent_everywhere(many):
    _, text = many
    heads, rows = table_of(text)
    for col in ("best val_acc", "test acc"):
        i = heads.index(col)
        assert all(PCT.match(cells[i]) for cells in rows), [cells[i] for cells in rows][:5]
    assert all("%" not in cells[heads.index("final val loss")] for cells in rows)
    # the runs' own sections too
    assert re.search(r"<th scope=\"row\">best val_acc</th><td>\d+\.\d% \(epoch \d+\)</td>", text)
    assert re.search(r"<th scope=\"row\">test acc</th><td>\d+\.\d%</td>", text)
    assert not re.search(r"<th scope=\"row\">(?:final val acc|test acc)</th><td>0\.\d+</td>", text)


def test_curves_are_capped_and_the_rest_counted(many):
    runs, text = many
    rep = build_report(runs)
    assert len(rep.curves) == CURVES_SHOWN and len(rep.left) == 20
    # the best rows by the metric are drawn: the last ten configs have the highest accuracies
    drawn = {c.row.name for c in rep.curves}
    assert drawn == {f"config_{c:02d}_{LONG}_{('adam', 'sgd', 'rmsprop')[c % 3]} (10 seeds)" for c in range(20, 30)}
    assert "and 200 more runs in 20 rows not drawn, see the" in text
    assert text.count("<svg") == 1  # the curves; no diagnostics, so no gradient-norm figures
    # the swatches: one per drawn row in the table, none for the others
    _, rows = table_of(text)
    table = text[text.index('id="comparison"'): text.index("</table>", text.index('id="comparison"'))]
    assert table.count('class="swatch"') == CURVES_SHOWN
    assert "No curve for: " in text and "broken" in text[text.index("No curve for: "):]


def test_legend_labels_are_unique_and_name_what_differs(many):
    runs, _ = many
    rep = build_report(runs)
    labels = [c.label for c in rep.curves]
    assert len(set(labels)) == len(labels)
    for c in rep.curves:
        assert c.label.startswith(c.row.name + ": ")
        assert f"lr={c.row.settings['train.optimizer.lr']:.6g}" in c.label  # what differs between them
    # the figure's legend holds exactly these labels (wrapped to its width at most), one entry each
    draw, _ = figures.overlaid_curves([(c.label, [r.metrics for r in c.runs], c.color) for c in rep.curves])
    plt = figures.pyplot()
    fig = draw(plt)
    try:
        texts = [t.get_text().replace("\n", " ") for t in fig.legends[0].get_texts()]
        assert texts == labels
        # the seeds are a band around the mean, not ten lines
        assert len(fig.axes[0].get_lines()) == CURVES_SHOWN and len(fig.axes[0].collections) == CURVES_SHOWN
    finally:
        plt.close(fig)


def test_ungrouped_runs_with_the_same_name_get_different_labels(tmp_path):
    fake_runs(tmp_path, n_configs=1, seeds=3)
    runs, _ = find_runs([tmp_path])
    rep = build_report(runs, group=False)
    labels = [c.label for c in rep.curves]
    assert len(labels) == 3 and len(set(labels)) == 3
    assert all(f"seed={s}" in text for s, text in zip((0, 1, 2), labels)), labels


def test_identical_labels_are_numbered():
    assert figures.distinct_labels(["a", "b", "a", "a", "a (2)"]) == ["a", "b", "a (3)", "a (4)", "a (2)"]


@pytest.mark.slow
def test_plot_compare_draws_the_best_ten_and_counts_the_rest(tmp_path, monkeypatch):
    runs = [(f"run {i}", [{"epoch": e, "val_acc": i / 100 * e, "train_loss": 1.0 / e, "val_loss": 1.0 / e,
                           "train_acc": 0.5, "lr": 0.1} for e in (1, 2, 3)]) for i in range(25)]
    seen = {}
    real = figures.overlaid_curves

    def spy(series, regression=False, title="", note=""):
        seen.update(labels=[s[0] for s in series], note=note)
        return real(series, regression=regression, title=title, note=note)

    monkeypatch.setattr(figures, "overlaid_curves", spy)
    figures.plot_compare(runs, tmp_path / "c.png", metric="val_acc")
    assert seen["labels"] == [f"run {i}" for i in range(15, 25)]  # the best ten, in the given order
    assert seen["note"] == "and 15 more runs not drawn, see the table of nnlab compare"
    # a group of seeds is one curve
    figures.plot_compare([("g", [runs[0][1], runs[1][1]])], tmp_path / "g.png")
    assert seen["labels"] == ["g"] and seen["note"] == ""


def _saved_figure(monkeypatch, call):
    """Run ``call`` with figures._save capturing the figure and its renderer (drawn, not written)."""
    got = []

    def save(fig, path):
        fig.canvas.draw()
        got.append((fig, fig.canvas.get_renderer()))

    monkeypatch.setattr(figures, "_save", save)
    call()
    return got[0]


def test_long_legend_labels_do_not_widen_the_compare_figure(tmp_path, monkeypatch):
    rows = [{"epoch": e, "val_acc": 0.5, "train_loss": 1.0 / e, "val_loss": 1.0 / e, "train_acc": 0.5, "lr": 0.1}
            for e in (1, 2)]
    long = [(f"{LONG}_{i} (" + ", ".join(f"key{k}=value{k}" for k in range(12)) + ")", rows) for i in range(4)]
    fig, renderer = _saved_figure(monkeypatch, lambda: figures.plot_compare(long, tmp_path / "c.png"))
    legend = fig.legends[0].get_window_extent(renderer)
    width = fig.get_window_extent(renderer).width
    # the legend stays within the figure's width: a wider one widens the saved picture (bbox_inches="tight")
    # and leaves empty margins beside the panels
    assert legend.x0 >= 0 and legend.x1 <= width, (legend, width)
    assert any("\n" in t.get_text() for t in fig.legends[0].get_texts())  # wrapped


def test_diagnostics_legends_never_cover_the_lines(tmp_path, monkeypatch):
    rows = [{"epoch": e, "layer": f"dense{i}", "grad_norm": 10.0 ** (i - e / 10), "dead_fraction": 0.1 * i,
             "saturated_fraction": None} for i in range(1, 5) for e in range(1, 30)]
    fig, renderer = _saved_figure(monkeypatch, lambda: figures.plot_diagnostics(rows, tmp_path / "d.png", title="t"))
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None
        box, area = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= area.x1, (box, area)  # beside the axes, not over the plotting area
