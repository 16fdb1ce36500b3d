"""Texture measures: what a listener hears first, measured the same way on every system and on the real music.

Every measure here reads notes through `snap_to_grid` first (one grid, the model's 10 ms, for all systems and the
real continuation), so that a measure, or the discriminator built on them, cannot tell the systems apart by their
timing resolution. Conventions:

- An *onset* is a group of notes within `TEXTURE_ONSET_S` (35 ms) of the group's first onset (`onset_groups`). On the
  10 ms grid that is the notes 0, 10, 20 or 30 ms after it.
- Notes per onset: notes / onsets. Share of chords: onsets with >= 3 notes / onsets.
- Voicing width: highest minus lowest pitch of an onset, in semitones, averaged over the onsets with >= 2 notes
  (single notes have no width; how many onsets are chords is what the two measures above say).
- Mean duration: mean note duration in seconds, after snapping and clipping at the window end.
- Velocity spread: the standard deviation of velocities (`velocity_stats`, key `velocity_std`).
- Tempo regularity: the onset signal is one unit impulse per onset (at its first note) on the grid, from the first
  onset to the last, smoothed with a Gaussian of `TEMPO_SMOOTH_S` (20 ms) std so that human timing a few ms off a
  beat still counts; its mean is removed and its autocorrelation normalised by the lag-0 value (biased estimator,
  1 at lag 0). The measure is the peak over lags 0.25-1.5 s (NaN for a span shorter than 0.25 s).
- Repeated top note: share of onsets (from the second) whose highest pitch equals the previous onset's highest.
- Run share: share of onsets that belong to a fast one-way run, >= `RUN_MIN_ONSETS` (6) successive onsets each
  less than `RUN_MAX_IOI_S` (120 ms) after the one before, whose top notes all climb or all fall (Tatum's scalar and
  arpeggiated sweeps; a run's first onset counts, a repeated top note ends it). NaN for no notes.
- Pitch-class entropy: Shannon entropy, in nats, of the count-based pitch-class histogram (no smoothing; at most
  ln 12 = 2.485).

The voicing vocabulary (`VOICING_KEYS`, issue 28 item 5: which intervals the chords are built from, and over how much
of the keyboard), on the same onsets:

- Interval shares (`interval_*`): every onset with >= 2 distinct pitches (a pitch struck twice within one onset counts
  once: a unison is not an interval of the voicing) gives the intervals between its adjacent notes, sorted by pitch;
  each is classed as seconds (1-2 semitones), thirds (3-4), fourths/fifths (5, 7), tritones (6), sixths/sevenths
  (8-11), octaves (12) or wider (> 12), and a class's share is its count over all adjacent intervals of the excerpt
  (pooled, so a 6-note chord weighs more than a dyad: the share is of what is heard). Adjacent intervals, not
  intervals above the bass, so that a stacked voicing (C-E-G-C: third, third, fourth) says how it is built, and an
  octave doubling counts where it is played (Tatum's melody in octaves, his stride bass's octaves). A gap wider than
  an octave, within one onset, is almost always between the hands.
- Bass tenths (`bass_tenth_share`): of the onsets with >= 2 distinct pitches, the share whose two lowest notes are a
  minor or major tenth apart (15-16 semitones). The two lowest, because a left-hand tenth (a stride pianist's stretch,
  Tatum's; most pianists play the bass as a single note, an octave or a shell of a seventh) sits at the bottom of the
  onset; above the bass a tenth is usually a chord note and the melody in the other hand, which the interval shares
  already count as wider. A tenth rolled over more than 35 ms falls into two onsets and is not counted; nor is a
  tenth with its middle filled (C-G-E: a fifth and a sixth, counted by the shares).
- Where the octaves are (`bass_octave_share`, `top_octave_share`): of the same onsets, the share whose two lowest
  notes are an octave apart (a stride bass in octaves) and the share whose two highest are (a melody in octaves). A
  dyad is both its lowest and its highest pair, so an octave dyad counts in both.
- Register spread (`register_spread`): the 10-90 % range of all the excerpt's pitches, in semitones (numpy's linear
  interpolation between order statistics). A range rather than the standard deviation, because it reads directly
  as "the keyboard the music mostly lives on", and a few stray notes (a low bass note, a grace note at the top) or a
  bimodal stride texture (bass far below, melody above) do not swing it the way they swing a standard deviation.
  Every note weighs once: a run spends its notes in one region and narrows it, as a listener hears.

The discriminator (`discriminator.feature_vector`) reads `TEXTURE_KEYS` only: the voicing measures are reported
beside the texture measures, not added to its features (the committed AUCs and the pianist classifier's inputs stay
as they were).

Measures of an empty note list (or one without what they need: two onsets, a chord) are NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..notes import ONSET_S, Note
from .metrics import mean_voicing, onset_groups, velocity_stats

GRID_S = 0.01
TEXTURE_ONSET_S = ONSET_S
CHORD_NOTES = 3
TEMPO_MIN_LAG_S = 0.25
TEMPO_MAX_LAG_S = 1.5
TEMPO_SMOOTH_S = 0.02
RUN_MIN_ONSETS = 6
RUN_MAX_IOI_S = 0.12
# The keys `texture_measures` returns, in the order of the report table.
TEXTURE_KEYS = (
    "notes_per_onset", "chord_share", "voicing_width", "voicing_width_chords", "duration_mean_s", "velocity_std",
    "tempo_regularity", "repeated_top_note", "run_share", "pitch_class_entropy",
)
# The voicing vocabulary (see the module): interval classes of adjacent chord notes, by (key, smallest, largest).
INTERVAL_CLASSES = (
    ("interval_seconds", 1, 2), ("interval_thirds", 3, 4), ("interval_fourths_fifths", 5, 5),
    ("interval_tritones", 6, 6), ("interval_fourths_fifths", 7, 7), ("interval_sixths_sevenths", 8, 11),
    ("interval_octaves", 12, 12), ("interval_wider", 13, 127),
)
INTERVAL_KEYS = tuple(dict.fromkeys(k for k, _, _ in INTERVAL_CLASSES))
TENTH = (15, 16)
OCTAVE = (12, 12)
REGISTER_QUANTILES = (10, 90)
VOICING_KEYS = (*INTERVAL_KEYS, "bass_tenth_share", "bass_octave_share", "top_octave_share", "register_spread")


def snap_to_grid(notes: Sequence[Note], grid_s: float = GRID_S, end_s: float | None = None) -> list[Note]:
    """The notes as every texture measure sees them, in onset order: onset and release rounded to the nearest
    multiple of `grid_s` (absolute time), each note at least one step long, releases clipped at `end_s` (the
    window's end: the real continuation's last notes would otherwise ring on past what a system may play)."""
    if not grid_s > 0:
        raise ValueError(f"grid_s must be > 0, got {grid_s}")
    last = math.inf if end_s is None else round(end_s / grid_s)
    out = []
    for n in notes:
        on = round(n.onset_s / grid_s)
        off = max(min(round(n.end_s / grid_s), last), on + 1)
        out.append(Note(on * grid_s, (off - on) * grid_s, n.pitch, n.velocity))
    return sorted(out, key=lambda n: (n.onset_s, n.pitch))


# -- chords ----------------------------------------------------------------------------------------------------------
def notes_per_onset(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> float:
    """Mean notes per onset (NaN for no notes)."""
    return mean_voicing(notes, onset_s) if notes else math.nan


def chord_share(notes: Sequence[Note], min_notes: int = CHORD_NOTES, onset_s: float = TEXTURE_ONSET_S) -> float:
    """Share of onsets with at least `min_notes` notes (NaN for no notes)."""
    groups = onset_groups(notes, onset_s)
    return sum(len(g) >= min_notes for g in groups) / len(groups) if groups else math.nan


def voicing_width(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S, min_notes: int = 1) -> float:
    """Mean span, in semitones, from the lowest to the highest note of each onset with >= `min_notes` notes (a
    single note spans 0; NaN: no such onset). With the default every onset counts, the issue's definition, so
    thin chords and missing chords both narrow it; `min_notes=2` measures the chords alone."""
    widths = [max(n.pitch for n in g) - min(n.pitch for n in g) for g in onset_groups(notes, onset_s)
              if len(g) >= min_notes]
    return float(np.mean(widths)) if widths else math.nan


def top_line(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> list[int]:
    """The highest pitch of each onset, in time order."""
    return [max(n.pitch for n in g) for g in onset_groups(notes, onset_s)]


def repeated_top_note(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> float:
    """Share of onsets whose top note is the previous onset's top note (NaN with fewer than two onsets)."""
    top = top_line(notes, onset_s)
    return sum(a == b for a, b in zip(top, top[1:])) / (len(top) - 1) if len(top) > 1 else math.nan


