"""How well a performance follows a tune (issue 29's measures; benchmarks/tunes).

- `chord_tone_share`: of the notes attacked within `BEAT_TOLERANCE_S` of a beat of the form, the share whose pitch
  class is a tone (root, 3rd, 5th, 6th, 7th; a slash chord's bass) of the chart's chord at that beat. Measured
  against the same chart moved a semitone up it is the control: playing that ignores the chart scores alike on both.
- `melody_kept`: the share of melody notes found as the top voice: a note of the same pitch attacked within
  `MELODY_TOLERANCE_S` of the melody note's onset, and no other note sounding higher at that moment (attacked
  within the tolerance, or still held from before it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..notes import Note
from ..timing.form import Changes

BEAT_TOLERANCE_S = 0.06
MELODY_TOLERANCE_S = 0.03


def notes_at_beats(notes: Sequence[Note], changes: Changes,
                   tolerance_s: float = BEAT_TOLERANCE_S) -> list[tuple[Note, float]]:
    """(note, the beat's time) for every note attacked within `tolerance_s` of a beat inside the form."""
    out = []
    for n in notes:
        b = changes.beats(n.onset_s)
        beat_s = changes.start_s + round(b) * changes.period_s
        if abs(n.onset_s - beat_s) <= tolerance_s and changes.start_s - 1e-9 <= beat_s < changes.end_s:
            out.append((n, beat_s))
    return out


def chord_tone_share(notes: Sequence[Note], changes: Changes,
                     tolerance_s: float = BEAT_TOLERANCE_S) -> tuple[float | None, int]:
    """(share, notes counted); the share is None when no note is attacked at a beat."""
    at = notes_at_beats(notes, changes, tolerance_s)
    if not at:
        return None, 0
    hits = 0
    for n, beat_s in at:
        chord = changes.chord_at(beat_s + 1e-6)
        hits += chord is not None and n.pitch % 12 in chord.tones
    return hits / len(at), len(at)


def melody_kept(melody: Sequence[Note], performance: Sequence[Note],
                tolerance_s: float = MELODY_TOLERANCE_S) -> float | None:
    """The share of `melody` notes that `performance` (all notes, melody included) has as the top voice."""
    if not melody:
        return None
    notes = sorted(performance, key=lambda n: n.onset_s)
    onsets = np.array([n.onset_s for n in notes])
    kept = 0
    for m in melody:
        lo = int(np.searchsorted(onsets, m.onset_s - tolerance_s, side="left"))
        hi = int(np.searchsorted(onsets, m.onset_s + tolerance_s, side="right"))
        near = notes[lo:hi]
        if not any(n.pitch == m.pitch for n in near):
            continue
        held = (n for n in notes[:lo] if n.end_s > m.onset_s + tolerance_s)
        if all(n.pitch <= m.pitch for n in near) and all(n.pitch <= m.pitch for n in held):
            kept += 1
    return kept / len(melody)


def share_report(notes: Sequence[Note], changes: Changes) -> dict[str, float | int | None]:
    """The chord-tone share against the chart and against it a semitone up, and their difference."""
    share, count = chord_tone_share(notes, changes)
    control, _ = chord_tone_share(notes, changes.transposed(1))
    margin = None if share is None or control is None else share - control
    return {"chord_tone_share": _r(share), "semitone_up_share": _r(control), "margin": _r(margin),
            "notes_at_beats": count, "notes": len(notes)}


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 4)
