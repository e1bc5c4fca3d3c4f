from __future__ import annotations

import io

import matplotlib.colors as mcolors
import torch

from charlm.plots import (
    plot_attention,
    plot_bigram_counts,
    plot_loss,
    plot_loss_vs_time,
    plot_mlp_diagram,
    plot_one_hot,
    plot_train_dev,
)


def _is_white(color) -> bool:
    return mcolors.to_rgba(color) == (1.0, 1.0, 1.0, 1.0)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_heatmap_annotates_every_cell():
    itos = [".", "a", "b"]
    counts = torch.arange(9).view(3, 3)
    fig = plot_bigram_counts(counts, itos)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 2 * 9 and ".a" in texts and "8" in texts
    assert _is_white(fig.get_facecolor())
    assert _png(fig).startswith(b"\x89PNG")


def test_loss_curve_with_reference():
    fig = plot_loss([3.0, 2.5, 2.4], reference=2.45, reference_label="counts")
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and list(ax.lines[0].get_ydata()) == [3.0, 2.5, 2.4]
    assert ax.get_legend().get_texts()[1].get_text() == "counts"
    assert _is_white(fig.get_facecolor()) and _is_white(ax.get_facecolor())
    assert _png(fig).startswith(b"\x89PNG")


def test_losses_draws_one_labelled_line_per_curve():
    from charlm.plots import plot_losses

    fig = plot_losses({"bad start": ([10, 20], [3.3, 2.9]), "good start": ([10, 20], [2.9, 2.8])})
    ax = fig.axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == [[3.3, 2.9], [2.9, 2.8]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bad start", "good start"]
    assert _png(fig).startswith(b"\x89PNG")


def test_lr_finder_plot_marks_the_choice():
    from charlm.plots import plot_lr_finder

    fig = plot_lr_finder([-3.0, -2.0, -1.0], [5.0, 4.0, 6.0], [5.0, 4.5, 5.5], chosen=-1.0)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and list(ax.lines[2].get_xdata()) == [-1.0, -1.0]
    assert _png(fig).startswith(b"\x89PNG")


def test_embedding_plot_labels_every_point():
    from charlm.plots import plot_embeddings

    fig = plot_embeddings(torch.randn(4, 2), [".", "a", "b", "c"])
    assert sorted(t.get_text() for t in fig.axes[0].texts) == [".", "a", "b", "c"]
    assert _is_white(fig.get_facecolor())


def test_training_log_draws_train_and_dev():
    from charlm.plots import plot_training_log

    fig = plot_training_log([10, 20, 30], [3.0, 2.5, 2.2], [3.1, 2.6, 2.4])
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[3.0, 2.5, 2.2], [3.1, 2.6, 2.4]]
    assert _png(fig).startswith(b"\x89PNG")


def test_one_hot_grid_labels_rows_and_columns():
    onehot = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 3)
    fig = plot_one_hot(onehot, [".", "b", "a"], [".", "a", "b"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [".", "b", "a"]
    assert (ax.images[0].get_array() == onehot.numpy()).all()
    assert _png(fig).startswith(b"\x89PNG")


def test_mlp_diagram_is_labelled_with_the_sizes_given():
    fig = plot_mlp_diagram(vocab_size=27, block_size=3, n_embd=10, n_hidden=200)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "30 numbers" in texts and "200 units" in texts and "27 × 10" in texts
    assert texts.count("row of C") == 3
    four = " ".join(t.get_text() for t in plot_mlp_diagram(50, 4, 8, 64).axes[0].texts)
    assert four.count("row of C") == 4 and "32 numbers" in four and "50 logits" not in four
    assert _png(fig).startswith(b"\x89PNG")


def test_dlogits_heatmap_rings_each_target():
    from charlm.plots import plot_dlogits

    dlogits = torch.tensor([[0.1, -0.3, 0.2], [-0.05, 0.02, 0.03]])
    fig = plot_dlogits(dlogits, [1, 0], [".", "a", "b"])
    ax = fig.axes[0]
    assert (ax.images[0].get_array() == dlogits.numpy()).all()
    ringed = ax.collections[0].get_offsets().tolist()
    assert ringed == [[1.0, 0.0], [0.0, 1.0]]  # (column, row) of each target
    assert _png(fig).startswith(b"\x89PNG")


def test_tree_draws_every_label_and_joins_each_unit_to_its_children():
    from charlm.models import WaveNetConfig
    from charlm.plots import plot_tree

    spans = WaveNetConfig(block_size=8).tree_spans()
    assert [len(level) for level in spans] == [8, 4, 2, 1]
    assert spans[2] == [(0, 4), (4, 8)]
    assert WaveNetConfig(block_size=8, hierarchical=False).tree_spans()[1] == [(0, 8)]
    labels = [[f"{a}-{b}" for a, b in level] for level in spans]
    fig = plot_tree(labels)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [label for level in labels for label in level]
    assert len(fig.axes[0].get_lines()) == 8 + 4 + 2  # each unit to its two children
    assert _png(fig).startswith(b"\x89PNG")


def test_train_dev_panels_draw_both_losses_per_model():
    panels = {"RNN": ([1, 2, 3], [2.5, 2.2, 2.1], [2, 3], [2.3, 2.2]),
              "GRU": ([1, 2, 3], [2.4, 2.1, 2.0], [2, 3], [2.2, 2.1])}  # fmt: skip
    fig = plot_train_dev(panels)
    assert [ax.get_title() for ax in fig.axes] == ["RNN", "GRU"]
    for ax in fig.axes:
        assert len(ax.lines) == 2
        assert list(ax.lines[1].get_ydata()) in ([2.3, 2.2], [2.2, 2.1])


def test_attention_heatmap_labels_both_axes_with_the_characters():
    weights = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    fig = plot_attention(weights, [".", "a", "b"], "one head")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [".", "a", "b"]
    assert [t.get_text() for t in ax.get_yticklabels()] == [".", "a", "b"]
    assert ax.images[0].get_array().tolist() == weights.tolist()
    assert ax.get_title() == "one head"


def test_a_single_point_is_drawn_as_a_marker():
    fig = plot_loss_vs_time({"one run": ([120.0], [1.99])}, ylabel="dev loss")
    (line,) = fig.axes[0].lines
    assert line.get_marker() == "o"
    assert fig.axes[0].get_ylabel() == "dev loss"


def test_step_cost_draws_each_range_as_a_band():
    from matplotlib.collections import PolyCollection

    from charlm.plots import plot_step_cost

    ms = {"1 thread": [1.0, 2.0], "2 threads": [1.5, 1.8]}
    plain = plot_step_cost([32, 64], ms)
    assert not any(isinstance(c, PolyCollection) for ax in plain.axes for c in ax.collections)
    ranges = {"1 thread": [(0.9, 1.1), (1.8, 2.5)], "2 threads": [(1.2, 2.0), (1.7, 1.9)]}
    banded = plot_step_cost([32, 64], ms, ranges=ranges)
    for ax in banded.axes:
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
