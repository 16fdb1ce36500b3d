"""How well a performance follows a tune (issue 29's measures; benchmarks/tunes).

- `chord_tone_share`: of the notes attacked within `BEAT_TOLERANCE_S` of a beat of the form, the share whose pitch
  class is a tone (root, 3rd, 5th, 6th, 7th; a slash chord's bass) of the chart's chord at that beat. Measured
  against the same chart moved a semitone up it is the control: playing that ignores the chart scores alike on both.
  The beats are a placed form's (a fixed tempo: `chord_tone_share`) or explicit times (`chord_tone_share_on_beats`:
  a recording in rubato aligned beat by beat to a chart, tunes/reference.py).
- `melody_kept`: the share of melody notes found as the top voice: a note of the same pitch attacked within
  `MELODY_TOLERANCE_S` of the melody note's onset, and no other note sounding higher at that moment (attacked
  within the tolerance, or still held from before it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..notes import Note
from ..timing.form import Changes, Chord

BEAT_TOLERANCE_S = 0.06
MELODY_TOLERANCE_S = 0.03


BeatChords = Sequence[tuple[float, Chord | None]]  # (a beat's time, the chord there), in time order


def beat_chords(changes: Changes, until_s: float | None = None) -> list[tuple[float, Chord | None]]:
    """Every beat of a placed form (its choruses; at a fixed tempo) and the chord there; an endless form (live, no
    number of choruses) through `until_s`."""
    if math.isfinite(changes.end_s):
        count = round((changes.end_s - changes.start_s) / changes.period_s)
    elif until_s is None:
        raise ValueError("an endless form has no last beat; give it a number of choruses")
    else:
        count = max(0, math.ceil((until_s - changes.start_s) / changes.period_s))
    times = (changes.start_s + k * changes.period_s for k in range(count))
    return [(t, changes.chord_at(t + 1e-6)) for t in times]


def notes_at_beats(notes: Sequence[Note], beats: BeatChords,
                   tolerance_s: float = BEAT_TOLERANCE_S) -> list[tuple[Note, Chord | None]]:
    """(note, the chord at its beat) for every note attacked within `tolerance_s` of one of `beats` (the nearest).
    The beats are explicit times, so a performance in rubato aligned beat by beat is measured as one at a tempo."""
    times = np.array([t for t, _ in beats], dtype=float)
    if times.size == 0:
        return []
    if np.any(np.diff(times) <= 0):
        raise ValueError("beat times must increase")
    out = []
    for n in notes:
        i = int(np.searchsorted(times, n.onset_s))
        nearest = min((j for j in (i - 1, i) if 0 <= j < times.size), key=lambda j: abs(times[j] - n.onset_s))
        if abs(n.onset_s - times[nearest]) <= tolerance_s:
            out.append((n, beats[nearest][1]))
    return out


def chord_tone_share_on_beats(notes: Sequence[Note], beats: BeatChords,
                              tolerance_s: float = BEAT_TOLERANCE_S) -> tuple[float | None, int]:
    """(share, notes counted) over explicit beats; the share is None when no note is attacked at a beat."""
    at = notes_at_beats(notes, beats, tolerance_s)
    if not at:
        return None, 0
    hits = sum(chord is not None and n.pitch % 12 in chord.tones for n, chord in at)
    return hits / len(at), len(at)


def chord_tone_share(notes: Sequence[Note], changes: Changes,
                     tolerance_s: float = BEAT_TOLERANCE_S) -> tuple[float | None, int]:
    """(share, notes counted) over the beats of a placed form (an endless one through the last note); the share is
    None when no note is at a beat."""
    return chord_tone_share_on_beats(notes, _beats_under(notes, changes, tolerance_s), tolerance_s)


def _beats_under(notes: Sequence[Note], changes: Changes, tolerance_s: float = BEAT_TOLERANCE_S) -> BeatChords:
    """The form's beats (an endless form's through the last note's)."""
    until = max((n.onset_s for n in notes), default=changes.start_s) + tolerance_s + changes.period_s
    return beat_chords(changes, until)


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
    return share_report_on_beats(notes, _beats_under(notes, changes))


def share_report_on_beats(notes: Sequence[Note], beats: BeatChords) -> dict[str, float | int | None]:
    """`share_report` over explicit beats (an aligned recording: tunes/reference.py)."""
    share, count = chord_tone_share_on_beats(notes, beats)
    up = [(t, None if c is None else c.transposed(1)) for t, c in beats]
    control, _ = chord_tone_share_on_beats(notes, up)
    margin = None if share is None or control is None else share - control
    return {"chord_tone_share": _r(share), "semitone_up_share": _r(control), "margin": _r(margin),
            "notes_at_beats": count, "notes": len(notes)}


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 4)
