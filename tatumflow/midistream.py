"""A Standard MIDI File read as a stream: events come one at a time from the file's bytes (memory-mapped), never a
message object per event, so a file of millions of notes is read in constant memory.

Every reader of MIDI files goes through here: `notes.read_midi` folds the events into `Note`s for the model (inspect,
generate and jam prompts, eval, train), `render` feeds them to FluidSynth. The rules: note-on with velocity 0 is a
note-off, the drum channel is ignored, data bytes are clipped to 7 bits, type-0/1 tracks are merged in time order
under one tempo map (tempo changes from any track, as mido and sequencers play them), type-2 tracks are each alone
(one after the other). The header's counts are unsigned (a file may declare up to 65,535 tracks).
"""

from __future__ import annotations

import heapq
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .paths import check_input_file

DRUM_CHANNEL = 9
DEFAULT_TEMPO = 500_000  # microseconds per beat until the first set_tempo (MIDI default: 120 bpm)
MAX_MIDI_BYTES = 64 * 2**20  # a performance is kilobytes; 64 MiB holds millions of notes
NOTE_OFF, NOTE_ON, CONTROL, TEMPO, END = 0, 1, 2, 3, 4  # event kinds; at equal times offs and controls before ons
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass(frozen=True)
class MidiLayout:
    """What the header says, and where each track's events lie in the file."""

    format: int
    ticks_per_beat: int
    tracks: tuple[tuple[int, int], ...]  # (first byte, end) of each MTrk chunk's events


def _shown(head: bytes) -> str:
    """The first bytes of a file as a user reads them: text when printable, else hex."""
    if all(32 <= b < 127 for b in head):
        return repr(head.decode("ascii"))
    return "bytes " + head.hex(" ")


def midi_structure_problem(data) -> str | None:
    """What is wrong with the chunk structure of a Standard MIDI File (bytes or mmap), or None when it looks
    whole."""
    if not len(data):
        return "the file is empty (0 bytes)"
    if data[:4] != b"MThd":
        return f"no MThd header: it starts with {_shown(bytes(data[:4]))}"
    if len(data) < 14:
        return f"truncated header ({len(data)} bytes, need 14)"
    pos, tracks = 8 + int.from_bytes(data[4:8], "big"), 0
    declared = int.from_bytes(data[10:12], "big")
    while pos + 8 <= len(data) and tracks < declared:
        length = int.from_bytes(data[pos + 4:pos + 8], "big")
        if pos + 8 + length > len(data):
            return (f"chunk {tracks + 1} ({_shown(bytes(data[pos:pos + 4]))}) declares {length:,} bytes but only "
                    f"{len(data) - pos - 8:,} remain: truncated or corrupt")
        pos, tracks = pos + 8 + length, tracks + (data[pos:pos + 4] == b"MTrk")
    if tracks < declared:
        return f"the header declares {declared} tracks but the file holds {tracks}: truncated"
    return None


def check_midi_path(path: str | os.PathLike) -> int:
    """The size of a MIDI file; a missing path, a folder, a device and a huge file each get their own error."""
    path = check_input_file(path, "MIDI file")
    size = path.stat().st_size
    if size > MAX_MIDI_BYTES:
        raise ValueError(f"{path}: {size:,} bytes is too large for a MIDI file (limit {MAX_MIDI_BYTES:,})")
    return size


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


def _tagged(data, span: tuple[int, int], i: int) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Track `i`'s events as `(tick, kind, track, channel, a, b)`."""
    for tick, kind, channel, a, b in track_events(data, *span):
        yield tick, kind, i, channel, a, b


def _timed(events: Iterator[tuple[int, int, int, int, int, int]], ticks_per_beat: int, offset_s: float,
           ends: list[float]) -> Iterator[tuple[float, int, int, int, int, int]]:
    """Tick-ordered events in seconds from `offset_s`, `(t_s, kind, track, channel, a, b)`: tempo changes applied
    (not yielded), drums dropped; each track's end time is appended to `ends`."""
    seconds, prev, tempo = offset_s, 0, DEFAULT_TEMPO
    for tick, kind, i, channel, a, b in events:
        seconds += (tick - prev) * tempo * 1e-6 / ticks_per_beat
        prev = tick
        if kind == TEMPO:
            tempo = a or tempo
        elif kind == END:
            ends.append(seconds)
        elif channel != DRUM_CHANNEL:
            yield seconds, kind, i, channel, a, b


def stream_events(data, midi: MidiLayout) -> Iterator[tuple[float, int, int, int, int, int]]:
    """Every track's `(t_s, kind, track, channel, a, b)` merged in time order (offs and controls first at a time;
    type 2: the tracks are songs, played one after the other)."""
    for events, _ in songs(data, midi):
        yield from events


def songs(data, midi: MidiLayout) -> Iterator[tuple[Iterator[tuple[float, int, int, int, int, int]], list[float]]]:
    """The file's independent sequences, each as (its merged events, a list that holds its tracks' end times once
    the events are consumed): one for types 0 and 1, one per track for type 2, each starting where the last
    ended (consume each before asking for the next). Types 0 and 1 merge the tracks by tick (track order, then
    offs and controls before ons within a tick) with one tempo map from all of them, as mido plays a file."""
    if midi.format == 2:
        offset = 0.0
        for i, span in enumerate(midi.tracks):
            ends: list[float] = []
            yield _timed(_tagged(data, span, i), midi.ticks_per_beat, offset, ends), ends
            offset = max(ends, default=offset)
        return
    ends = []
    merged = heapq.merge(*(_tagged(data, span, i) for i, span in enumerate(midi.tracks)),
                         key=lambda e: (e[0], e[1] == NOTE_ON))
    yield _timed(merged, midi.ticks_per_beat, 0.0, ends), ends


def track_name(data, span: tuple[int, int]) -> str | None:
    """The name of a track: its first track-name meta event before any channel event (as mido's `track.name`,
    decoded as Latin-1), else None."""
    pos, end = span
    while pos < end:
        _, pos = _vlq(data, pos, end)
        if pos + 1 >= end or data[pos] != 0xFF:
            return None  # a channel or sysex event: names come first
        kind = data[pos + 1]
        length, pos = _vlq(data, pos + 2, end)
        if kind == 0x03:
            return bytes(data[pos:min(pos + length, end)]).decode("latin-1")
        pos += length
    return None


def named_errors(events: Iterator, name: str) -> Iterator:
    """`events` with any failure on the file's data raised as one ValueError naming the file."""
    try:
        yield from events
    except (ValueError, IndexError, KeyError) as err:
        raise ValueError(f"{name}: corrupt MIDI data ({err})") from err


class MappedMidi:
    """A MIDI file mapped into memory (checked as `notes.read_midi` checks it): `with MappedMidi(p) as m:` gives
    `m.layout` and `m.events()`; errors name the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        size = check_midi_path(self.path)
        if size == 0:
            raise ValueError(f"{self.path}: not a readable MIDI file (the file is empty (0 bytes))")
        try:
            with open(self.path, "rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as err:  # permissions, a file that went away or cannot be mapped
            raise ValueError(f"{self.path}: cannot read it ({err.strerror or err})") from None
        try:
            self.layout = layout(self._map)
        except ValueError as err:
            self._map.close()
            raise ValueError(f"{self.path}: not a readable MIDI file ({err})") from None

    def events(self) -> Iterator[tuple[float, int, int, int, int, int]]:
        yield from named_errors(stream_events(self._map, self.layout), str(self.path))

    @property
    def data(self) -> mmap.mmap:
        return self._map

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
