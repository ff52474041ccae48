"""Every figure nnlab draws, for files (PNG, SVG, PDF) and for the HTML report (inline SVG).

matplotlib (Agg backend) is imported lazily: it is slow to import.  A figure is a
``draw(plt) -> Figure`` function, so the same drawing goes to a file (``_to_file``) or
into the report (``SvgFigures.render``: ids prefixed, an accessible name).  The
overlaid curves of several runs (``overlaid_curves``) serve ``compare --plot`` and the
report alike; ``log_if_wide`` is the one rule for when an axis goes logarithmic.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    from nnlab.files import atomic_path

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
    plt = _plt()
    has_acc = any(r.get("train_acc") is not None for r in rows)
    n = 3 if has_acc else 2
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4))
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
    _save(fig, path)
    plt.close(fig)


def plot_schedule(lrs: list[float], path, title: str = "", xlabel: str = "epoch") -> None:
    """The learning rate a config will use, against epoch (1-based)."""
    plt = _plt()
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

    ``suggestions``: name -> an object with ``lr`` (nnlab.train.lr_find.Suggestion); ``window``: the
    (first, stop) indices the rules look at.
    """
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    plt = _plt()
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
    ax.set_title(_plain(title) if title else "learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_diagnostics(rows: list[dict], path, title: str = "") -> None:
    """Each layer's gradient norm on a log scale against epoch (vanishing/exploding gradients show
    as layers spread apart by orders of magnitude), and the dead/saturated fractions when recorded."""
    plt = _plt()
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
    ax.legend(fontsize=7, ncol=2 if len(layers) > 6 else 1)
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
        ax.legend(fontsize=7, ncol=2 if len(layers) > 6 else 1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


# ------------------------------------------------------------------ shared helpers


LOG_RATIO = 50.0  # a loss or learning-rate axis whose values span more than this factor goes logarithmic


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _plain(text) -> str:
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
    finite = [v for v in values if _finite(v)]
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
        if not _finite(r.get("epoch")):
            continue
        v = r.get(key)
        xs.append(r["epoch"])
        ys.append(v if _finite(v) else float("nan"))
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

        self.plt = _plt()
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


def _to_file(draw, path) -> None:
    plt = _plt()
    fig = draw(plt)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------ overlaid curves of several runs


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


def overlaid_curves(series: list[tuple[str, list[dict], str]], regression: bool = False, title: str = ""):
    """(draw, alt text) of the overlaid-curves figure; ``series``: (legend label, metrics rows, colour) per run.

    ``draw(plt)`` returns the figure: the four panels of curve_panels, one colour per run, losses and
    learning rates on a log axis when they span more than LOG_RATIO, markers for short runs, the legend
    below.  plot_compare saves it to a file, the HTML report inlines it as SVG.
    """
    panels = curve_panels([rows for _, rows, _ in series], regression)
    longest = max((len(rows) for _, rows, _ in series), default=0)

    def draw(plt):
        fig, axes = plt.subplots(2, 2, figsize=(11, 6.6))
        legend: dict = {}  # run index -> (line, label): each run once, from the first panel it appears in
        for p, (ax, (key, name)) in enumerate(zip(axes.flat, panels)):
            values = []
            for i, (text, rows, color) in enumerate(series):
                xs, ys = _xy(rows, key)
                if not any(_finite(y) for y in ys):
                    continue
                values += ys
                (line,) = ax.plot(xs, ys, color=color, linewidth=1.6,
                                  linestyle=("-", "--", ":", "-.")[(i // 20) % 4],
                                  marker="o" if longest <= 15 or len(xs) <= 2 else None, markersize=3)
                legend.setdefault(i, (line, _plain(text)))
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
            elif key == "lr" and not log_if_wide(ax, values):
                ax.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 3))
            ax.xaxis.get_major_locator().set_params(integer=True)
        if title:
            fig.suptitle(_plain(title))
        fig.tight_layout(h_pad=1.6, w_pad=2.0)
        handles = [legend[i][0] for i in sorted(legend)]
        labels = [legend[i][1] for i in sorted(legend)]
        if labels:
            widest = max(len(t) for t in labels)
            ncol = 1 if len(labels) <= 4 or widest > 70 else 2 if len(labels) <= 12 or widest > 45 else 3
            fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
                       frameon=False, fontsize=9)
        return fig

    return draw, "Overlaid curves: " + ", ".join(name for _, name in panels) + " against epoch"


def plot_compare(runs_rows: list[tuple[str, list[dict]]], path, metric: str = "val_acc", title: str = "") -> None:
    """Overlaid curves of several runs into a file (.png, .svg, .pdf): the report's curves figure.

    ``runs_rows``: (legend label, metrics rows) per run; one colour per run.  A loss ``metric`` on runs that
    recorded no accuracy (regression) shows the validation loss on a log scale in the third panel.
    """
    colors = run_colors(list(range(len(runs_rows))))
    regression = metric.endswith("loss") and not any(
        r.get("train_acc") is not None for _, rows in runs_rows for r in rows)
    draw, _ = overlaid_curves([(lab, rows, colors[i]) for i, (lab, rows) in enumerate(runs_rows)],
                              regression=regression, title=title)
    _to_file(draw, path)


def curves_svg(figs: SvgFigures, series: list[tuple[str, list[dict], str]], regression: bool) -> str:
    """The overlaid-curves figure as inline SVG (the HTML report's)."""
    draw, alt = overlaid_curves(series, regression=regression)
    return figs.render(draw, alt)


# ------------------------------------------------------------------ gradient norms of one run


def gradnorm_svg(figs: SvgFigures, rows: list[dict], name: str) -> str | None:
    """Each layer's gradient norm against epoch on a log scale, as inline SVG; None when nothing can be drawn."""
    layers = list(dict.fromkeys(r.get("layer") for r in rows if r.get("layer") is not None))
    series = []
    for layer in layers:
        mine = [r for r in rows if r.get("layer") == layer and _finite(r.get("epoch"))]
        ys = [r.get("grad_norm") if _finite(r.get("grad_norm")) and r["grad_norm"] > 0 else float("nan")
              for r in mine]
        if any(y == y for y in ys):
            series.append((layer, [r["epoch"] for r in mine], ys))
    if not series:
        return None

    def draw(plt):
        fig, ax = plt.subplots(figsize=(5.6, 3.0))
        cmap = plt.get_cmap("viridis")
        for i, (layer, xs, ys) in enumerate(series):
            ax.plot(xs, ys, color=cmap(i / max(1, len(series) - 1) * 0.9), label=_plain(layer), linewidth=1.5,
                    marker="o" if len(xs) <= 15 else None, markersize=3)
        log_y(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel("gradient norm")
        ax.set_title("gradient norm per layer (input layer darkest)")
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(series) <= 3:
            ax.legend(fontsize=7)
        else:  # many layers: beside the plot, not over the lines
            ax.legend(fontsize=7, ncol=2 if len(series) > 12 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      frameon=False)
        fig.tight_layout()
        return fig

    return figs.render(draw, f"Gradient norm per layer of {name}, log scale, against epoch")
