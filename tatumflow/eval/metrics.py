"""Continuation metrics: pure functions on lists of `Note`, comparing a generated continuation with the real one.

Conventions (documented here once, used by `evaluate`):

- The pitch-class histogram is count-based (each note counts once, whatever its duration), normalised, then smoothed
  with `KL_EPSILON` added to every class and renormalised. KL is `KL(real || generated)` in nats.
- The pitch-class transition matrix counts consecutive notes in chord order, 12 x 12: distinct onsets in time, the
  notes of one onset (a chord, see below) from low to high. Similarity is the cosine of the flattened matrices (0 when
  either has no transitions). Ordering a chord by pitch rather than by its few milliseconds of onset spread makes the
  matrix a property of the music, not of transcription jitter: with plain onset order, the real continuation scored
  only 0.90 against itself on the 10 ms grid and 0.81 against the other PiJAMA transcription of the same recording;
  in chord order, 0.98 and 0.86 (held-out Art Tatum files, benchmarks/eval/README.md).
- Onsets closer than `CHORD_S` (30 ms) to the first onset of a group form one distinct onset ("voicing").
- Diversity across seeds is the mean pairwise Jaccard distance (1 - |A & B| / |A | B|) of the sets of
  (onset quantised to `DIVERSITY_GRID_S`, pitch) of each seed's continuation.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..notes import PIANO_HIGH, PIANO_LOW, Note, midi_file_from_tracks, read_midi_bytes

KL_EPSILON = 1e-3
CHORD_S = 0.03
DIVERSITY_GRID_S = 0.1
OVERLAP_TOLERANCE_S = 1e-3
WINDOW_TOLERANCE_S = 1e-6


def in_onset_order(notes: Sequence[Note]) -> list[Note]:
    return sorted(notes, key=lambda n: (n.onset_s, n.pitch))


# -- pitch classes -------------------------------------------------------------------------------------------------
def pitch_class_histogram(notes: Sequence[Note], epsilon: float = KL_EPSILON) -> np.ndarray:
    """Smoothed pitch-class distribution (12 probabilities summing to 1); uniform for no notes."""
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    p = counts / counts.sum() if counts.sum() else np.full(12, 1 / 12)
    p = p + epsilon
    return p / p.sum()


def pitch_class_kl(real: Sequence[Note], generated: Sequence[Note], epsilon: float = KL_EPSILON) -> float:
    """KL(real || generated) of the smoothed pitch-class histograms, in nats (0 for identical histograms)."""
    p, q = pitch_class_histogram(real, epsilon), pitch_class_histogram(generated, epsilon)
    return float(np.sum(p * np.log(p / q)))


def in_chord_order(notes: Sequence[Note], chord_s: float = CHORD_S) -> list[Note]:
    """Distinct onsets in time order, the notes of each (see `onset_groups`) from low to high."""
    return [n for group in onset_groups(notes, chord_s) for n in sorted(group, key=lambda n: n.pitch)]


def pitch_class_transitions(notes: Sequence[Note], chord_order: bool = True) -> np.ndarray:
    """12 x 12 counts: [a, b] = how often pitch class b follows a, in chord order (or plain onset order)."""
    m = np.zeros((12, 12))
    ordered = in_chord_order(notes) if chord_order else in_onset_order(notes)
    for a, b in zip(ordered, ordered[1:]):
        m[a.pitch % 12, b.pitch % 12] += 1
    return m


def pctm_cosine(real: Sequence[Note], generated: Sequence[Note], chord_order: bool = True) -> float:
    """Cosine similarity of the flattened pitch-class transition matrices (1 = same shape, 0 = none shared).

    `chord_order=False` orders notes by onset alone (`pctm_cosine_onset` in the reports, kept for comparison
    with earlier numbers and with papers that order that way).
    """
    a = pitch_class_transitions(real, chord_order).ravel()
    b = pitch_class_transitions(generated, chord_order).ravel()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm else 0.0


# -- rhythm and texture ---------------------------------------------------------------------------------------------
def onset_groups(notes: Sequence[Note], chord_s: float = CHORD_S) -> list[list[Note]]:
    """Notes grouped by distinct onset: a group holds the notes within `chord_s` of its first onset."""
    groups: list[list[Note]] = []
    for n in in_onset_order(notes):
        if groups and n.onset_s - groups[-1][0].onset_s < chord_s:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def note_density(notes: Sequence[Note], seconds: float) -> float:
    """Notes per second over a window of `seconds`."""
    return len(notes) / seconds if seconds > 0 else math.nan


def mean_ioi(notes: Sequence[Note], chord_s: float = CHORD_S) -> float:
    """Mean inter-onset interval between distinct onsets, in seconds (NaN with fewer than two onsets)."""
    onsets = [g[0].onset_s for g in onset_groups(notes, chord_s)]
    return float(np.mean(np.diff(onsets))) if len(onsets) > 1 else math.nan


def mean_voicing(notes: Sequence[Note], chord_s: float = CHORD_S) -> float:
    """Mean number of notes per distinct onset (0 for no notes)."""
    groups = onset_groups(notes, chord_s)
    return len(notes) / len(groups) if groups else 0.0


def polyphony(notes: Sequence[Note], chord_s: float = CHORD_S) -> float:
    """Mean number of notes sounding at each distinct onset (struck there or still held), 0 for no notes."""
    groups = onset_groups(notes, chord_s)
    if not groups:
        return 0.0
    onsets = np.array([n.onset_s for n in notes])
    ends = np.array([n.end_s for n in notes])
    counts = []
    for g in groups:
        t = g[-1].onset_s  # after the whole group is struck
        counts.append(int(np.sum((onsets <= t) & (ends > t))))
    return float(np.mean(counts))


def velocity_stats(notes: Sequence[Note]) -> tuple[float, float]:
    """(mean, standard deviation) of velocities; NaN for no notes."""
    if not notes:
        return math.nan, math.nan
    v = np.array([n.velocity for n in notes], dtype=float)
    return float(v.mean()), float(v.std())


def ratio(generated: float, real: float) -> float:
    """generated / real, NaN where either is undefined or real is 0."""
    if not (math.isfinite(generated) and math.isfinite(real)) or real == 0:
        return math.nan
    return generated / real


# -- grammar -------------------------------------------------------------------------------------------------------
def _self_overlaps(notes: Sequence[Note]) -> int:
    by_pitch: dict[int, list[Note]] = {}
    for n in in_onset_order(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    return sum(b.onset_s < a.end_s - OVERLAP_TOLERANCE_S for seq in by_pitch.values() for a, b in zip(seq, seq[1:]))


def midi_roundtrip_count(notes: Sequence[Note]) -> int:
    """How many notes come back from writing `notes` as MIDI (as `write_midi` does) and reading it again."""
    buf = io.BytesIO()
    midi_file_from_tracks({"notes": notes}).save(file=buf)
    return len(read_midi_bytes(buf.getvalue(), "<roundtrip>"))


def grammar_errors(notes: Sequence[Note], start_s: float, end_s: float) -> dict[str, int]:
    """Counts of invalid output, by kind; all 0 for valid output. `notes` is checked in the order given."""
    finite = [n for n in notes if math.isfinite(n.onset_s) and math.isfinite(n.duration_s)]
    errors = {
        "nan": len(notes) - len(finite),
        "non_positive_duration": sum(not n.duration_s > 0 for n in finite),
        "pitch_range": sum(not PIANO_LOW <= n.pitch <= PIANO_HIGH for n in notes),
        "velocity_range": sum(not 1 <= n.velocity <= 127 for n in notes),
        "outside_window": sum(
            not start_s - WINDOW_TOLERANCE_S <= n.onset_s < end_s + WINDOW_TOLERANCE_S for n in finite
        ),
        "out_of_order": sum(b.onset_s < a.onset_s for a, b in zip(finite, finite[1:])),
        "self_overlap": _self_overlaps(finite),
        "midi_roundtrip": 0,
    }
    if not any(errors.values()) and finite:
        errors["midi_roundtrip"] = int(midi_roundtrip_count(finite) != len(finite))
    return errors


# -- across seeds --------------------------------------------------------------------------------------------------
def _grid_set(notes: Sequence[Note], grid_s: float) -> set[tuple[int, int]]:
    return {(round(n.onset_s / grid_s), n.pitch) for n in notes}


def jaccard_distance(a: Sequence[Note], b: Sequence[Note], grid_s: float = DIVERSITY_GRID_S) -> float:
    sa, sb = _grid_set(a, grid_s), _grid_set(b, grid_s)
    union = sa | sb
    return 1.0 - len(sa & sb) / len(union) if union else 0.0


def diversity(continuations: Sequence[Sequence[Note]], grid_s: float = DIVERSITY_GRID_S) -> float:
    """Mean pairwise Jaccard distance of the seeds' continuations (NaN for fewer than two)."""
    pairs = list(itertools.combinations(continuations, 2))
    return float(np.mean([jaccard_distance(a, b, grid_s) for a, b in pairs])) if pairs else math.nan


