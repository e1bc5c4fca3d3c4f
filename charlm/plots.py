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
