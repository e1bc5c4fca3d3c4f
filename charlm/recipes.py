"""The book's headline models, recipes and runs, declared once (Chapters 3 and 5-7).

Several chapters, the ``charlm`` command and the benchmarks train the same things: Chapter
5's WaveNet on the lecture's recipe (Chapters 6 and 7 set their own results beside it),
Chapter 6's fast recipe (the command's default), Chapter 7's recipe and model sizes. Each is
written here once and imported where it is used, so a recipe cannot drift between the book
and the command; ``tests/test_recipes.py`` checks that they use these.
"""

from __future__ import annotations

from dataclasses import replace

from charlm import lectures
from charlm.models import MLPConfig, WaveNetConfig
from charlm.optim import AdamWConfig
from charlm.recurrent import RecurrentConfig
from charlm.runs import Run
from charlm.train import TrainConfig
from charlm.transformer import TransformerConfig

# --- recipes ---------------------------------------------------------------------------------

# the lecture's recipe for the WaveNet (Chapter 5): SGD, batch 32, 200,000 steps, the rate
# 0.1, then 0.01 from step 150,000
LECTURE = TrainConfig(steps=200_000, batch_size=32, lr=0.1, decay_step=150_000, lr_final=0.01)
# Chapter 6's: AdamW on batches of 512 for 4,000 steps, the rate a cosine from 0.005 to zero
FAST = AdamWConfig(steps=4000, batch_size=512, lr=5e-3, lr_final=0.0)
# Chapter 7's, for models that read whole words: batches of 256 words, weight decay 0.1
SEQUENCE = AdamWConfig(steps=1200, batch_size=256, lr=5e-3, lr_final=0.0, weight_decay=0.1)
# the Transformer's: the same over 1,000 steps (its step costs the most of the three, and by
# then it has passed the lecture's WaveNet on dev)
SEQUENCE_TRANSFORMER = replace(SEQUENCE, steps=1000)

# --- models ----------------------------------------------------------------------------------

# Chapter 3's MLP with BatchNorm and its initialisation fixes
BATCHNORM_MLP = MLPConfig(w1_scale=5 / 3, w1_fan_in=True, w2_scale=0.01, b2_scale=0.0,
                          batchnorm=True)  # fmt: skip
# Chapter 5's final WaveNet: embeddings of 24, 128 hidden units, a context of 8
WAVENET = WaveNetConfig(n_embd=24, n_hidden=128)
# the same network on Chapter 6's faster kernels (charlm.kernels)
FAST_WAVENET = replace(WAVENET, fast_kernels=True)
# Chapter 7's three models (their block_size is set to hold the longest word)
RNN = RecurrentConfig(cell="rnn")
GRU = RecurrentConfig(cell="gru", n_hidden=256, dropout=0.1)
TRANSFORMER = TransformerConfig(dropout=0.1)

# --- runs ------------------------------------------------------------------------------------

# Chapter 5's headline run, the lecture's: trained once, set beside others in Chapters 6 and 7
WAVENET_RUN = Run(WAVENET, LECTURE, seed=lectures.PART5_SEED, eval_on=("train", "dev", "test"))
# Chapter 6's fast run: the same network, seed and data, Chapter 6's recipe and kernels
FAST_RUN = Run(FAST_WAVENET, FAST, seed=lectures.PART5_SEED, eval_on=("train", "dev", "test"))
