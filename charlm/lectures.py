"""The lectures' seeds, and the numbers they printed, kept once so the book can set ours
beside them.

These are references, not results: every number the book reports as its own is computed
at build time. Source: the lecture notebooks (see ``../shared/LECTURE_FACTS.md`` in the
project's workspace).
"""

# the seeds of the lectures' generators: Parts 1-4 draw parameters and batches from
# torch.Generator().manual_seed(SEED); Part 1 samples from it too, and the later chapters
# sample from a fresh generator seeded SAMPLE_SEED
SEED = 2147483647
SAMPLE_SEED = SEED + 10

# Part 1 (Chapter 1): the counting bigram's average NLL over all 228,146 bigrams
PART1_NLL_PRINTED = 2.4765  # printed in the original notebook; does not reproduce on torch 2.x
PART1_NLL_LOOP = 2.4544  # the lecture's float32 loop, re-run on torch 2.13.0

# Part 2 (Chapter 2): the MLP, block 3, embedding 10, hidden 200, 200,000 steps of 32
PART2_PARAMS = 11_897
PART2_TRAIN_PRINTED = 2.1260  # unseeded batches in the lecture: not reproducible exactly
PART2_DEV_PRINTED = 2.1701

# Part 3 (Chapter 3): the loss log, each row keeping the changes above it; (train, val)
PART3_LOG = {
    "original": (2.1245, 2.1682),
    "fix softmax confidently wrong": (2.07, 2.13),
    "fix tanh too saturated": (2.0356, 2.1027),
    '"Kaiming" init': (2.0377, 2.1070),
    "add BatchNorm": (2.0668, 2.1048),
}
PART3_BN_TRAIN = 2.0674  # the final BatchNorm MLP, printed; reproduced here to the digit
PART3_BN_VAL = 2.1057
PART3_BN_PARAMS = 12_097
PART3_DEEP_PARAMS = 47_024  # the 6-layer BatchNorm network

# Part 4 (Chapter 4): backprop by hand
PART4_PARAMS = 4_137  # the exercise network, hidden 64
PART4_LOSS_PRINTED = 3.3377  # its loss on the first batch (BatchNorm gain/bias from a global RNG)
PART4_TRAIN_PARAMS = 12_297  # hidden 200, trained with manual gradients
PART4_TRAIN_PRINTED = 2.0705
PART4_VAL_PRINTED = 2.1099

# Part 5 (Chapter 5): the WaveNet-style hierarchy
PART5_SEED = 42  # torch.manual_seed(42): parameters, then batches, from the global generator
PART5_PARAMS = 76_579
PART5_TRAIN_PRINTED = 1.7690
PART5_VAL_PRINTED = 1.9937
PART5_LOG = {  # the lecture's performance log: (params, train, val)
    "original: block 3, hidden 200": ("12K", 2.058, 2.105),
    "context 3 → 8": ("22K", 1.918, 2.027),
    "flat → hierarchical": ("22K", 1.941, 2.029),
    "fix BatchNorm for 3-D input": ("22K", 1.912, 2.022),
    "scale up: embedding 24, hidden 128": ("76K", 1.769, 1.993),
}

# makemore, the lectures' companion script (Chapter 7): its README's test loss for its
# default Transformer on names, and its test split: min(1,000, 10%) of the words
MAKEMORE_TRANSFORMER_TEST = 1.92
MAKEMORE_TEST_WORDS = 1_000
# makemore.py itself at its defaults on names.txt, 2 threads, measured on this project's
# machine beside charlm (issue 28; makemore.py is not on a package registry, so the bench
# cannot run it): its best test loss, and the seconds of training it took to reach it
MAKEMORE_PY_BEST_TEST = 1.9715
MAKEMORE_PY_BEST_SECONDS = 194
