"""Every figure nnlab draws, for files (PNG, SVG, PDF) and for the HTML report (inline SVG).

matplotlib (Agg backend) is imported lazily: it is slow to import.  A figure is a
``draw(plt) -> Figure`` function, so the same drawing goes to a file (``to_file``) or
into the report (``SvgFigures.render``: ids prefixed, an accessible name).  The
overlaid curves of several runs (``overlaid_curves``) serve ``compare --plot`` and the
report alike; ``log_if_wide`` is the one rule for when an axis goes logarithmic.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

from nnlab.files import atomic_path


def pyplot():
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules:  # in a notebook its backend stays: nnlab closes every figure it draws
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")


def _col(rows, key):
    return [r.get(key) if r.get(key) is not None else float("nan") for r in rows]


def _train_val_panel(ax, ep, rows, metric: str) -> None:
    """Training and (when recorded) validation curves of one metric ('loss' or 'acc') on one axis."""
    ax.plot(ep, _col(rows, f"train_{metric}"), label="train", color="C0")
    averaged = any(r.get(f"raw_val_{metric}") is not None for r in rows)  # train.averaging
    if any(r.get(f"val_{metric}") is not None for r in rows):
        ax.plot(ep, _col(rows, f"val_{metric}"), label="validation (averaged weights)" if averaged else "validation",
                color="C1")
    if averaged:
        ax.plot(ep, _col(rows, f"raw_val_{metric}"), label="validation (live weights)", color="C1", ls=":")
    ax.set_title("loss" if metric == "loss" else "accuracy")
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(alpha=0.3)


def plot_curves(rows: list[dict], path, title: str = "") -> None:
    """Loss (train, val), accuracy (train, val) and learning rate against epoch, side by side."""
    plt = pyplot()
    fig = plt.figure(figsize=curves_size(rows))
    draw_curves(fig, rows, title)
    _save(fig, path)
    plt.close(fig)


def curves_size(rows: list[dict]) -> tuple[float, float]:
    """The size of a run's curves figure: three panels with accuracy, two without."""
    return (4.2 * (3 if any(r.get("train_acc") is not None for r in rows) else 2), 3.4)


