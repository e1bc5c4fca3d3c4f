"""Figures for the book: each function draws what it is given and computes nothing (Chapter 1).

Every figure has an opaque white background and dark ink, so it reads the same on the
book's light and dark pages.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

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


def _plain_log_ticks(axis: Axis) -> None:
    """Label a log-scale axis at 1, 2 and 5 times each power of ten, as plain numbers
    (``20,000``, not ``2x10^4``), and leave the minor ticks unlabelled so none overlap."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


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


def plot_one_hot(onehot, row_labels: Sequence[str], itos: Sequence[str]) -> Figure:
    """One-hot rows as a grid of cells, the single 1 of each row filled (Chapter 1)."""
    onehot = np.asarray(onehot)
    rows, V = onehot.shape
    fig = _figure((8, 0.45 * rows + 1.1))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.imshow(onehot, cmap="Blues", vmin=0, vmax=1.25, aspect="equal")
        ax.set_xticks(range(V), itos, fontsize=9)
        ax.set_yticks(range(rows), row_labels)
        ax.set_xticks(np.arange(V + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(False)
        ax.grid(which="minor", color="#bbbbbb", lw=0.5)
        ax.tick_params(length=0, which="both")
        ax.set_xlabel("one column per token of the vocabulary")
        ax.set_ylabel("input character")
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


def plot_losses(curves: dict, xlabel: str = "step", ylabel: str = "training loss") -> Figure:
    """Several loss curves on one axis, one line each (Chapter 3): ``curves`` maps a label to
    (steps, losses) of equal length."""
    fig = _figure((7, 4))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        for (label, (steps, losses)), color in zip(curves.items(), [INK, ACCENT, "#7a7a7a"]):
            ax.plot(steps, losses, color=color, lw=1.5, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False)
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


def plot_mlp_diagram(vocab_size: int, block_size: int, n_embd: int, n_hidden: int) -> Figure:
    """Bengio et al.'s model as boxes and arrows, labelled with the sizes given (Chapter 2):
    each context character looks up its row of the shared table C; the rows are
    concatenated, go through a tanh layer, and a last layer gives the logits."""
    fig = _figure((8.5, 6.2))
    ax = fig.axes[0]
    box = {"boxstyle": "round,pad=0.45", "facecolor": "#dbe8f5", "edgecolor": INK}
    shared = {"boxstyle": "round,pad=0.45", "facecolor": "#f6dcdb", "edgecolor": ACCENT}
    arrow = {"arrowstyle": "-|>", "color": "#333333", "lw": 1.2}
    xs = np.linspace(0.2, 0.8, block_size) if block_size > 1 else np.array([0.5])
    with plt.rc_context(STYLE):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        for k, x in enumerate(xs):
            ax.text(
                x,
                0.05,
                f"character {k + 1}\n(an id, 0..{vocab_size - 1})",
                ha="center",
                va="center",
                fontsize=9,
                bbox=box,
            )
            ax.text(
                x,
                0.27,
                f"row of C\n{n_embd} numbers",
                ha="center",
                va="center",
                fontsize=9,
                bbox=shared,
            )
            ax.annotate("", (x, 0.22), (x, 0.11), arrowprops=arrow)
            ax.annotate("", (0.5, 0.44), (x, 0.32), arrowprops=arrow)
        ax.text(
            0.5,
            0.365,
            f"C: one table of {vocab_size} × {n_embd}, shared by every position",
            ha="center",
            va="center",
            fontsize=8.5,
            color=ACCENT,
        )
        labels = [
            (0.49, f"concatenate: {block_size * n_embd} numbers"),
            (0.65, f"tanh(x W1 + b1): {n_hidden} units"),
            (0.81, f"logits = h W2 + b2: {vocab_size} numbers"),
            (0.95, f"softmax: P(next character), {vocab_size} probabilities"),
        ]
        for (y, text), (y_next, _) in zip(labels, labels[1:] + [(None, None)]):
            ax.text(0.5, y, text, ha="center", va="center", fontsize=10, bbox=box)
            if y_next is not None:
                ax.annotate("", (0.5, y_next - 0.04), (0.5, y + 0.04), arrowprops=arrow)
    return fig


def _grid(n: int, width: float = 11.0, height: float = 3.4) -> Figure:
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height * rows))
        for i in range(n):
            fig.add_subplot(rows, cols, i + 1)
    plt.close(fig)
    return fig


def plot_histograms(panels: dict, xlabel: str, saturation: bool = False) -> Figure:
    """One panel per variant, one density line per layer (Chapter 3).

    ``panels`` maps a title to a list of stats with ``name``, ``mean``, ``std``,
    ``saturated`` and ``hist`` (``charlm.stats.LayerStats``).
    """
    fig = _grid(len(panels))
    with plt.rc_context(STYLE):
        for ax, (title, layers) in zip(fig.axes, panels.items()):
            for st in layers:
                label = f"{st.name}: std {st.std:.2g}"
                if saturation and st.saturated == st.saturated:  # nan: not measured
                    label += f", {st.saturated:.0%} saturated"
                ax.plot(st.hist.centers, st.hist.density, lw=1.3, label=label)
            ax.set_title(title, fontsize=11)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("density")
            ax.legend(frameon=False, fontsize=7.5)
        fig.tight_layout()
    return fig


