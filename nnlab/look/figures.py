"""matplotlib figures (Agg backend, imported lazily: matplotlib is slow to import)."""

from __future__ import annotations

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


def plot_curves(rows: list[dict], path, title: str = "") -> None:
    """Loss (train, val), accuracy (train, val) and learning rate against epoch, side by side."""
    plt = _plt()
    has_acc = any(r.get("train_acc") is not None for r in rows)
    n = 3 if has_acc else 2
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4))
    ep = [r["epoch"] for r in rows]
    ax = axes[0]
    ax.plot(ep, _col(rows, "train_loss"), label="train", color="C0")
    if any(r.get("val_loss") is not None for r in rows):
        ax.plot(ep, _col(rows, "val_loss"), label="validation", color="C1")
    ax.set_title("loss")
    ax.set_xlabel("epoch")
    losses = [v for v in _col(rows, "train_loss") + _col(rows, "val_loss") if v == v and v > 0]
    if losses and max(losses) / min(losses) > 50:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if has_acc:
        ax = axes[1]
        ax.plot(ep, _col(rows, "train_acc"), label="train", color="C0")
        if any(r.get("val_acc") is not None for r in rows):
            ax.plot(ep, _col(rows, "val_acc"), label="validation", color="C1")
        ax.set_title("accuracy")
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
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
    ax.set_yscale("log")
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


def plot_compare(runs_rows: list[tuple[str, list[dict]]], path, metric: str = "val_acc", title: str = "") -> None:
    """Overlaid curves of several runs: train loss, validation loss, the metric, learning rate.

    ``runs_rows``: (legend label, metrics rows) per run; one colour per run.
    """
    plt = _plt()
    panels = [("train_loss", "training loss"), ("val_loss", "validation loss"),
              (metric if metric not in ("train_loss", "val_loss") else "val_acc", "validation accuracy"),
              ("lr", "learning rate")]
    if metric.endswith("loss"):
        panels[2] = ("train_acc", "training accuracy")
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    colors = plt.get_cmap("tab10" if len(runs_rows) <= 10 else "tab20")
    for ax, (key, name) in zip(axes.flat, panels):
        drawn = False
        for i, (lab, rows) in enumerate(runs_rows):
            ys = _col(rows, key)
            if any(y == y for y in ys):
                ax.plot([r["epoch"] for r in rows], ys, color=colors(i % colors.N), label=lab, lw=1.4)
                drawn = True
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if (key.endswith("loss") or key == "lr") and drawn:
            vals = [v for _, rows in runs_rows for v in _col(rows, key) if v == v and v > 0]
            if vals and max(vals) / min(vals) > 50:
                ax.set_yscale("log")
            elif key == "lr":
                ax.ticklabel_format(axis="y", useOffset=False, style="sci", scilimits=(-3, 3))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if not handles:
        for ax in axes.flat:
            handles, labels = ax.get_legend_handles_labels()
            if handles:
                break
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), fontsize=8,
               bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(labels) + 2) // 3), 1, 1))
    _save(fig, path)
    plt.close(fig)
