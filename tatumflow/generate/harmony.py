"""The harmony prior: a pitch-class bigram of the context, added to the pitch head's logits.

A small network listens with limited precision: it hears the key and the changes in its context, but its pitch
choices drift more than a pianist's. The prior makes the reply follow the harmony that was just played, the way a
neural cache model (Grave et al., 2017) mixes a distribution over recently seen tokens into a language model:

    logits[pitch] += weight * log p(pc(pitch) | pc(previous note))

where p is estimated from the last `HARMONY_WINDOW` notes the generator *heard* (the prompt and the human's notes,
in time order; never its own, which would feed back on themselves and narrow the reply to a few pitch classes): a
bigram of pitch classes interpolated with their unigram (add-one smoothed), so an unseen transition keeps some
probability and a key nobody touched is discouraged, not forbidden. `Controls.harmony_weight` = 0 turns it off;
the pitch head then samples exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..notes import PIANO_LOW, Note

HARMONY_WINDOW = 256  # context notes the statistics come from (~25 s of Art Tatum)
BIGRAM_PRIOR = 2.0  # pseudo-counts of the unigram in each bigram row (interpolation strength)
N_KEYS = 88
_KEY_PC = (np.arange(N_KEYS) + PIANO_LOW) % 12  # pitch class of each key (key 0 = A0 = pitch class 9)


def transition_probs(pitch_classes: np.ndarray) -> np.ndarray:
    """[12, 12] rows p(next pc | pc), smoothed: each row is a bigram with `BIGRAM_PRIOR` pseudo-counts of the
    add-one unigram."""
    unigram = np.bincount(pitch_classes, minlength=12) + 1.0
    unigram /= unigram.sum()
    counts = np.zeros(144)
    if len(pitch_classes) > 1:
        counts = np.bincount(pitch_classes[:-1] * 12 + pitch_classes[1:], minlength=144).astype(float)
    counts = counts.reshape(12, 12) + BIGRAM_PRIOR * unigram[None, :]
    probs: np.ndarray = counts / counts.sum(axis=1, keepdims=True)
    return probs


def log_prior_table(heard: Sequence[Note]) -> np.ndarray | None:
    """[12, 88]: row a = log p(pc(key) | a) over the 88 keys, from the last `HARMONY_WINDOW` `heard` notes (None for
    none). Computed once per change of what was heard; a note then costs one row lookup."""
    if not heard:
        return None
    pcs = np.fromiter((n.pitch % 12 for n in heard[-HARMONY_WINDOW:]), dtype=np.int64)
    table: np.ndarray = np.log(transition_probs(pcs))[:, _KEY_PC]
    return table


def harmony_bias(table: np.ndarray | None, previous_pitch: int, weight: float) -> np.ndarray | None:
    """The additive bias over the 88 keys for the note after one of MIDI pitch `previous_pitch` (None when off)."""
    if weight <= 0 or table is None:
        return None
    bias: np.ndarray = weight * table[previous_pitch % 12]
    return bias
