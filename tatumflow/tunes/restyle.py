"""Restyle a melody (`tatumflow restyle`): the tune's melody stays on top, the model plays around and under it.

The melody is written as it was given: every note at its own time (0 ms moved), pitch and length. The model hears
it as it comes, the way a duet partner hears the human: the generator's windows are cut at the melody's onsets,
and each window begins by folding the next melody note into the context (`generate_chunk(state, [note])`), so the
model's voicings, runs and stride left hand answer the melody note just struck (a note at delta 0 joins it as its
chord). While a melody note sounds, the model's range is capped a semitone below it (`Controls.pitch_high`); in a
rest before the next one, below the higher of the two, and in the rest's last `LEAD_IN_S`, below the next one (a
fill note struck just before a melody note would sound over it). Afterwards a model note still sounding when a
melody note at or below its pitch starts is cut there, so the melody is the top voice at every one of its onsets
(measure.melody_kept, tolerance 30 ms). With a chart (`--changes`,
or the lead sheet's own chord symbols) the chart prior and the chart's beat grid apply as in `generate --changes`,
and so does the feel over a chart (feel.py; `feel=ChartFeel.off()`: the controls as given): each window samples
with `feel.controls` on top of its capped controls, and the duration steer reads the model's notes as they come,
moved once per `controls.window_s` of music (`DurationSteer.fold`: perform's pace; the windows here are cut at every
melody onset, far shorter). Without a chart the controls are the caller's (the range cap alone). The feel here
(`RESTYLE_FEEL`) leaves the velocity head's temperature as it is: chosen for `generate --changes`, where the
model's touch over a chart came out flat (a per-excerpt velocity spread of 6 against his 10), its x1.7 took
restyle's spread, already his without it (10.3, Old Folks at Home and Humoresque, seeds 0-2, 15 excerpts), to 15.5;
the rest of the feel brought restyle nearer his (tempo regularity 0.69 -> 0.28, his ~0.30; voicing width 11.5 ->
8.8 semitones, his ~8.6-9.0 at these tempos: `benchmarks/tunes/README.md`, "Restyle's touch").
After the last melody note the model plays on for `tail_s`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..generate.window import Window
from ..notes import MIN_DURATION_S, PIANO_HIGH, PIANO_LOW, Note, cut_overlaps, sort_notes
from ..timing.form import Changes
from .feel import ChartFeel
from .perform import CHART_FEEL, Performance

RESTYLE_FEEL = replace(CHART_FEEL, velocity_temperature=1.0)  # the feel without its warmer touch (see the module)

MAX_MELODY_S = 1800.0
LEAD_IN_S = 0.05  # the last part of a rest before a melody note: the model stays under that note already


def _capped(controls: Controls, top: int) -> Controls:
    high = min(max(top - 1, controls.pitch_low), PIANO_HIGH)
    return replace(controls, pitch_high=high)


def _windows(m: Note, nxt: Note | None, tail_s: float) -> list[tuple[float, float, int]]:
    """(start, end, the pitch the model stays under) from melody note `m` to the next: while `m` sounds, under it;
    in a rest, under the higher of the two; in the last `LEAD_IN_S` before the next, under that one too."""
    seg_end = nxt.onset_s if nxt is not None else m.end_s + tail_s
    held_end = min(m.end_s, seg_end)
    top = max(m.pitch, nxt.pitch) if nxt is not None else PIANO_HIGH + 1
    windows = [(m.onset_s, held_end, m.pitch), (held_end, seg_end, top)]
    if nxt is not None:
        cut = seg_end - LEAD_IN_S
        windows = [w for a, b, cap in windows
                   for w in ((a, min(b, max(a, cut)), cap), (max(a, cut), b, min(cap, nxt.pitch)))]
    return [(a, b, cap) for a, b, cap in windows if b > a + 1e-6]


def under_melody(notes: Sequence[Note], melody: Sequence[Note]) -> list[Note]:
    """`notes` with each one cut at the first melody onset (after its own) whose pitch is at or below it."""
    out = []
    for n in notes:
        end = n.end_s
        for m in melody:
            if m.onset_s >= end:
                break
            if m.onset_s > n.onset_s and m.pitch <= n.pitch:
                end = m.onset_s
                break
        out.append(replace(n, duration_s=max(end - n.onset_s, MIN_DURATION_S)))
    return out


def restyle(generator: ChunkedGenerator, melody: Sequence[Note], controls: Controls, changes: Changes | None = None,
            tail_s: float = 2.0, seed: int = 0, on_note: Callable[[int, int], None] | None = None,
            feel: ChartFeel = RESTYLE_FEEL) -> Performance:
    """The model's notes around `melody` (see the module), played with `feel` over `changes` (feel.py); the melody
    itself is returned unchanged beside them."""
    melody = sort_notes(melody)
    if not melody:
        raise ValueError("the melody has no notes")
    span = max(n.end_s for n in melody) - melody[0].onset_s
    if span > MAX_MELODY_S:
        raise ValueError(f"the melody lasts {span:.0f} s, more than {MAX_MELODY_S:.0f} s")
    frame = Window(beat_grid=None if changes is None else changes.beat_grid(), changes=changes, seed=seed)
    state = generator.init_state([], controls, start_s=melody[0].onset_s)
    steer = None if changes is None else feel.steer(changes.period_s * changes.form.beat_unit / 4)  # a quarter
    out: list[Note] = []
    for i, m in enumerate(melody):
        nxt = melody[i + 1] if i + 1 < len(melody) else None
        inside = [m] if PIANO_LOW <= m.pitch <= PIANO_HIGH else []
        for a, b, cap in _windows(m, nxt, tail_s):
            capped = _capped(controls, cap)
            felt = capped if steer is None else feel.controls(capped, steer.legato_offset)
            notes, state = generator.generate_chunk(state, inside, felt, replace(frame, start_s=a, end_s=b))
            if steer is not None:
                steer.fold(notes, b, controls.window_s)
            out.extend(notes)
            inside = []
        if inside:
            generator.absorb(state, inside, controls)
        if on_note:
            on_note(i + 1, len(melody))
    end = melody[-1].end_s + tail_s
    ours = [replace(n, duration_s=max(min(n.duration_s, end - n.onset_s), MIN_DURATION_S)) for n in out]
    return Performance(under_melody(cut_overlaps(ours), melody), changes, [], list(melody))


def choruses_to_cover(changes: Changes, end_s: float) -> int:
    """Enough choruses of `changes` to reach `end_s`."""
    return max(1, math.ceil((end_s - changes.start_s) / changes.chorus_s - 1e-9))
