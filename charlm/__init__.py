"""charlm: character-level language models from scratch, the package behind the charlm book.

Modules, in import order (each imports only from those before it):

- ``fetch``  -- get ``names.txt`` from ``$CHARLM_NAMES`` or its URL, checksum-verified (Ch. 1)
- ``vocab``  -- the character vocabulary: ``.`` is 0, then sorted characters (Ch. 1)
- ``data``   -- word loading, the lecture split, context-window datasets (Ch. 1-2)
- ``bigram`` -- counting n-gram models and the neural bigram (Ch. 1)
- ``train``  -- the training loop and split evaluation (Ch. 1-2)
- ``sample`` -- seeded sampling from any model that maps ``idx -> logits`` (Ch. 1)
- ``plots``  -- figures for the book; draws what it is given, computes nothing (Ch. 1)
"""

__version__ = "0.1.0"
