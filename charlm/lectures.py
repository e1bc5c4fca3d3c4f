"""Numbers the makemore lectures printed, kept once so the book can set ours beside them.

These are references, not results: every number the book reports as its own is computed
at build time. Source: the lecture notebooks (see ``../shared/LECTURE_FACTS.md`` in the
project's workspace).
"""

# Part 1 (Chapter 1): the counting bigram's average NLL over all 228,146 bigrams
PART1_NLL_PRINTED = 2.4765  # printed in the original notebook; does not reproduce on torch 2.x
PART1_NLL_LOOP = 2.4544  # the lecture's float32 loop, re-run on torch 2.13.0
PART1_N_BIGRAMS = 228_146
PART1_SEED = 2147483647  # generator seed for the neural bigram's W and for sampling

# Part 2 (Chapter 2): the MLP, block 3, embedding 10, hidden 200, 200,000 steps of 32
PART2_PARAMS = 11_897
PART2_TRAIN_PRINTED = 2.1260  # unseeded batches in the lecture: not reproducible exactly
PART2_DEV_PRINTED = 2.1701
PART2_SAMPLE_SEED = 2147483647 + 10
