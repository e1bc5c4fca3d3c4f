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
