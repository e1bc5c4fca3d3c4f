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
- ``train``    -- the training loop (SGD or AdamW), split evaluation, the learning-rate finder
  (Ch. 1-2, 5)
- ``runs``     -- seeded training runs as data, trained in parallel worker processes (Ch. 2)
- ``stats``    -- diagnostics as numbers: activations, gradients, update:data ratios (Ch. 3),
  shape traces (Ch. 5)
- ``backprop`` -- every gradient of the Chapter 4 network by hand, checked against autograd (Ch. 4)
- ``engine``   -- a scalar autograd engine, to set against tensors (Ch. 4)
- ``torchnn``  -- our layers rebuilt from ``torch.nn`` modules, weights copied (Ch. 5)
- ``sample``   -- seeded sampling from any model that maps ``idx -> logits`` (Ch. 1)
- ``plots``    -- figures for the book; draws what it is given, computes nothing (Ch. 1-3)
- ``report``   -- Markdown tables for the book; formats what it is given (Ch. 2)
- ``timing``   -- how long a small computation takes, best of several repeats (Ch. 1-2)
- ``lectures`` -- the lectures' seeds and printed numbers, to set ours beside them (data only)

The command on top of them (``charlm train / sample / eval`` on any word list):

- ``checkpoint`` -- a trained model as a folder: weights, config, vocabulary, split, log
- ``cli``        -- the ``charlm`` command (also ``python -m charlm``)

What only the book's build uses, fenced off in a subpackage that imports none of the above:

- ``bookbuild`` -- the core budget, the run cache, the result records, source digests and
  training progress

Which charlm modules each module may import (``tests/test_layout.py`` holds this map and
checks the code against it). Imports point one way: no module imports one that imports it.

    fetch     -> (nothing)
    vocab     -> (nothing)
    lectures  -> (nothing)
    data      -> fetch, vocab
    bigram    -> vocab
    layers    -> (nothing)
    models    -> layers
    sequence  -> (nothing)
    recurrent -> layers, sequence
    transformer -> layers, sequence
    train     -> sequence, bookbuild
    runs      -> lectures, train, bookbuild
    stats     -> layers, train
    backprop  -> train, bookbuild
    engine    -> (nothing)
    torchnn   -> layers
    sample    -> vocab
    plots     -> (nothing)
    report    -> (nothing)
    timing    -> (nothing)
    checkpoint -> vocab, data, bigram, models, recurrent, transformer
    cli       -> fetch, vocab, data, bigram, models, recurrent, transformer, sequence,
                 train, sample, checkpoint
    __main__  -> cli
    bookbuild -> (nothing)
"""

__version__ = "0.1.0"
