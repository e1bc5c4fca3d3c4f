"""charlm: character-level language models from scratch, the package behind the charlm book.

Modules, in import order (each imports only from those before it; ``lectures`` holds the
lectures' printed numbers, for side-by-side tables):

- ``fetch``  -- get ``names.txt`` from ``$CHARLM_NAMES`` or its URL, checksum-verified (Ch. 1)
- ``vocab``  -- the character vocabulary: ``.`` is 0, then sorted characters (Ch. 1)
- ``data``   -- word loading, the lecture split, context-window datasets (Ch. 1-2)
- ``bigram`` -- counting n-gram models and the neural bigram (Ch. 1)
- ``layers`` -- hand-written Linear, BatchNorm1d, Tanh, Embedding, Flatten(Consecutive),
  Sequential (Ch. 3, 5)
- ``models`` -- models honouring the same contract: the MLP (Ch. 2-3), the deep MLP (Ch. 3),
  the WaveNet-style tree and its dilated-convolution twin (Ch. 5)
- ``train``  -- the training loop (SGD or AdamW), split evaluation, the learning-rate finder
  (Ch. 1-2, 5)
- ``runs``   -- seeded training runs as data, trained in parallel worker processes (Ch. 2)
- ``stats``  -- diagnostics as numbers: activations, gradients, update:data ratios (Ch. 3),
  shape traces (Ch. 5)
- ``backprop`` -- every gradient of the Chapter 4 network by hand, checked against autograd (Ch. 4)
- ``sample`` -- seeded sampling from any model that maps ``idx -> logits`` (Ch. 1)
- ``plots``  -- figures for the book; draws what it is given, computes nothing (Ch. 1-3)
- ``report`` -- Markdown tables for the book; formats what it is given (Ch. 2)
"""

__version__ = "0.1.0"
