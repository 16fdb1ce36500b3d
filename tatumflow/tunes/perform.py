"""A performance over a tune's form, offline: chorus after chorus at the chart's tempo (`tatumflow generate
--changes`).

The chart sets everything the generator reads of time: the beat grid (the meter prior: onsets lean to the chart's
16ths and triplets) and the changes (the chart prior: the chord at each onset). With no prompt, bar 1 of the form is
at 0 s and the context starts with a self-made intro (`intro_notes`, on by default): the form's last two bars,
its turnaround, as a plain stride comp (root on beats 1 and 3, a close voicing on 2 and 4) at negative times. It
is never written; it gives the model the tempo, the key and the left hand's beat before bar 1 (benchmarks/tunes
compares it with an empty context). With a prompt, the form starts on the first bar line (counted at the chart's
tempo from 0 s) after the prompt's last onset; the model continues the prompt up to it. Every window samples with
the feel over a chart (feel.py: the meter prior scaled down, the velocity head warmer, the note lengths steered to
about half a beat); `feel=ChartFeel.off()` samples with the controls as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..generate.continuation import continuation_start_s
from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..generate.window import Window
from ..notes import MIN_DURATION_S, Note, cut_overlaps
from ..timing.form import Changes, Chord, Form
from .feel import ChartFeel

MAX_PERFORMANCE_S = 3600.0
MAX_CHORUSES = 100
INTRO_BARS = 2
INTRO_VELOCITY = 56
CHART_FEEL = ChartFeel()


@dataclass(frozen=True)
class Performance:
    notes: list[Note]  # the model's
    changes: Changes | None  # the form as it was placed (its start, tempo, choruses); None: a melody alone
    prompt: list[Note]
    melody: list[Note]  # restyle's melody (empty for a plain performance)


def form_start_s(prompt: Sequence[Note], form: Form, bpm: float) -> float:
    """Where bar 1 goes: 0 s with no prompt, else the first bar line (at `bpm` from 0 s) after its last onset."""
    if not prompt:
        return 0.0
    bar_s = form.beats_per_bar * 60.0 / bpm
    last = max(n.onset_s for n in prompt)
    return (math.floor(last / bar_s + 1e-9) + 1) * bar_s


def place(form: Form, bpm: float, choruses: int, start_s: float = 0.0) -> Changes:
    if not 1 <= choruses <= MAX_CHORUSES:
        raise ValueError(f"choruses must be in [1, {MAX_CHORUSES}], got {choruses}")
    changes = Changes(form, bpm, start_s, choruses)
    if changes.end_s - start_s > MAX_PERFORMANCE_S:
        raise ValueError(f"{choruses} choruses of {len(form.bars)} bars at {bpm:g} bpm last "
                         f"{changes.end_s - start_s:.0f} s, more than {MAX_PERFORMANCE_S:.0f} s")
    return changes


def _voicing(chord: Chord) -> list[int]:
    """A close voicing of the chord's tones (up to four) from G3 up, and its bass note from C2."""
    pcs = sorted(chord.tones - {chord.bass}, key=lambda p: (p - 7) % 12)[:4] or [chord.root]
    upper = [55 + (p - 55) % 12 for p in pcs]
    return [36 + (chord.bass - 36) % 12] + sorted(upper)


def intro_notes(changes: Changes, bars: int = INTRO_BARS) -> list[Note]:
    """The form's last `bars` bars as a stride comp just before bar 1 (negative times; see the module)."""
    form, period = changes.form, changes.period_s
    bars = min(bars, len(form.bars))
    out: list[Note] = []
    first = len(form.bars) - bars
    for k, bar in enumerate(form.bars[first:]):
        for beat in range(form.beats_per_bar):
            t = changes.start_s + ((k - bars) * form.beats_per_bar + beat) * period
            chord = next(c for o, c in reversed(bar.chords) if o <= beat + 1e-9)
            notes = _voicing(chord)
            picked = notes[:1] if beat % 2 == 0 else notes[1:]
            out += [Note(t, 0.8 * period, p, INTRO_VELOCITY + (8 if beat == 0 else 0)) for p in picked]
    return out


def perform(generator: ChunkedGenerator, form: Form, bpm: float, choruses: int, controls: Controls,
            prompt: Sequence[Note] = (), intro: bool = True, seed: int = 0,
            on_window: Callable[[int, int], None] | None = None, feel: ChartFeel = CHART_FEEL) -> Performance:
    """The model's notes over `choruses` of `form` at `bpm` (see the module), played with `feel` (feel.py); every
    note ends by the form's end."""
    changes = place(form, bpm, choruses, form_start_s(prompt, form, bpm))
    frame = Window(beat_grid=changes.beat_grid(), changes=changes, seed=seed)
    context = list(prompt) if prompt else (intro_notes(changes) if intro else [])
    start = continuation_start_s(prompt, generator.tokenizer.config.grid_s) if prompt else changes.start_s
    state = generator.init_state(context, controls, start_s=start)
    end = changes.end_s
    total = max(1, math.ceil((end - start) / controls.window_s - 1e-9))
    out: list[Note] = []
    steer = feel.steer(changes.period_s * form.beat_unit / 4)  # a quarter note (a half note's half in 2/2)
    for i in range(total):
        window = replace(frame, end_s=min(end, state.window_start_s + controls.window_s))
        notes, state = generator.generate_chunk(state, [], feel.controls(controls, steer.legato_offset), window)
        steer.update(notes)
        out.extend(notes)
        if on_window:
            on_window(i + 1, total)
    clipped = [replace(n, duration_s=max(min(n.duration_s, end - n.onset_s), MIN_DURATION_S)) for n in out]
    return Performance(cut_overlaps(clipped), changes, list(prompt), [])
