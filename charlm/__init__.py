"""charlm: character-level language models from scratch, the package behind the charlm book.

What the book teaches, each module with the chapter that introduces it:

- ``fetch``    -- get ``names.txt`` from ``$CHARLM_NAMES`` or its URL, checksum-verified (Ch. 1)
- ``vocab``    -- the character vocabulary: ``.`` is 0, then sorted characters (Ch. 1)
- ``data``     -- word loading, the lecture split, context-window datasets (Ch. 1-2)
- ``bigram``   -- counting n-gram models and the neural bigram (Ch. 1)
- ``layers``   -- hand-written Linear, BatchNorm1d, Tanh, Dropout, Embedding, Flatten(Consecutive),
  Sequential (Ch. 3, 5)
- ``models``   -- models honouring the same contract: the MLP (Ch. 2-3), the deep MLP (Ch. 3),
  the WaveNet-style tree and its dilated-convolution twin (Ch. 5); ``num_params`` (Ch. 2)
- ``sequence`` -- the contract's one extension: models that predict at every position of
  their context, and the loss that scores them there (Ch. 7)
- ``recurrent`` -- a vanilla RNN and a GRU, their cells written out (Ch. 7)
- ``transformer`` -- a small causal Transformer: LayerNorm and self-attention written out (Ch. 7)
- ``ensemble`` -- several models' predictions averaged, one model to the rest of the book (Ch. 7)
- ``train``    -- the lectures' training loop and its SGD step, split evaluation, the
  learning-rate finder (Ch. 1-2)
- ``runs``     -- seeded training runs as data, trained in parallel worker processes (Ch. 2)
- ``stats``    -- diagnostics as numbers: activations, gradients, update:data ratios (Ch. 3),
  shape traces (Ch. 5)
- ``backprop`` -- every gradient of the Chapter 4 network by hand, checked against autograd (Ch. 4)
- ``engine``   -- a scalar autograd engine, to set against tensors (Ch. 4)
- ``torchnn``  -- our layers rebuilt from ``torch.nn`` modules, weights copied (Ch. 5)
- ``kernels``  -- Chapter 3's BatchNorm and tanh on torch's faster kernels (Ch. 6)
- ``optim``    -- AdamW on a cosine schedule, a step for the same loop (Ch. 6)
- ``recipes``  -- the book's headline models, recipes and runs, declared once (Ch. 3, 5-7)
- ``sample``   -- seeded sampling from any model that maps ``idx -> logits`` (Ch. 1)
- ``plots``    -- figures for the book; draws what it is given, computes nothing (Ch. 1-3)
- ``report``   -- Markdown tables for the book; formats what it is given (Ch. 2)
- ``timing``   -- how long a computation or a training step takes, repeated (Ch. 1-2)
- ``lectures`` -- the lectures' seeds and printed numbers, to set ours beside them (data only)

The command on top of them (``charlm train / sample / eval`` on any word list):

- ``checkpoint`` -- a trained model as a folder: weights, config, vocabulary, split, log
- ``export``     -- a trained model as one file for a web page: a JSON header, float32 tensors
- ``cli``        -- the ``charlm`` command (also ``python -m charlm``)

What only the book's build uses (a core budget, a run cache, result records, progress
reports) is fenced off in a subpackage of its own, which its docstring describes. No module
above imports it: it plugs itself in from outside, through the one seam ``train.watch`` and
by wrapping ``runs.fit`` and ``runs.fit_all`` in the book's kernels.

Which charlm modules each module may import (``tests/test_layout.py`` holds this map and
checks the code against it). Imports point one way: no module imports one that imports it.

    fetch     -> (nothing)
    vocab     -> (nothing)
    lectures  -> (nothing)
    data      -> fetch, vocab
    bigram    -> vocab
    layers    -> (nothing)
    kernels   -> layers
    models    -> layers, kernels
    sequence  -> (nothing)
    recurrent -> layers, sequence
    transformer -> layers, sequence
    ensemble  -> recurrent, sequence, transformer
    train     -> sequence
    optim     -> sequence, train
    runs      -> lectures, train, optim
    recipes   -> lectures, models, optim, recurrent, runs, train, transformer
    stats     -> layers, train
    backprop  -> train
    engine    -> (nothing)
    torchnn   -> layers
    sample    -> vocab
    plots     -> (nothing)
    report    -> (nothing)
    timing    -> train
    checkpoint -> vocab, data, bigram, models, recurrent, transformer, ensemble
    export    -> vocab
    cli       -> fetch, vocab, data, bigram, sequence, train, optim, recipes, sample,
                 checkpoint, ensemble
    __main__  -> cli
"""

__version__ = "0.1.0"
