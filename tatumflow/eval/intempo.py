"""Art Tatum's in-tempo playing by tempo: a tempo-matched texture reference for playing over charts (issue 29).

A chart performance plays at one tempo (88-300 quarter notes a minute over the report and tuning charts), and some
texture measures depend on the tempo (a note's length in seconds above all). This finds, in his recordings, the
15 s excerpts he plays in a steady tempo, says at what tempo, and measures them as a performance's excerpts are
(eval/charts.py `excerpt_textures`: snapped to the 10 ms grid, eval.texture), so that a chart at T bpm can be set
against his excerpts near T (`tempo_matched`).

The tempo of an excerpt (`excerpt_tempo`), from its onsets alone:

1. **the beat period**: the project's own tracker (timing/tracker.py `TempoTracker`: the onset signal's
   autocorrelation scored at the beat, twice the beat and its subdivision, a log-normal prior around 120 bpm; its
   confidence from that peak and from how well one comb phase catches the onsets) over the whole excerpt, then over
   each half (7.5 s) on its own;
2. **steady or not**: the excerpt is in tempo when the tracker gives a tempo with confidence >= `MIN_CONFIDENCE`
   and both halves' tempos are within `STEADY` (6 %) of the whole's; rubato, a tempo change, a cadenza or a
   half-time passage in one half fail it (a half read at another metrical level fails too: such an excerpt is
   left out, not guessed);
3. **the quarter note**: the tracker's prior favours 120 bpm, so a stride chorus at 270 comes out at its half note
   (135). Stride marks every quarter with the left hand (bass on 1 and 3, a chord on 2 and 4): where the notes
   below middle C (`LEFT_HAND_BELOW`) mark at least `STRIDE_MARKS` (60 %) of the found beats and as many of the
   points halfway between them (at the phase that marks the most beats), the beat is taken to be twice as fast.
   Checked on his
   two recordings aligned beat by beat to charts by hand (tunes/charts/reference/): every steady excerpt there
   comes out at the hand-made beats' tempo (benchmarks/tunes/README.md, "Tempo-matched").

What is inferred, not measured: the metrical level outside those two recordings (a steady excerpt whose left hand
marks only every other found beat stays at the tracker's level, which a musician might count in two).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..notes import Note
from ..timing.tracker import TempoTracker, TrackerConfig
from .charts import EXCERPT_S, excerpt_texture, excerpts
from .texture import TEXTURE_KEYS

MIN_BPM, MAX_BPM = 50.0, 360.0  # quarter notes a minute: his ballads to past Tiger Rag's 300
MIN_CONFIDENCE = 0.2
STEADY = 0.06  # each half's tempo within this of the whole excerpt's
LEFT_HAND_BELOW = 60  # middle C
HIT_S = 0.06  # a left-hand onset this near a beat (at most 15 % of the beat) marks it
STRIDE_MARKS = 0.6
EVERY_S = 5.0  # excerpts start this far apart (they overlap: 15 s long)
PHASE_STEP_S = 0.01
TOLERANCE = 0.15  # tempo-matched: within 15 % of the chart's tempo


@dataclass(frozen=True)
class ExcerptTempo:
    """An excerpt's tempo: `bpm` in quarter notes a minute (None: no tempo found), the tracker's confidence, its
    halves' tempos, whether the beat was doubled for a stride left hand, and whether the excerpt is in tempo."""

    bpm: float | None
    confidence: float
    halves: tuple[float | None, float | None]
    stride: bool
    in_tempo: bool


def tracked(notes: Sequence[Note], start_s: float, end_s: float) -> tuple[float | None, float]:
    """(bpm, confidence) of the onsets in [start_s, end_s) by the project's tempo tracker (None: no tempo)."""
    cfg = TrackerConfig(window_s=end_s - start_s, min_bpm=MIN_BPM, max_bpm=MAX_BPM, min_confidence=0.0)
    tracker = TempoTracker(cfg)
    tracker.add_notes([(n.onset_s, n.velocity) for n in notes if start_s <= n.onset_s < end_s])
    grid = tracker.update(end_s)
    return (grid.bpm if grid else None), tracker.last_confidence


