"""Figures for the book: each function draws what it is given and computes nothing (Chapter 1).

Every figure has an opaque white background and dark ink, so it reads the same on the
book's light and dark pages.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

STYLE = {
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": "#333333",
    "axes.labelcolor": "#222222",
    "text.color": "#222222",
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "axes.grid": True,
    "grid.color": "#dddddd",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "figure.dpi": 110,
    "savefig.bbox": "tight",
}
INK = "#1f4e79"  # main line colour
ACCENT = "#c0504d"  # reference lines


def _figure(figsize: tuple[float, float]) -> Figure:
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=figsize)
        fig.add_subplot()
    plt.close(fig)  # the caller displays or glues it; pyplot keeps no reference
    return fig


def plot_bigram_counts(counts, itos: Sequence[str]) -> Figure:
    """The annotated V x V bigram count matrix, rows = first character (Chapter 1)."""
    counts = np.asarray(counts)
    V = len(itos)
    fig = _figure((12, 12))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.imshow(counts, cmap="Blues")
        vmax = float(counts.max())
        for i in range(V):
            for j in range(V):
                c = int(counts[i, j])
                ink = "white" if c > 0.55 * vmax else "#333333"
                ax.text(j, i, itos[i] + itos[j], ha="center", va="bottom", color=ink, fontsize=7)
                ax.text(j, i, str(c), ha="center", va="top", color=ink, fontsize=6)
        ax.set_xticks(range(V), itos)
        ax.set_yticks(range(V), itos)
        ax.set_xlabel("next character")
        ax.set_ylabel("current character")
        ax.tick_params(length=0)
        ax.grid(False)
    return fig


def plot_loss(
    losses: Sequence[float],
    reference: float | None = None,
    reference_label: str = "reference",
    xlabel: str = "step",
    ylabel: str = "training loss (mean NLL)",
) -> Figure:
    """A loss curve with an optional horizontal reference line (Chapter 1)."""
    fig = _figure((7, 4))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.plot(range(len(losses)), losses, color=INK, lw=1.5, label="loss")
        if reference is not None:
            ax.axhline(reference, color=ACCENT, ls="--", lw=1.2, label=reference_label)
            ax.legend(frameon=False)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    return fig


def plot_lr_finder(
    exponents: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    chosen: float,
) -> Figure:
    """Batch loss against log10 of the learning rate, with the chosen rate marked (Chapter 2)."""
    fig = _figure((7, 4))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.plot(exponents, losses, color="#9db7d5", lw=0.7, label="batch loss")
        ax.plot(exponents, smoothed, color=INK, lw=1.8, label="moving average")
        ax.axvline(chosen, color=ACCENT, ls="--", lw=1.2, label=f"chosen: 10^{chosen:g}")
        ax.set_xlabel("log10(learning rate)")
        ax.set_ylabel("batch loss")
        ax.legend(frameon=False)
    return fig


def plot_embeddings(points, itos: Sequence[str]) -> Figure:
    """Each character's 2-D embedding, drawn as its letter (Chapter 2)."""
    points = np.asarray(points)
    fig = _figure((6, 6))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.scatter(points[:, 0], points[:, 1], s=260, color="#dbe8f5", edgecolors=INK)
        for (x, y), ch in zip(points, itos):
            ax.text(x, y, ch, ha="center", va="center", color="#111111", fontsize=11)
        ax.set_xlabel("embedding dimension 0")
        ax.set_ylabel("embedding dimension 1")
        ax.set_aspect("equal", adjustable="datalim")
    return fig
