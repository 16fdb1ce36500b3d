"""A Standard MIDI File read as a stream: events come one at a time from the file's bytes (memory-mapped), never a
message object per event, so a file of millions of notes is read in constant memory.

`notes.read_midi` builds `Note`s for the model (and folds the pedal); this module is for what must not hold the
whole file: `render` feeding FluidSynth. Its events follow the same rules as `notes`: note-on with velocity 0 is a
note-off, the drum channel is ignored, data bytes are clipped to 7 bits, type-1 tracks take their tempo from the
first (conductor) track and their own, type-2 tracks are each alone, and tracks are merged in time order.
"""

from __future__ import annotations

import heapq
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .notes import DEFAULT_TEMPO, DRUM_CHANNEL, check_midi_path, midi_structure_problem

NOTE_OFF, NOTE_ON, CONTROL, TEMPO, END = 0, 1, 2, 3, 4  # event kinds; at equal times offs and controls before ons
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass(frozen=True)
class MidiLayout:
    """What the header says, and where each track's events lie in the file."""

    format: int
    ticks_per_beat: int
    tracks: tuple[tuple[int, int], ...]  # (first byte, end) of each MTrk chunk's events


def _vlq(data, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        if pos >= end:
            raise ValueError(f"a variable-length number runs past its track at byte {pos}")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise ValueError(f"a variable-length number longer than 4 bytes at byte {pos}")


def layout(data) -> MidiLayout:
    """The header and track chunks of `data` (bytes or mmap); ValueError saying what is wrong with them."""
    problem = midi_structure_problem(data)
    if problem is not None:
        raise ValueError(problem)
    fmt, declared = int.from_bytes(data[8:10], "big"), int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if division <= 0 or division & 0x8000:
        raise ValueError(f"time division {division} is not supported (need ticks per beat > 0, not SMPTE)")
    pos, spans = 8 + int.from_bytes(data[4:8], "big"), list[tuple[int, int]]()
    while len(spans) < declared:
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        if data[pos:pos + 4] == b"MTrk":
            spans.append((pos + 8, pos + 8 + length))
        pos += 8 + length
    return MidiLayout(fmt, division, tuple(spans))


def track_events(data, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """`(tick, kind, channel, a, b)` of one track in file order: notes (a pitch, b velocity), control changes (a
    control, b value), tempo changes (a microseconds per beat) and the track's end. Everything else is skipped."""
    pos, tick, status = start, 0, 0
    while pos < end:
        delta, pos = _vlq(data, pos, end)
        tick += delta
        byte = data[pos] if pos < end else -1
        if byte < 0:
            raise ValueError(f"a track ends inside an event at byte {pos}")
        if byte == 0xFF:  # meta: type, length, data
            kind = data[pos + 1] if pos + 1 < end else -1
            length, pos = _vlq(data, pos + 2, end)
            if kind == 0x2F:
                break
            if kind == 0x51 and length == 3:
                yield tick, TEMPO, 0, int.from_bytes(data[pos:pos + 3], "big"), 0
            pos += length
            continue
        if byte in (0xF0, 0xF7):  # sysex: length, data
            length, pos = _vlq(data, pos + 1, end)
            pos += length
            continue
        if byte >= 0x80:
            if byte > 0xF0:
                raise ValueError(f"status byte {byte:#04x} is not allowed in a MIDI file (byte {pos})")
            status, pos = byte, pos + 1
        elif not status:
            raise ValueError(f"a data byte with no running status at byte {pos}")
        n = _DATA_BYTES[status & 0xF0]
        if pos + n > end:
            raise ValueError(f"a track ends inside an event at byte {pos}")
        a = data[pos] & 0x7F
        b = data[pos + 1] & 0x7F if n == 2 else 0
        pos += n
        channel, kind = status & 0x0F, status & 0xF0
        if kind == 0x90:
            yield tick, NOTE_ON if b else NOTE_OFF, channel, a, b
        elif kind == 0x80:
            yield tick, NOTE_OFF, channel, a, b
        elif kind == 0xB0:
            yield tick, CONTROL, channel, a, b
    yield tick, END, 0, 0, 0


def _tempo_only(data, span: tuple[int, int]) -> Iterator[tuple[int, int, int, int, int]]:
    return (e for e in track_events(data, *span) if e[1] == TEMPO)


def _timed(data, midi: MidiLayout, i: int, offset_s: float = 0.0,
           end: list[float] | None = None) -> Iterator[tuple[float, int, int, int, int, int]]:
    """Track `i`'s events in seconds from `offset_s`, `(t_s, kind, track, channel, a, b)` (tempo changes applied,
    not yielded); the track's end time is appended to `end`."""
    events = track_events(data, *midi.tracks[i])
    if i and midi.format == 1:  # the conductor's tempo changes come first within a tick
        events = heapq.merge(_tempo_only(data, midi.tracks[0]), events, key=lambda e: e[0])
    seconds, prev, tempo = offset_s, 0, DEFAULT_TEMPO
    for tick, kind, channel, a, b in events:
        seconds += (tick - prev) * tempo * 1e-6 / midi.ticks_per_beat
        prev = tick
        if kind == TEMPO:
            tempo = a or tempo
        elif kind == END:
            if end is not None:
                end.append(seconds)
        elif channel != DRUM_CHANNEL:
            yield seconds, kind, i, channel, a, b


def stream_events(data, midi: MidiLayout) -> Iterator[tuple[float, int, int, int, int, int]]:
    """Every track's `(t_s, kind, track, channel, a, b)` merged in time order (offs and controls first at a time;
    type 2: the tracks are songs, played one after the other)."""
    if midi.format == 2:
        ends = [0.0]
        for i in range(len(midi.tracks)):
            yield from _timed(data, midi, i, ends[-1], ends)
        return
    yield from heapq.merge(*(_timed(data, midi, i) for i in range(len(midi.tracks))),
                           key=lambda e: (e[0], e[1] == NOTE_ON))


class MappedMidi:
    """A MIDI file mapped into memory (checked as `notes.read_midi` checks it): `with MappedMidi(p) as m:` gives
    `m.layout` and `m.events()`; errors name the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        size = check_midi_path(self.path)
        if size == 0:
            raise ValueError(f"{self.path}: not a readable MIDI file (the file is empty (0 bytes))")
        with open(self.path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self.layout = layout(self._map)
        except ValueError as err:
            self._map.close()
            raise ValueError(f"{self.path}: not a readable MIDI file ({err})") from None

    def events(self) -> Iterator[tuple[float, int, int, int, int, int]]:
        try:
            yield from stream_events(self._map, self.layout)
        except (ValueError, IndexError, KeyError) as err:
            raise ValueError(f"{self.path}: corrupt MIDI data ({err})") from err

    def tracks_with_notes(self) -> list[int]:
        """The tracks holding at least one (non-drum) note-on: one pass over the file."""
        found: set[int] = set()
        for _, kind, track, *_ in self.events():
            if kind == NOTE_ON:
                found.add(track)
        return sorted(found)

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> MappedMidi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