def curves_figure(rows: list[dict], title: str = ""):
    """A run's curves as a matplotlib Figure of its own, made without pyplot (nothing else shows or closes it: a
    notebook shows it once, as the value of its cell)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=curves_size(rows))
    draw_curves(fig, rows, title)
    return fig


def draw_curves(fig, rows: list[dict], title: str = "") -> None:
    """Loss (train, val), accuracy (train, val) and learning rate against epoch, side by side, on ``fig``."""
    has_acc = any(r.get("train_acc") is not None for r in rows)
    n = 3 if has_acc else 2
    axes = fig.subplots(1, n)
    ep = [r["epoch"] for r in rows]
    _train_val_panel(axes[0], ep, rows, "loss")
    log_if_wide(axes[0], _col(rows, "train_loss") + _col(rows, "val_loss"))
    if has_acc:
        _train_val_panel(axes[1], ep, rows, "acc")
    ax = axes[-1]
    ax.plot(ep, _col(rows, "lr"), color="C2")
    ax.set_title("learning rate")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()


def plot_schedule(lrs: list[float], path, title: str = "", xlabel: str = "epoch") -> None:
    """The learning rate a config will use, against epoch (1-based)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(range(1, len(lrs) + 1), lrs, color="C2", marker="." if len(lrs) <= 60 else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title(title or "learning-rate schedule")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_lr_find(lrs, losses, smoothed, suggestions: dict, window: tuple[int, int], path, title: str = "",
                 recommended: str | None = None) -> None:
    """The range test (nnlab lr-find): smoothed loss (and the raw mini-batch loss, faint) against a log
    learning-rate axis; the points the rules leave out shaded; each suggestion marked on the curve.

    ``suggestions``: name -> an object with ``lr`` (nnlab.train.range_test.Suggestion); ``window``: the
    (first, stop) indices the rules look at.
    """
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    lrs, losses, smoothed = (np.asarray(a, dtype=np.float64) for a in (lrs, losses, smoothed))
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    ax.plot(lrs, losses, color="0.75", linewidth=0.8, label="mini-batch loss")
    ax.plot(lrs, smoothed, color="C0", linewidth=1.8, label="smoothed loss (EMA, beta 0.98)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    first, stop = window
    n = len(lrs)
    shade = {"color": "0.5", "alpha": 0.12, "linewidth": 0}
    if n and first > 0:
        ax.axvspan(lrs[0], lrs[min(first, n - 1)], label="left out of the rules", **shade)
    if n and stop < n:
        ax.axvspan(lrs[max(stop - 1, 0)], lrs[-1], label=None if first > 0 else "left out of the rules", **shade)
    finite = np.isfinite(smoothed)
    shown = smoothed[:max(stop, 1)]  # the y range leaves out the blow-up at the end, as fastai's plot does
    shown = shown[np.isfinite(shown)] if np.isfinite(shown).any() else smoothed[finite]
    raw = losses[first:stop]
    raw = raw[np.isfinite(raw)]
    if shown.size:  # down to the lowest mini-batch loss the rules saw: the smoothed curve lags behind it
        lo, hi = min(float(shown.min()), float(raw.min()) if raw.size else np.inf), float(shown.max())
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * abs(hi) or 0.05
        ax.set_ylim(lo - pad, hi + pad)
    ok = finite & (lrs > 0)
    markers = {"steepest": "v", "min_over_10": "s", "valley": "o"}
    for i, (name, s) in enumerate(suggestions.items()):
        y = float(np.interp(np.log(s.lr), np.log(lrs[ok]), smoothed[ok])) if ok.any() else float("nan")
        star = name == recommended
        ax.axvline(s.lr, color=f"C{i + 1}", linestyle=":", linewidth=1)
        ax.plot([s.lr], [y], markers.get(name, "o"), color=f"C{i + 1}", markersize=9 if star else 6,
                markeredgecolor="black" if star else None,
                label=f"{name} {s.lr:.3g}" + (" (recommended)" if star else ""))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(label_text(title) if title else "learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_diagnostics(rows: list[dict], path, title: str = "") -> None:
    """Each layer's gradient norm on a log scale against epoch (vanishing/exploding gradients show
    as layers spread apart by orders of magnitude), and the dead/saturated fractions when recorded."""
    plt = pyplot()
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    has_units = any(r.get("dead_fraction") is not None or r.get("saturated_fraction") is not None for r in rows)
    fig, axes = plt.subplots(1, 2 if has_units else 1, figsize=(10 if has_units else 5.5, 3.6), squeeze=False)
    ax = axes[0][0]
    cmap = plt.get_cmap("viridis")
    for i, layer in enumerate(layers):
        rs = [r for r in rows if r["layer"] == layer]
        color = cmap(i / max(1, len(layers) - 1))
        ax.plot([r["epoch"] for r in rs], [r["grad_norm"] if r["grad_norm"] else float("nan") for r in rs],
                label=layer, color=color)
    log_y(ax)
    ax.set_xlabel("epoch")
    ax.set_title("gradient norm per layer (input layer darkest)")
    ax.grid(alpha=0.3, which="both")
    _legend_beside(ax, len(layers))
    if has_units:
        ax = axes[0][1]
        for i, layer in enumerate(layers):
            rs = [r for r in rows if r["layer"] == layer]
            color = cmap(i / max(1, len(layers) - 1))
            for key, style in (("dead_fraction", "-"), ("saturated_fraction", "--")):
                vals = [r.get(key) for r in rs]
                if any(v is not None for v in vals):
                    ax.plot([r["epoch"] for r in rs], [v if v is not None else float("nan") for v in vals],
                            style, color=color, label=f"{layer} {key.split('_')[0]}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("epoch")
        ax.set_title("dead ReLU units (solid), saturated units (dashed)")
        ax.grid(alpha=0.3)
        _legend_beside(ax, len(ax.get_lines()))
    if title:
        fig.suptitle(label_text(title))
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


# ------------------------------------------------------------------ shared helpers


def _legend_beside(ax, n: int, fontsize: float = 7) -> None:
    """The axis's legend to the right of it, outside the plotting area: it never covers a line
    (bbox_inches="tight" and the SVG export keep it in the picture)."""
    if n:
        ax.legend(fontsize=fontsize, ncol=2 if n > 12 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, borderaxespad=0.0, handlelength=1.6)


def percent_axis(ax, axis: str = "y") -> None:
    """Label an axis of fractions (accuracies) in percent, as the tables do: 0.6 -> '60%' (a decimal
    only where the ticks are closer than a percentage point)."""
    from matplotlib.ticker import FuncFormatter

    which = ax.yaxis if axis == "y" else ax.xaxis

    def fmt(v, _):
        ticks = sorted(which.get_majorticklocs())
        step = min((b - a for a, b in zip(ticks, ticks[1:]) if b > a), default=1.0) * 100
        decimals = 0 if step >= 0.999 else 1 if step >= 0.0999 else 2
        return f"{100 * v:.{decimals}f}%"

    which.set_major_formatter(FuncFormatter(fmt))


def is_accuracy(key: str) -> bool:
    """Whether a metric column is an accuracy (a fraction shown in percent): val_acc, test_acc, ..."""
    return str(key).endswith("acc")


def mean_band(members: list[list[dict]], key: str, band: str = "minmax"):
    """Epochs, mean, and the band's low and high edges over several runs (the seeds of a group) of one
    column: the min and max (``band="minmax"``) or the mean ± the standard deviation (``"std"``, n - 1
    in the denominator, as the tables' ± std; no band for a single value).

    Finite values only; an epoch no run has a finite value for is NaN (a gap in the line).
    """
    by_epoch: dict = {}
    for rows in members:
        for r in rows:
            e, v = r.get("epoch"), r.get(key)
            if is_finite(e):
                by_epoch.setdefault(e, [])
                if is_finite(v):
                    by_epoch[e].append(v)
    epochs = sorted(by_epoch)
    nan = float("nan")
    mean = [sum(by_epoch[e]) / len(by_epoch[e]) if by_epoch[e] else nan for e in epochs]
    if band == "std":
        import statistics

        std = [statistics.stdev(by_epoch[e]) if len(by_epoch[e]) > 1 else 0.0 if by_epoch[e] else nan
               for e in epochs]
        return epochs, mean, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)]
    lo = [min(by_epoch[e]) if by_epoch[e] else nan for e in epochs]
    hi = [max(by_epoch[e]) if by_epoch[e] else nan for e in epochs]
    return epochs, mean, lo, hi


def distinct_labels(labels: list[str]) -> list[str]:
    """The labels, with a repeated one numbered ('a', 'a (2)'): a legend never shows two equal entries."""
    seen: dict = {}
    out = []
    taken = set(labels)
    for text in labels:
        n = seen.get(text, 0) + 1
        seen[text] = n
        if n > 1:
            while f"{text} ({n})" in taken:
                n += 1
            seen[text] = n
            text = f"{text} ({n})"
            taken.add(text)
        out.append(text)
    return out


LOG_RATIO = 50.0  # a loss or learning-rate axis whose values span more than this factor goes logarithmic


def is_finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def label_text(text) -> str:
    """Text for a matplotlib label: a '$' in a run name is a dollar sign, not mathtext."""
    return str(text).replace("$", r"\$")


def log_y(ax) -> None:
    """A log y axis labelled in plain numbers (0.01, 0.2): no mathtext, which is slow to lay out."""
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))

    def minor(y, _):  # label some minor ticks when the axis spans about a decade or less
        lo, hi = ax.get_ylim()
        if not (lo > 0 and hi > 0 and y > 0):
            return ""
        decades = abs(math.log10(hi / lo))
        mantissa = round(y / 10 ** math.floor(math.log10(y) + 1e-9), 3)
        if decades >= 1.2 or (decades > 0.5 and mantissa not in (2, 3, 5)):
            return ""
        return f"{y:g}"

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def log_if_wide(ax, values, ratio: float = LOG_RATIO, force: bool = False) -> bool:
    """Make the y axis logarithmic when its finite values are all positive and span more than ``ratio``
    (or, with ``force``, whenever they are all positive); return whether it did."""
    finite = [v for v in values if is_finite(v)]
    pos = [v for v in finite if v > 0]
    if pos and len(pos) == len(finite) and (force or max(pos) / min(pos) > ratio):
        log_y(ax)
        return True
    return False


