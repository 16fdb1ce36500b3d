"""Art Tatum's own playing over a chart: a recording aligned to the chart beat by beat (issue 29's reference).

An alignment (`charts/reference/<chart>.json`, beside the chart it aligns) names a chart, the semitones it is moved
to reach the key he plays it in, a recording under a PiJAMA root, and segments: runs of the form's bars (a chorus,
the head) with the time of every beat in them. He plays in rubato, so the beats are explicit times, one per beat
of the meter, made by a beat tracker over his onsets and set by hand at anchors (benchmarks/tunes/reference/
align.py says how). `measure_reference` reads his notes and measures them as the model's are measured
(`measure.share_report_on_beats`): the chord-tone share at the beats, and against the chart moved a semitone up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..files import read_text_bounded
from ..notes import read_midi
from ..timing.form import Chord, Form
from .chart import read_chart
from .measure import share_report_on_beats

CHARTS = Path(__file__).resolve().parent / "charts"
REFERENCE = CHARTS / "reference"
MAX_ALIGNMENT_BYTES = 1 << 20
MAX_SEGMENTS = 16
MAX_SEGMENT_BARS = 256


@dataclass(frozen=True)
class Segment:
    label: str
    first_bar: int  # 1-based, in the form; the segment runs on through the form (and round it)
    bars: int
    beats: tuple[float, ...]  # every beat's time (s), bars * beats_per_bar of them


@dataclass(frozen=True)
class Alignment:
    chart: str  # a chart's file stem in tunes/charts
    transpose: int  # semitones from the chart to the key he plays
    recording: str  # the MIDI file's path under a PiJAMA root
    segments: tuple[Segment, ...]


def reference_path(chart_path: str | Path) -> Path | None:
    """The alignment of a chart (`charts/reference/<stem>.json`) if the project has one for that chart's name."""
    p = REFERENCE / f"{Path(chart_path).stem}.json"
    return p if p.is_file() else None


def read_alignment(path: str | Path) -> Alignment:
    """An alignment file. Raises ValueError (one line, naming the file) for anything malformed."""
    name = Path(path).name
    text = read_text_bounded(path, MAX_ALIGNMENT_BYTES, "alignment")
    try:
        return parse_alignment(json.loads(text))
    except (AttributeError, KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"alignment {name}: not a chart alignment ({type(err).__name__}: {str(err)[:80]})") from None
    except ValueError as err:
        raise ValueError(f"alignment {name}: {err}") from None


def parse_alignment(raw: dict) -> Alignment:
    """An alignment from its JSON object (raises ValueError, KeyError or TypeError when malformed)."""
    transpose = int(raw.get("transpose", 0))
    if not -11 <= transpose <= 11:
        raise ValueError(f"transpose {transpose} is outside -11..11")
    recording = str(raw["recording"])
    if Path(recording).is_absolute() or ".." in Path(recording).parts:
        raise ValueError(f"recording {recording[:80]!r} must be a path under the PiJAMA root")
    segments = tuple(_segment(s) for s in raw["segments"][:MAX_SEGMENTS + 1])
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        raise ValueError(f"{len(segments)} segments; 1..{MAX_SEGMENTS} are allowed")
    return Alignment(str(raw["chart"]), transpose, recording, segments)


def _segment(raw: dict) -> Segment:
    first, bars = int(raw["first_bar"]), int(raw["bars"])
    if first < 1 or not 1 <= bars <= MAX_SEGMENT_BARS:
        raise ValueError(f"a segment's first_bar {first} / bars {bars} are out of range")
    beats = tuple(float(t) for t in raw["beats"][:MAX_SEGMENT_BARS * 4 + 1])
    if not all(math.isfinite(t) and t >= 0 for t in beats) or any(b <= a for a, b in zip(beats, beats[1:])):
        raise ValueError(f"segment {str(raw.get('label', ''))[:40]!r}: beat times must be finite and increase")
    return Segment(str(raw.get("label", ""))[:80], first, bars, beats)


def aligned_beats(alignment: Alignment, form: Form) -> list[tuple[float, Chord | None]]:
    """(time, chord) of every aligned beat, the chart moved to his key, in time order."""
    if alignment.transpose:
        form = form.transposed(alignment.transpose)
    per_bar, total = form.beats_per_bar, form.total_beats
    chords = [c for _, c in form.chord_starts()]
    out: list[tuple[float, Chord | None]] = []
    for seg in alignment.segments:
        if len(seg.beats) != seg.bars * per_bar:
            raise ValueError(f"segment {seg.label!r}: {len(seg.beats)} beats for {seg.bars} bars of {per_bar}")
        if seg.first_bar > len(form.bars):
            raise ValueError(f"segment {seg.label!r} starts at bar {seg.first_bar}; the form has {len(form.bars)}")
        start = (seg.first_bar - 1) * per_bar
        out += [(t, chords[form.chord_index((start + k) % total)]) for k, t in enumerate(seg.beats)]
    out.sort(key=lambda b: b[0])
    if any(b[0] <= a[0] for a, b in zip(out, out[1:])):
        raise ValueError("the segments overlap in time")
    return out


def aligned_spans(alignment: Alignment) -> list[tuple[float, float]]:
    """The stretches of his recording that are aligned to the chart, in time order: each segment from its first
    beat to one beat after its last (the last gap again), segments that meet (the next starting within half a beat
    of that end) joined into one. Inside a span he plays the form in tempo, beat by beat."""
    spans: list[tuple[float, float]] = []
    for seg in sorted(alignment.segments, key=lambda s: s.beats[0]):
        last_gap = seg.beats[-1] - seg.beats[-2] if len(seg.beats) > 1 else 0.0
        start, end = seg.beats[0], seg.beats[-1] + last_gap
        if spans and start <= spans[-1][1] + 0.5 * last_gap:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def measure_reference(alignment: Alignment, pijama_root: str | Path) -> dict:
    """His chord-tone share on the aligned beats, the semitone-up control, and what was measured."""
    chart = read_chart(CHARTS / f"{Path(alignment.chart).name}.txt")
    beats = aligned_beats(alignment, chart.form)
    notes = read_midi(Path(pijama_root) / alignment.recording)
    lo, hi = beats[0][0] - 1.0, beats[-1][0] + 1.0
    notes = [n for n in notes if lo <= n.onset_s <= hi]
    segments = []
    for seg in alignment.segments:
        one = aligned_beats(Alignment(alignment.chart, alignment.transpose, alignment.recording, (seg,)), chart.form)
        inside = [n for n in notes if one[0][0] - 1.0 <= n.onset_s <= one[-1][0] + 1.0]
        segments.append({"label": seg.label, "bars": seg.bars, **share_report_on_beats(inside, one)})
    return {"chart": alignment.chart, "transpose": alignment.transpose, "recording": alignment.recording,
            "bars": sum(s.bars for s in alignment.segments), **share_report_on_beats(notes, beats),
            "segments": segments}