def run_share(notes: Sequence[Note], min_onsets: int = RUN_MIN_ONSETS, max_ioi_s: float = RUN_MAX_IOI_S,
              onset_s: float = TEXTURE_ONSET_S) -> float:
    """Share of onsets inside fast one-way runs of the top line (see the module; NaN for no notes)."""
    groups = onset_groups(notes, onset_s)
    if not groups:
        return math.nan
    starts = [g[0].onset_s for g in groups]
    top = top_line(notes, onset_s)
    in_run = np.zeros(len(groups), dtype=bool)
    start, direction = 0, 0  # the current run: its first onset, and its direction (0 while it is one onset)
    for i in range(1, len(groups) + 1):
        step, fast = 0, False
        if i < len(groups):
            step, fast = int(np.sign(top[i] - top[i - 1])), starts[i] - starts[i - 1] < max_ioi_s
            if fast and step and direction in (0, step):
                direction = step
                continue
        if i - start >= min_onsets:
            in_run[start:i] = True
        start, direction = (i - 1, step) if fast and step else (i, 0)  # a turn starts the next run at its peak
    return float(in_run.mean())


# -- voicing vocabulary ---------------------------------------------------------------------------------------------
def chord_pitches(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> list[list[int]]:
    """The distinct pitches, ascending, of every onset with >= 2 of them."""
    chords = [sorted({n.pitch for n in g}) for g in onset_groups(notes, onset_s)]
    return [c for c in chords if len(c) >= 2]


def interval_class(semitones: int) -> str:
    """The class (an `INTERVAL_KEYS` key) of an interval of >= 1 semitone."""
    for key, lo, hi in INTERVAL_CLASSES:
        if lo <= semitones <= hi:
            return key
    raise ValueError(f"no interval class for {semitones} semitones")


def interval_shares(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> dict[str, float]:
    """Each interval class's share of all adjacent intervals of the chords (see the module; NaN: no chord)."""
    return _interval_shares(chord_pitches(notes, onset_s))


def edge_interval_share(notes: Sequence[Note], semitones: tuple[int, int], top: bool = False,
                        onset_s: float = TEXTURE_ONSET_S) -> float:
    """Share of the chords whose two lowest (with `top`: highest) notes are `semitones[0]`..`semitones[1]` apart
    (NaN: no chord)."""
    return _edge_share(chord_pitches(notes, onset_s), semitones, top)


def bass_tenth_share(notes: Sequence[Note], onset_s: float = TEXTURE_ONSET_S) -> float:
    """Share of the chords whose two lowest notes are a tenth (15-16 semitones) apart (NaN: no chord)."""
    return edge_interval_share(notes, TENTH, onset_s=onset_s)


def _interval_shares(chords: Sequence[Sequence[int]]) -> dict[str, float]:
    counts = dict.fromkeys(INTERVAL_KEYS, 0)
    for c in chords:
        for a, b in zip(c, c[1:]):
            counts[interval_class(b - a)] += 1
    total = sum(counts.values())
    return {k: v / total if total else math.nan for k, v in counts.items()}


def _edge_share(chords: Sequence[Sequence[int]], semitones: tuple[int, int], top: bool) -> float:
    gaps = [c[-1] - c[-2] if top else c[1] - c[0] for c in chords]
    return sum(semitones[0] <= g <= semitones[1] for g in gaps) / len(gaps) if gaps else math.nan


def register_spread(notes: Sequence[Note]) -> float:
    """The 10-90 % range of the pitches, in semitones (see the module; NaN for no notes)."""
    if not notes:
        return math.nan
    lo, hi = np.percentile([n.pitch for n in notes], REGISTER_QUANTILES)
    return float(hi - lo)


def voicing_measures(notes: Sequence[Note]) -> dict[str, float]:
    """The measures of `VOICING_KEYS` for notes already passed through `snap_to_grid`."""
    chords = chord_pitches(notes)  # grouped once for all of them
    return _interval_shares(chords) | {
        "bass_tenth_share": _edge_share(chords, TENTH, False), "bass_octave_share": _edge_share(chords, OCTAVE, False),
        "top_octave_share": _edge_share(chords, OCTAVE, True), "register_spread": register_spread(notes)}


# -- time ------------------------------------------------------------------------------------------------------------
def mean_duration(notes: Sequence[Note]) -> float:
    """Mean note duration in seconds (NaN for no notes)."""
    return float(np.mean([n.duration_s for n in notes])) if notes else math.nan


def onset_signal(
    notes: Sequence[Note], grid_s: float = GRID_S, onset_s: float = TEXTURE_ONSET_S, smooth_s: float = TEMPO_SMOOTH_S
) -> np.ndarray:
    """One unit impulse per onset on the grid, first onset to last, smoothed by a Gaussian of std `smooth_s`
    (the signal is padded by 3 std on both sides, so that the first and last impulses keep their whole kernel)."""
    starts = np.array([g[0].onset_s for g in onset_groups(notes, onset_s)])
    if not len(starts):
        return np.zeros(0)
    sigma = smooth_s / grid_s
    pad = int(math.ceil(3 * sigma))
    bins = np.round((starts - starts[0]) / grid_s).astype(int) + pad
    x = np.zeros(bins[-1] + pad + 1)
    np.add.at(x, bins, 1.0)
    if sigma > 0:
        k = np.arange(-pad, pad + 1)
        kernel = np.exp(-0.5 * (k / sigma) ** 2)
        x = np.convolve(x, kernel / kernel.sum(), mode="same")
    return x


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of `x` with its mean removed: r[k] = sum_t y[t] y[t+k] / sum_t y[t]^2."""
    y = x - x.mean()
    energy = float(y @ y)
    if not energy > 0:
        return np.full(len(x), math.nan)
    spectrum = np.fft.rfft(y, 2 * len(y))  # zero-padded: a linear, not circular, correlation
    return np.fft.irfft(np.abs(spectrum) ** 2)[: len(y)] / energy


def tempo_regularity(
    notes: Sequence[Note], grid_s: float = GRID_S,
    min_lag_s: float = TEMPO_MIN_LAG_S, max_lag_s: float = TEMPO_MAX_LAG_S,
) -> float:
    """Peak of the onset signal's normalised autocorrelation at lags `min_lag_s`..`max_lag_s` (see the module)."""
    x = onset_signal(notes, grid_s)
    if len(x) < 2:
        return math.nan
    r = autocorrelation(x)
    lo, hi = round(min_lag_s / grid_s), min(round(max_lag_s / grid_s), len(r) - 1)
    return float(np.max(r[lo : hi + 1])) if hi >= lo and np.isfinite(r[lo]) else math.nan


# -- pitch -----------------------------------------------------------------------------------------------------------
def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Entropy (nats) of the unsmoothed, count-based pitch-class histogram (NaN for no notes)."""
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    if not counts.sum():
        return math.nan
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def texture_measures(notes: Sequence[Note], grid_s: float = GRID_S) -> dict[str, float]:
    """All the measures of `TEXTURE_KEYS` and `VOICING_KEYS` for notes already passed through `snap_to_grid`."""
    return {
        "notes_per_onset": notes_per_onset(notes),
        "chord_share": chord_share(notes),
        "voicing_width": voicing_width(notes),
        "voicing_width_chords": voicing_width(notes, min_notes=2),
        "duration_mean_s": mean_duration(notes),
        "velocity_std": velocity_stats(notes)[1],
        "tempo_regularity": tempo_regularity(notes, grid_s),
        "repeated_top_note": repeated_top_note(notes),
        "run_share": run_share(notes),
        "pitch_class_entropy": pitch_class_entropy(notes),
    } | voicing_measures(notes)