# -- all together --------------------------------------------------------------------------------------------------
def basic_metrics(notes: Sequence[Note], seconds: float) -> dict[str, float]:
    """Metrics of one note list on its own, as played (30 ms onset groups, no grid): density, IOI, voicing,
    polyphony, velocity. The texture measures, on the common grid, are `texture.texture_measures`."""
    vel_mean, vel_std = velocity_stats(notes)
    return {
        "n_notes": float(len(notes)),
        "density": note_density(notes, seconds),
        "ioi_mean_s": mean_ioi(notes),
        "voicing_mean": mean_voicing(notes),
        "polyphony": polyphony(notes),
        "velocity_mean": vel_mean,
        "velocity_std": vel_std,
    }


def continuation_metrics(
    generated: Sequence[Note], real: Sequence[Note], start_s: float, seconds: float
) -> dict[str, float]:
    """Everything for one generated continuation of the window [start_s, start_s + seconds) against the real one.

    `grammar_errors` is the total; `grammar_<kind>` the count per kind (see `grammar_errors`).
    """
    gen, ref = basic_metrics(generated, seconds), basic_metrics(real, seconds)
    errors = grammar_errors(generated, start_s, start_s + seconds)
    out = dict(gen)
    out.update(
        pitch_class_kl=pitch_class_kl(real, generated),
        pctm_cosine=pctm_cosine(real, generated),
        pctm_cosine_onset=pctm_cosine(real, generated, chord_order=False),
        density_ratio=ratio(gen["density"], ref["density"]),
        ioi_ratio=ratio(gen["ioi_mean_s"], ref["ioi_mean_s"]),
        voicing_ratio=ratio(gen["voicing_mean"], ref["voicing_mean"]),
        polyphony_ratio=ratio(gen["polyphony"], ref["polyphony"]),
        grammar_errors=float(sum(errors.values())),
    )
    out.update({f"grammar_{kind}": float(count) for kind, count in errors.items()})
    return out
