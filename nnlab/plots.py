"""matplotlib figures (Agg backend, imported lazily: matplotlib is slow to import)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