def plot_weight_gradients(panels: dict) -> Figure:
    """Gradient densities of each weight matrix, one panel per variant (Chapter 3).

    ``panels`` maps a title to ``charlm.stats.WeightStats`` lists.
    """
    fig = _grid(len(panels))
    with plt.rc_context(STYLE):
        for ax, (title, weights) in zip(fig.axes, panels.items()):
            for w in weights:
                shape = "x".join(map(str, w.shape))
                label = f"{shape}: grad:data {w.grad_to_data:.1e}"
                ax.plot(w.hist.centers, w.hist.density, lw=1.2, label=label)
            ax.set_title(title, fontsize=11)
            ax.set_xlabel("gradient value")
            ax.set_ylabel("density")
            ax.legend(frameon=False, fontsize=7.5)
        fig.tight_layout()
    return fig


def plot_update_ratios(panels: dict, guide: float = -3.0) -> Figure:
    """log10 update:data ratio per weight over the steps, with a guide line (Chapter 3).

    ``panels`` maps a title to {weight name: one value per step}.
    """
    fig = _grid(len(panels))
    with plt.rc_context(STYLE):
        for ax, (title, history) in zip(fig.axes, panels.items()):
            for name, values in history.items():
                ax.plot(values, lw=0.9, label=name)
            ax.axhline(guide, color="#222222", ls="--", lw=1.2, label=f"guide: {guide:g}")
            ax.set_title(title, fontsize=11)
            ax.set_xlabel("step")
            ax.set_ylabel("log10(update std / data std)")
            ax.legend(frameon=False, fontsize=7, ncol=2)
        fig.tight_layout()
    return fig


def plot_saturation(saturated, title: str = "") -> Figure:
    """Black where a tanh unit is saturated, for each example (row) of a batch (Chapter 3)."""
    saturated = np.asarray(saturated)
    fig = _figure((11, 2.6))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.imshow(saturated, cmap="gray_r", interpolation="nearest", aspect="auto", vmin=0, vmax=1)
        ax.set_xlabel("hidden unit")
        ax.set_ylabel("example")
        ax.grid(False)
        if title:
            ax.set_title(title, fontsize=11)
    return fig


def plot_step_cost(batch_sizes: Sequence[int], ms_per_step: dict,
                   ranges: dict | None = None) -> Figure:  # fmt: skip
    """Cost of a training step against batch size, per step and per example (Chapter 6).

    ``ms_per_step`` maps a label (e.g. a thread count) to milliseconds per step, one value
    per batch size (a median); ``ranges``, if given, maps the same labels to the (lowest,
    highest) timing at each batch size, drawn as a band.
    """
    fig = _grid(2, width=10.0, height=3.6)
    left, right = fig.axes
    with plt.rc_context(STYLE):
        for label, ms in ms_per_step.items():
            (line,) = left.plot(batch_sizes, ms, marker="o", lw=1.6, label=label)
            right.plot(batch_sizes, [1000 * t / b for t, b in zip(ms, batch_sizes)],
                       marker="o", lw=1.6, label=label)  # fmt: skip
            if ranges is not None:
                low, high = zip(*ranges[label])
                left.fill_between(batch_sizes, low, high, color=line.get_color(), alpha=0.2, lw=0)
                right.fill_between(batch_sizes, [1000 * t / b for t, b in zip(low, batch_sizes)],
                                   [1000 * t / b for t, b in zip(high, batch_sizes)],
                                   color=line.get_color(), alpha=0.2, lw=0)  # fmt: skip
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            _plain_log_ticks(ax.yaxis)
            ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("batch size")
        left.set_ylabel("ms per step")
        right.set_ylabel("µs per example")
        left.legend(frameon=False)
    return fig


def plot_results(points: Sequence[tuple[str, int, float, float | None, float | None]]) -> Figure:
    """Dev loss against parameters and against training time, one point per model (Results).

    ``points``: (label, parameters, dev loss, training seconds or None, the lecture's val
    loss or None). The lecture's value, where there is one, is drawn hollow beside ours.
    """
    fig = _grid(2, width=10.0, height=3.8)
    by_size, by_time = fig.axes
    with plt.rc_context(STYLE):
        for i, (label, params, dev, seconds, lecture) in enumerate(points):
            color = f"C{i}"
            by_size.scatter(params, dev, color=color, s=36, label=label, zorder=3)
            if lecture is not None:
                by_size.scatter(params, lecture, facecolors="none", edgecolors=color, s=64)
            if seconds:
                by_time.scatter(seconds, dev, color=color, s=36, zorder=3)
        by_size.set_xscale("log")
        by_time.set_xscale("log")
        _plain_log_ticks(by_size.xaxis)
        _plain_log_ticks(by_time.xaxis)
        by_size.set_xlabel("parameters (log scale)")
        by_time.set_xlabel("training time, s (log scale)")
        for ax in (by_size, by_time):
            ax.set_ylabel("dev loss")
        by_size.legend(frameon=False, fontsize=8)
    return fig