def left_hand_marks(onsets: np.ndarray, period_s: float, start_s: float, end_s: float) -> tuple[float, float]:
    """(share of beats, share of the points halfway between beats) with a left-hand onset within `HIT_S` (at most
    15 % of a beat), at the phase that marks the most beats."""
    if not len(onsets):
        return 0.0, 0.0
    hit = min(HIT_S, 0.15 * period_s)
    best = (0.0, 0.0)
    for phase in np.arange(0.0, period_s, PHASE_STEP_S):
        beats = np.arange(start_s + phase, end_s, period_s)
        if not len(beats):
            continue
        on = float(np.mean(np.abs(onsets[None, :] - beats[:, None]).min(axis=1) <= hit))
        if on > best[0]:
            mid = np.abs(onsets[None, :] - (beats + period_s / 2)[:, None]).min(axis=1)
            best = (on, float(np.mean(mid <= hit)))
    return best


def excerpt_tempo(notes: Sequence[Note], start_s: float, excerpt_s: float = EXCERPT_S) -> ExcerptTempo:
    """The tempo of the excerpt [start_s, start_s + excerpt_s) of `notes` (see the module)."""
    end_s, half = start_s + excerpt_s, start_s + excerpt_s / 2
    bpm, confidence = tracked(notes, start_s, end_s)
    halves = (tracked(notes, start_s, half)[0], tracked(notes, half, end_s)[0])
    if bpm is None:
        return ExcerptTempo(None, confidence, halves, False, False)
    steady = confidence >= MIN_CONFIDENCE and all(h is not None and abs(h / bpm - 1) <= STEADY for h in halves)
    left = np.array(sorted(n.onset_s for n in notes if n.pitch < LEFT_HAND_BELOW and start_s <= n.onset_s < end_s))
    on, mid = left_hand_marks(left, 60.0 / bpm, start_s, end_s)
    stride = on >= STRIDE_MARKS and mid >= STRIDE_MARKS and 2 * bpm <= MAX_BPM
    return ExcerptTempo(2 * bpm if stride else bpm, confidence, halves, stride, steady)


def in_tempo_excerpts(notes: Sequence[Note], start_s: float, end_s: float, source: str = "",
                      every_s: float = EVERY_S) -> list[dict]:
    """Every 15 s excerpt of `notes` from `start_s`, then every `every_s`, that ends by `end_s` and has at least
    `MIN_EXCERPT_NOTES` notes: where it starts, its tempo (`excerpt_tempo`), and, for those in tempo, its texture
    (as `excerpt_textures` measures it) and its mean duration in quarter notes at its tempo."""
    out = []
    for t, inside in excerpts(notes, start_s, end_s, every_s):
        tempo = excerpt_tempo(inside, t)
        row: dict = {"source": source, "start_s": round(t, 2),
                     "bpm": None if tempo.bpm is None else round(tempo.bpm, 1),
                     "confidence": round(tempo.confidence, 3), "stride": tempo.stride, "in_tempo": tempo.in_tempo}
        if tempo.in_tempo and tempo.bpm is not None:
            texture = excerpt_texture(inside, t)
            row["texture"] = texture
            row["duration_beats"] = round(texture["duration_mean_s"] * tempo.bpm / 60.0, 4)
        out.append(row)
    return out


def tempo_matched(excerpts: Sequence[dict], bpm: float, tolerance: float = TOLERANCE) -> list[dict]:
    """His in-tempo excerpts whose tempo is within `tolerance` (a fraction) of `bpm` (quarter notes a minute)."""
    if not bpm > 0 or not 0 < tolerance < 1:
        raise ValueError(f"need bpm > 0 and 0 < tolerance < 1, got {bpm}, {tolerance}")
    return [e for e in excerpts if e.get("in_tempo") and e["bpm"] is not None and abs(e["bpm"] / bpm - 1) <= tolerance]


