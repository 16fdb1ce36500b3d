"""The chart prior: the chord the chart says is sounding, added to the pitch head's logits.

With a tune's changes (`Controls.changes`, a `timing.form.Changes`) and `Controls.chart_weight` > 0, every note's
pitch logits get `weight * score(pitch class)` from the chord at its onset: `TONE` for the chord's tones (root,
3rd, 5th, 6th, 7th, a slash chord's bass), `TENSION` for its tensions (written extensions and the usual 9th, 11th
or 13th of its kind), 0 for the rest. A bias, never a mask: the model's chromatic runs, passing notes and
substitutions keep their odds, scaled down by at most `exp(weight * TONE)`.

The onset of the next note is not known when its pitch bias is made (the delta is sampled first, in the same
step). Two cases are told apart, the way the no-re-strike rule does it:

- a note joining the previous onset (delta 0) gets the chord at that onset exactly (the generator hands this to the
  sampler as the delta-0 bias, `StepConstraints.onset_pitch_bias`);
- a note starting a new onset gets the chord at the earliest time it can start (the previous onset plus a chord's
  spread, or the window start), mixed with the next chord by the chance that the new onset falls past the next
  change: `a = exp(-to_next / gap)`, with `gap` the recent mean gap between onsets (gaps taken as exponential).
  The mix is of the two priors (`log((1 - a) e^s_now + a e^s_next)`): near a change both chords' tones are raised.
  In the last beat before a change the semitones around the next chord's root and 3rd get `APPROACH` (scaled up as
  the change nears): chromatic approach notes into the next chord.

Before the form starts (a prompt's tail, a pickup) the current chord is none: only the next chord's approach counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..notes import PIANO_LOW, Note
from ..timing.form import Changes, Chord

TONE = 1.0
TENSION = 0.4
APPROACH = 0.4
SPREAD_S = 0.04  # a new onset is at least this far after the previous (meter.CHORD_SPREAD_S)
GAP_S = 0.15  # the assumed gap between onsets with too little context to measure one
GAP_RANGE_S = (0.05, 0.6)
N_KEYS = 88
_KEY_PC = (np.arange(N_KEYS) + PIANO_LOW) % 12


def chord_scores(chord: Chord | None) -> np.ndarray:
    """[12] scores of the pitch classes under `chord` (zeros for none)."""
    s = np.zeros(12)
    if chord is not None:
        s[list(chord.tensions)] = TENSION
        s[list(chord.tones)] = TONE
    return s


def _approach(chord: Chord) -> np.ndarray:
    """[12]: 1 on the semitones just below and above the chord's root and 3rd (or its 2nd tone)."""
    s = np.zeros(12)
    third = sorted((p - chord.root) % 12 for p in chord.tones if (p - chord.root) % 12 in (2, 3, 4, 5))
    for target in (chord.root, (chord.root + third[0]) % 12 if third else chord.root):
        s[(target - 1) % 12] = s[(target + 1) % 12] = 1.0
    return s


def recent_gap_s(context: Sequence[Note], notes: int = 24) -> float:
    """The mean gap between the distinct onsets of the last `notes` context notes (GAP_S with under 3 onsets)."""
    onsets = sorted({round(n.onset_s, 3) for n in context[-notes:]})
    if len(onsets) < 3:
        return GAP_S
    return float(np.clip((onsets[-1] - onsets[0]) / (len(onsets) - 1), *GAP_RANGE_S))


def new_onset_scores(changes: Changes, t_s: float, gap_s: float) -> np.ndarray:
    """[12] scores for a note starting a new onset at `t_s` or a little after (see the module)."""
    pos = changes.position(t_s)
    now = chord_scores(pos.chord)
    if pos.next_chord is None or not math.isfinite(pos.to_next_s):
        return now
    beat_s = changes.period_s
    if pos.to_next_s < beat_s:
        now = now + APPROACH * (1.0 - pos.to_next_s / beat_s) * _approach(pos.next_chord) * (now < TONE)
    a = math.exp(-pos.to_next_s / max(gap_s, 1e-3))
    if a < 1e-3:
        return now
    nxt = chord_scores(pos.next_chord)
    return np.asarray(np.logaddexp(np.log1p(-min(a, 1 - 1e-9)) + now, math.log(a) + nxt), dtype=float)


def chart_biases(changes: Changes | None, weight: float, context: Sequence[Note],
                 start_s: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(bias over the 88 keys for a note at a new onset, extra bias for a note at delta 0 on top of it), or
    (None, None) when off. `context` is the performance so far (time order), `start_s` the window start."""
    if changes is None or weight <= 0:
        return None, None
    last = context[-1].onset_s if context else None
    t_new = start_s if last is None else max(last + SPREAD_S, start_s)
    scores = new_onset_scores(changes, t_new, recent_gap_s(context))
    new = weight * scores[_KEY_PC]
    if last is None:
        return new, None
    same = weight * chord_scores(changes.chord_at(last))[_KEY_PC]
    return new, same - new