def plot_loss_vs_time(
    curves: dict,
    target: float | None = None,
    ylabel: str = "training loss (running mean)",
    xlabel: str = "training time (s, log scale)",
) -> Figure:
    """A loss against training time in seconds, one line per recipe (Chapters 6-7).

    ``curves`` maps a label to (seconds, losses) of equal length; a single point is drawn
    as a marker.
    """
    fig = _figure((7, 4))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        for label, (seconds, losses) in curves.items():
            ax.plot(seconds, losses, lw=1.6, label=label, marker="o" if len(losses) == 1 else None)
        if target is not None:
            ax.axhline(target, color=ACCENT, ls="--", lw=1.1, label=f"{target:g}")
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False)
    return fig


def plot_training_log(steps: Sequence[int], train: Sequence[float], dev: Sequence[float]) -> Figure:
    """The running training loss and the dev loss at each check of ``charlm train``."""
    fig = _figure((7, 3.6))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        ax.plot(steps, train, lw=1.6, label="training loss (mean since the last check)")
        ax.plot(steps, dev, lw=1.6, color=ACCENT, label="dev loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(frameon=False)
    return fig


def plot_train_dev(panels: dict) -> Figure:
    """Training loss and dev loss against steps, one panel per model (Chapter 7).

    ``panels`` maps a title to (steps, training losses, dev steps, dev losses); the
    training losses are running means, one per step in ``steps``.
    """
    fig = _grid(len(panels), height=3.0)
    with plt.rc_context(STYLE):
        for ax, (title, (steps, train, dev_steps, dev)) in zip(fig.axes, panels.items()):
            ax.plot(steps, train, lw=1.4, color=INK, label="training loss (running mean)")
            ax.plot(dev_steps, dev, lw=1.6, color=ACCENT, marker="o", ms=3, label="dev loss")
            ax.set_title(title, fontsize=11)
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
    return fig


def plot_attention(weights, labels: Sequence[str], title: str = "") -> Figure:
    """One attention head's weights as a heatmap: row t is how much position t reads each
    position (Chapter 7). ``weights`` is (T, T); ``labels`` names each position."""
    weights = np.asarray(weights)
    fig = _figure((4.6, 4.2))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        image = ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("position read (key)")
        ax.set_ylabel("position reading (query)")
        ax.grid(False)
        if title:
            ax.set_title(title, fontsize=11)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return fig


def plot_dlogits(dlogits, targets: Sequence[int], itos: Sequence[str]) -> Figure:
    """The gradient of the loss on each logit of a batch, the targets ringed (Chapter 4).

    Rows are examples, columns characters; red pushes a logit down, blue pulls it up.
    """
    dlogits = np.asarray(dlogits)
    n, V = dlogits.shape
    fig = _figure((9, 0.22 * n + 1.2))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        limit = float(np.abs(dlogits).max())
        image = ax.imshow(dlogits, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.scatter(list(targets), range(n), s=40, facecolors="none", edgecolors="black",
                   linewidths=0.8)  # fmt: skip
        ax.set_xticks(range(V), itos)
        ax.set_xlabel("character (its logit)")
        ax.set_ylabel("example of the batch")
        ax.tick_params(length=0)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="dloss / dlogit", shrink=0.8)
    return fig


def plot_tree(levels: Sequence[Sequence[str]]) -> Figure:
    """A tree of spans, leaves at the bottom and the output at the top (Chapter 5).

    ``levels[0]`` labels the leaves, each following level labels the units that fuse
    consecutive groups of the level below (as many per level as given); lines join each
    unit to the units below it that it reads.
    """
    fig = _figure((11, 1.3 * len(levels) + 0.6))
    ax = fig.axes[0]
    with plt.rc_context(STYLE):
        width = len(levels[0])
        below: list[float] = []
        for depth, labels in enumerate(levels):
            k = len(labels)
            xs = [(i + 0.5) * width / k for i in range(k)]
            if below:
                group = len(below) // k
                for i, x in enumerate(xs):
                    for xb in below[i * group : (i + 1) * group]:
                        ax.plot([xb, x], [depth - 1 + 0.18, depth - 0.18], color="#999999",
                                lw=1)  # fmt: skip
            for x, label in zip(xs, labels):
                ax.text(x, depth, label, ha="center", va="center", fontsize=10,
                        family="monospace",
                        bbox={"boxstyle": "round", "fc": "#e8f0f8", "ec": INK})  # fmt: skip
            below = xs
        ax.set_xlim(-0.2, width + 0.2)
        ax.set_ylim(-0.6, len(levels) - 0.4)
        ax.axis("off")
    return fig
