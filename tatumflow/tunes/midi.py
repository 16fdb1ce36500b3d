"""A performance over a form as a MIDI file a DAW reads: the chart's tempo and meter in the conductor track, and a
marker at every bar line naming the chorus, the section, the bar and its chords.

The file's tempo is the chart's (in quarter notes: 2/2 at 100 half notes per minute is 200), constant from 0 s, and
bar 1 of the form sits on one of the file's bar lines (0 s with no prompt; the first bar line after a prompt), so
the DAW's bars are the form's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import mido

from ..notes import DEFAULT_TICKS_PER_BEAT, Note, midi_file_from_tracks
from ..timing.form import Changes

PROMPT_MARK = "form starts after the prompt: "


def bar_marker(changes: Changes, chorus: int, bar: int) -> str:
    b = changes.form.bars[bar]
    section = f"[{b.section}] " if b.section else ""
    return f"chorus {chorus + 1} {section}bar {bar + 1}: {b.symbols}"


def markers(changes: Changes, after_prompt: bool, until_s: float | None = None) -> list[tuple[float, str]]:
    """(time, text) of every bar line of the form (up to `until_s`); the first says so when the form follows a
    prompt."""
    out = [(t, bar_marker(changes, chorus, bar)) for t, chorus, bar in changes.bar_lines(until_s)]
    if after_prompt and out:
        out[0] = (out[0][0], PROMPT_MARK + out[0][1])
    return out


def performance_midi(tracks: Mapping[str, Sequence[Note]], changes: Changes, after_prompt: bool,
                     until_s: float | None = None, ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT) -> mido.MidiFile:
    """The file; its bar markers run to the form's end (or to `until_s`: a restyled melody that stops before the
    chart does)."""
    form = changes.form
    quarter_bpm = changes.bpm * 4 / form.beat_unit
    midi = midi_file_from_tracks(dict(tracks), ticks_per_beat, quarter_bpm)
    ticks_per_s = ticks_per_beat * quarter_bpm / 60.0
    events: list[tuple[int, mido.MetaMessage]] = [
        (0, mido.MetaMessage("time_signature", numerator=form.beats_per_bar, denominator=form.beat_unit)),
    ]
    if form.title:
        events.append((0, mido.MetaMessage("text", text=form.title[:80])))
    events += [(max(0, round(t * ticks_per_s)), mido.MetaMessage("marker", text=text))
               for t, text in markers(changes, after_prompt, until_s)]
    conductor = midi.tracks[0]
    head = [m for m in conductor if m.type != "end_of_track"]  # the tempo, at tick 0
    track = mido.MidiTrack(head)
    prev = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - prev))
        prev = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks[0] = track
    return midi


def write_performance(path: str | os.PathLike, tracks: Mapping[str, Sequence[Note]], changes: Changes,
                      after_prompt: bool, until_s: float | None = None) -> None:
    performance_midi(tracks, changes, after_prompt, until_s).save(str(path))