def reference_at(excerpts: Sequence[dict], bpm: float, tolerance: float = TOLERANCE) -> dict:
    """His tempo-matched reference at `bpm`: how many excerpts and recordings back it, their mean texture (NaN
    excerpts of a measure left out) and mean duration in quarter notes."""
    matched = tempo_matched(excerpts, bpm, tolerance)

    def mean(values: list[float]) -> float:
        values = [v for v in values if math.isfinite(v)]
        return round(statistics.fmean(values), 4) if values else math.nan

    return {"bpm": bpm, "tolerance": tolerance, "excerpts": len(matched),
            "recordings": sorted({e["source"] for e in matched}),
            "texture": {k: mean([e["texture"][k] for e in matched]) for k in TEXTURE_KEYS},
            "duration_beats": mean([e["duration_beats"] for e in matched]),
            "tempos": sorted(e["bpm"] for e in matched)}


def quarter_bpm(bpm: float, beat_unit: int) -> float:
    """A chart's tempo (beats of its `beat_unit` a minute; 2/2 at 150 is half notes) in quarter notes a minute."""
    return bpm * 4 / beat_unit


MIN_EXCERPTS = 5  # a tempo's reference with fewer excerpts, or from one recording, is widened to WIDE
WIDE = 0.25
DURATION_BINS = (50.0, 90.0, 110.0, 150.0, 220.0, 360.0)  # quarter-note bpm


def chart_reference(excerpts: Sequence[dict], bpm: float) -> dict:
    """His reference for a chart at `bpm` quarter notes: within `TOLERANCE`, or within `WIDE` where that has fewer
    than `MIN_EXCERPTS` excerpts or one recording; `enough` says whether the one given has both."""
    ref = reference_at(excerpts, bpm, TOLERANCE)
    if ref["excerpts"] < MIN_EXCERPTS or len(ref["recordings"]) < 2:
        wide = reference_at(excerpts, bpm, WIDE)
        ref = wide if wide["excerpts"] > ref["excerpts"] else ref
    return {**ref, "enough": ref["excerpts"] >= MIN_EXCERPTS and len(ref["recordings"]) >= 2}


def pooled_texture(parts: Sequence[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """The excerpt-weighted mean of textures given as (excerpts, mean texture) pairs (NaN means left out)."""
    out = {}
    for k in TEXTURE_KEYS:
        pairs = [(n, t[k]) for n, t in parts if n and math.isfinite(t[k])]
        total = sum(n for n, _ in pairs)
        out[k] = round(sum(n * v for n, v in pairs) / total, 4) if total else math.nan
    return out


def duration_by_tempo(excerpts: Sequence[dict], edges: Sequence[float] = DURATION_BINS) -> list[dict]:
    """His in-tempo excerpts in tempo bins: how many (and from which recordings), the mean tempo, the mean note
    duration in seconds and in quarter notes (and its standard deviation over the excerpts)."""
    out = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [e for e in excerpts if e.get("in_tempo") and e["bpm"] is not None and lo <= e["bpm"] < hi]
        beats = [e["duration_beats"] for e in inside]
        out.append({"bpm_from": lo, "bpm_to": hi, "excerpts": len(inside),
                    "recordings": sorted({e["source"] for e in inside}),
                    "mean_bpm": round(statistics.fmean(e["bpm"] for e in inside), 1) if inside else None,
                    "duration_s": round(statistics.fmean(e["texture"]["duration_mean_s"] for e in inside), 4)
                    if inside else None,
                    "duration_beats": round(statistics.fmean(beats), 4) if beats else None,
                    "duration_beats_sd": round(statistics.stdev(beats), 4) if len(beats) > 1 else None})
    return out


def duration_slope(excerpts: Sequence[dict]) -> float | None:
    """The slope of ln(mean duration in s) against ln(tempo) over his in-tempo excerpts: -1 when a note keeps
    its length in beats at every tempo, 0 when it keeps its length in seconds (None with fewer than 3)."""
    xs = [(math.log(e["bpm"]), math.log(e["texture"]["duration_mean_s"])) for e in excerpts
          if e.get("in_tempo") and e["bpm"] and e["texture"]["duration_mean_s"] > 0]
    if len(xs) < 3:
        return None
    slope, _ = np.polyfit([x for x, _ in xs], [y for _, y in xs], 1)
    return round(float(slope), 3)