def run_colors(keys: list) -> dict:
    """One colour per key (tab10, tab20 beyond ten), as '#rrggbb'."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if len(keys) <= 10 else "tab20"]
    return {k: to_hex(cmap(i % cmap.N)) for i, k in enumerate(keys)}


def _xy(rows: list[dict], key: str):
    """Epochs and values of one column; missing or non-finite values are gaps (nan)."""
    xs, ys = [], []
    for r in rows:
        if not is_finite(r.get("epoch")):
            continue
        v = r.get(key)
        xs.append(r["epoch"])
        ys.append(v if is_finite(v) else float("nan"))
    return xs, ys


# ------------------------------------------------------------------ output: a file or inline SVG

SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "nnlab-report", "font.size": 9}
SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def inline_svg(fig, prefix: str, alt: str) -> str:
    """The figure as an <svg> element for inline HTML: no prolog, ids prefixed, an accessible name."""
    from html import escape

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.08, metadata=SVG_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib's <style> would apply to the whole page; the page CSS carries the same rule for svgs
    text = re.sub(r"<style[^>]*>.*?</style>\s*", "", text, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'(url\(#|href="#)([^)"]+)',
                  lambda m: m.group(1) + prefix + m.group(2) if m.group(2) in ids else m.group(0), text)
    text = text.replace("<svg ", f'<svg role="img" aria-label="{escape(alt, quote=True)}" ', 1)
    return text.strip()


class SvgFigures:
    """Makes inline SVG figures in a private rc context; numbers their ids so figures on one page cannot clash."""

    def __init__(self):
        import matplotlib

        self.plt = pyplot()
        self.mpl = matplotlib
        self.rc = dict(SVG_RC)
        self.count = 0

    def render(self, draw, alt: str) -> str:
        with self.mpl.rc_context(self.rc):
            fig = None
            try:
                fig = draw(self.plt)
                self.count += 1
                return inline_svg(fig, f"f{self.count}-", alt)
            finally:
                if fig is not None:
                    self.plt.close(fig)


def to_file(draw, path) -> None:
    plt = pyplot()
    fig = draw(plt)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------ overlaid curves of several runs


CURVES_SHOWN = 10  # at most this many curves (runs, or groups of seeds) overlaid; the rest named in a line


def members_of(rows) -> list[list[dict]]:
    """A series' runs: ``rows`` is one run's metrics rows, or a list of them (a group of seeds)."""
    if rows and isinstance(rows[0], (list, tuple)):
        return [list(r) for r in rows]
    return [list(rows or [])]


def curve_panels(runs_rows: list[list[dict]], regression: bool) -> list[tuple[str, str]]:
    """The four panels: train loss, val loss, val accuracy (or val loss on a log scale for regression;
    training values when there is no validation data), learning rate."""
    def has(key):
        return any(r.get(key) is not None for rows in runs_rows for r in rows)

    if regression:
        third = ("val_loss", "validation loss (log scale)") if has("val_loss") else \
            ("train_loss", "training loss (log scale)")
    else:
        third = ("val_acc", "validation accuracy") if has("val_acc") else \
            ("train_acc", "training accuracy (no validation data)")
    return [("train_loss", "training loss"), ("val_loss", "validation loss"), third, ("lr", "learning rate")]


def _legend_layout(labels: list[str], fig_width: float, fontsize: float = 9) -> tuple[list[str], int]:
    """Labels (long ones wrapped) and a number of columns such that a legend below the axes is no wider
    than the figure: a wider legend would widen the saved picture and leave empty margins beside the plots."""
    import textwrap

    room = int(fig_width * 72 / (0.6 * fontsize))  # characters across the figure, roughly
    widest = max((len(t) for t in labels), default=0)
    for ncol in (3, 2):
        if len(labels) > ncol + 1 and (widest + 6) * ncol <= room:
            return labels, ncol
    width = max(20, room - 8)
    return [textwrap.fill(t, width, break_long_words=True, break_on_hyphens=False) for t in labels], 1


def overlaid_curves(series: list[tuple], regression: bool = False, title: str = "", note: str = ""):
    """(draw, alt text) of the overlaid-curves figure; ``series``: (legend label, rows, colour) per curve,
    ``rows`` one run's metrics rows or a list of them (a group of seeds: drawn as the mean over the runs
    with a band of ± one standard deviation, as the tables' mean ± std).

    ``draw(plt)`` returns the figure: the four panels of curve_panels, one colour per curve, accuracies
    in percent, losses and learning rates on a log axis when they span more than LOG_RATIO, markers for
    short runs, the legend below the panels (never over a line) and no wider than them; ``note`` (what
    was left out) is the legend's last line.  plot_compare saves it to a file, the HTML report inlines it
    as SVG.
    """
    groups = [(text, members_of(rows), color) for text, rows, color in series]
    panels = curve_panels([rows for _, members, _ in groups for rows in members], regression)
    longest = max((len(rows) for _, members, _ in groups for rows in members), default=0)
    labels = distinct_labels([str(text) for text, _, _ in groups])

    def draw(plt):
        from matplotlib.lines import Line2D

        fig, axes = plt.subplots(2, 2, figsize=(11, 6.6))
        legend: dict = {}  # curve index -> line: each curve once, from the first panel it appears in
        for p, (ax, (key, name)) in enumerate(zip(axes.flat, panels)):
            values = []
            for i, (_, members, color) in enumerate(groups):
                xs, ys, lo, hi = mean_band(members, key, band="std")
                if not any(is_finite(y) for y in ys):
                    continue
                values += ys  # the axis scale follows the means (a band may dip below zero)
                (line,) = ax.plot(xs, ys, color=color, linewidth=1.6, zorder=3,
                                  linestyle=("-", "--", ":", "-.")[(i // 20) % 4],
                                  marker="o" if longest <= 15 or len(xs) <= 2 else None, markersize=3)
                if len(members) > 1:
                    ax.fill_between(xs, lo, hi, color=color, alpha=0.15, linewidth=0, zorder=2)
                legend.setdefault(i, line)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3, which="both")
            if not values:
                ax.text(0.5, 0.5, "no validation data" if key.startswith("val") else "no data",
                        ha="center", va="center", transform=ax.transAxes, color="0.45")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            if key.endswith("loss"):
                log_if_wide(ax, values, force=regression and p == 2)
            elif is_accuracy(key):
                percent_axis(ax)
            elif key == "lr" and not log_if_wide(ax, values):
                ax.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 3))
            ax.xaxis.get_major_locator().set_params(integer=True)
        if title:
            fig.suptitle(label_text(title))
        fig.tight_layout(h_pad=1.6, w_pad=2.0)
        handles = [legend[i] for i in sorted(legend)]
        texts = [label_text(labels[i]) for i in sorted(legend)]
        if note:
            handles.append(Line2D([], [], linestyle="none"))
            texts.append(label_text(note))
        if texts:
            texts, ncol = _legend_layout(texts, fig.get_figwidth())
            fig.legend(handles, texts, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
                       frameon=False, fontsize=9)
        return fig

    alt = "Overlaid curves: " + ", ".join(name for _, name in panels) + " against epoch"
    if any(len(members) > 1 for _, members, _ in groups):
        alt += "; groups of seeds as their mean with a band of ± one standard deviation"
    return draw, alt


def series_best(rows, metric: str) -> float | None:
    """The best value of ``metric`` on a series' curve (the mean over a group's runs): how curves are ranked."""
    _, mean, _, _ = mean_band(members_of(rows), metric)
    finite = [v for v in mean if is_finite(v)]
    if not finite:
        return None
    return max(finite) if is_accuracy(metric) else min(finite)


def top_series(scores: list, k: int = CURVES_SHOWN, maximize: bool = True) -> list[int]:
    """The indices of the ``k`` best scores (None last, ties in order), returned in their original order."""
    def key(i):
        v = scores[i]
        return (v is None or not is_finite(v), 0.0 if v is None or not is_finite(v) else (-v if maximize else v), i)

    return sorted(sorted(range(len(scores)), key=key)[:k])


def more_note(n_runs: int, n_series: int, where: str = "the table") -> str:
    """The line that names what a capped figure leaves out: 'and 289 more runs (10 groups), see the table'."""
    runs = f"{n_runs} more run{'s' if n_runs != 1 else ''}"
    if n_series != n_runs:
        runs += f" ({n_series} curve{'s' if n_series != 1 else ''})"
    return f"and {runs} not drawn, see {where}"


def plot_compare(runs_rows: list[tuple], path, metric: str = "val_acc", title: str = "",
                 top: int = CURVES_SHOWN) -> None:
    """Overlaid curves of several runs into a file (.png, .svg, .pdf): the report's curves figure.

    ``runs_rows``: (legend label, rows) per curve, ``rows`` one run's metrics rows or a list of them (a
    group of seeds, drawn as mean ± std); one colour per curve.  At most ``top`` curves, the best by
    ``metric``, are drawn, in the given order; the legend's last line counts the others.  A loss ``metric``
    on runs that recorded no accuracy (regression) shows the validation loss on a log scale in the third
    panel.
    """
    runs_rows = list(runs_rows)
    note = ""
    if top and len(runs_rows) > top:
        scores = [series_best(rows, metric) for _, rows in runs_rows]
        keep = top_series(scores, top, maximize=is_accuracy(metric))
        left = [runs_rows[i] for i in range(len(runs_rows)) if i not in set(keep)]
        note = more_note(sum(len(members_of(rows)) for _, rows in left), len(left),
                         "the table of nnlab compare")
        runs_rows = [runs_rows[i] for i in keep]
    colors = run_colors(list(range(len(runs_rows))))
    regression = metric.endswith("loss") and not any(
        r.get("train_acc") is not None for _, rows in runs_rows for m in members_of(rows) for r in m)
    draw, _ = overlaid_curves([(lab, rows, colors[i]) for i, (lab, rows) in enumerate(runs_rows)],
                              regression=regression, title=title, note=note)
    to_file(draw, path)


def curves_svg(figs: SvgFigures, series: list[tuple], regression: bool, note: str = "") -> str:
    """The overlaid-curves figure as inline SVG (the HTML report's); ``series`` as for overlaid_curves."""
    draw, alt = overlaid_curves(series, regression=regression, note=note)
    return figs.render(draw, alt)


# ------------------------------------------------------------------ gradient norms of one run


def gradnorm_svg(figs: SvgFigures, rows: list[dict], name: str) -> str | None:
    """Each layer's gradient norm against epoch on a log scale, as inline SVG; None when nothing can be drawn."""
    layers = list(dict.fromkeys(r.get("layer") for r in rows if r.get("layer") is not None))
    series = []
    for layer in layers:
        mine = [r for r in rows if r.get("layer") == layer and is_finite(r.get("epoch"))]
        ys = [r.get("grad_norm") if is_finite(r.get("grad_norm")) and r["grad_norm"] > 0 else float("nan")
              for r in mine]
        if any(y == y for y in ys):
            series.append((layer, [r["epoch"] for r in mine], ys))
    if not series:
        return None

    def draw(plt):
        fig, ax = plt.subplots(figsize=(5.6, 3.0))
        cmap = plt.get_cmap("viridis")
        for i, (layer, xs, ys) in enumerate(series):
            ax.plot(xs, ys, color=cmap(i / max(1, len(series) - 1) * 0.9), label=label_text(layer), linewidth=1.5,
                    marker="o" if len(xs) <= 15 else None, markersize=3)
        log_y(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel("gradient norm")
        ax.set_title("gradient norm per layer (input layer darkest)")
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.get_major_locator().set_params(integer=True)
        _legend_beside(ax, len(series))  # beside the plot, never over the lines
        fig.tight_layout()
        return fig

    return figs.render(draw, f"Gradient norm per layer of {name}, log scale, against epoch")
