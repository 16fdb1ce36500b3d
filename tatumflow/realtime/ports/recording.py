"""A session recording built as it goes: a type-1 .mid whose bytes can be written out complete at any moment.

Each track keeps its events already encoded (delta ticks + status bytes, ~4 bytes per message: an hour of duet is a
few hundred kB), so `to_bytes()` costs a copy, not a re-encode. A snapshot always is valid MIDI: the notes and the
pedal still down are ended at the snapshot's time (in the snapshot only; the live tracks go on). `write_atomic`
writes a snapshot to a temp file beside the target, syncs it and renames it over the target, so the path holds the
last complete snapshot whatever happens to the process (kill -9, a crash, a power cut after the sync).

Times are session seconds. The conductor track holds the tempo map. It opens with `open_tempo(bpm, lead_s)`, the
session's first reliable tempo (tempo.py): the file plays at that tempo from its start, and starts `lead_s` before
the session (up to a bar of silence) so that the followed beats and bars are the file's; until then the events wait
in seconds, and a snapshot reads them at 120 bpm. Without a tempo (or after `MAX_PENDING` events with none) the
map opens at 120 bpm from the session's start. Then every `tempo_change(t_s, bpm)`; ticks follow the map, so
seconds survive the round trip whatever the tempo (shifted by the lead).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ...files import temp_beside
from ...notes import DEFAULT_TEMPO, DEFAULT_TICKS_PER_BEAT


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


MAX_PENDING = 4096  # events kept in seconds while the tempo map waits for its first tempo


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(data)) + data


@dataclass
class _Track:
    name: str
    data: bytearray = field(default_factory=bytearray)
    last_tick: int = 0
    sounding: dict[tuple[int, int], int] = field(default_factory=dict)  # (channel, pitch) -> note-ons open
    pedals: dict[tuple[int, int], int] = field(default_factory=dict)  # (channel, cc) -> value, when down
    pending: list[tuple[float, int, int, int]] = field(default_factory=list)  # before the map opens: (t_s, bytes)

    def __post_init__(self) -> None:
        self.data += b"\x00" + _meta(0x03, self.name.encode("utf-8", "replace")[:127])

    def event(self, tick: int, status: int, a: int, b: int) -> None:
        tick = max(tick, self.last_tick)  # sinks are fed from several threads: never a negative delta
        self.data += _vlq(tick - self.last_tick) + bytes((status, a & 0x7F, b & 0x7F))
        self.last_tick = tick

    def encoded(self, tick_at) -> tuple[bytes, int]:
        """The track's bytes with its pending events read by `tick_at`, and the last tick (the track unchanged)."""
        data, last = bytearray(self.data), self.last_tick
        for t_s, status, a, b in self.pending:
            tick = max(tick_at(t_s), last)
            data += _vlq(tick - last) + bytes((status, a & 0x7F, b & 0x7F))
            last = tick
        return bytes(data), last

    def closing(self, tick: int, last: int) -> bytes:
        """What ends this track at `tick` after an event at `last`: a note-off per open note, pedals up, the end."""
        tail = bytearray()
        tick = max(tick, last)
        ends = [(0x80 | c, p, 0) for (c, p), n in sorted(self.sounding.items()) for _ in range(n)]
        ends += [(0xB0 | c, cc, 0) for (c, cc) in sorted(self.pedals)]
        for status, a, b in ends:
            tail += _vlq(tick - last) + bytes((status, a, b))
            last = tick
        return bytes(tail) + _vlq(tick - last) + _meta(0x2F, b"")


class IncrementalMidi:
    """Tracks by name, fed message by message in (roughly) time order; `to_bytes()` at any time."""

    def __init__(self, track_names: tuple[str, ...], ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT) -> None:
        self.ticks_per_beat = ticks_per_beat
        self.tracks = {name: _Track(name) for name in track_names}
        self._tempo_t = [0.0]  # the tempo map: segment start times (s), their ticks and tempi (us per beat)
        self._tempo_tick = [0]
        self._tempo_us = [DEFAULT_TEMPO]
        self._conductor = bytearray(b"\x00" + _meta(0x51, DEFAULT_TEMPO.to_bytes(3, "big")))
        self._conductor_tick = 0
        self.messages = 0
        self.opened = False  # the tempo map has its first tempo (events are encoded as they come)
        self._pending = 0

    def tick_at(self, t_s: float) -> int:
        i = max(bisect.bisect_right(self._tempo_t, t_s) - 1, 0)
        dt = max(t_s - self._tempo_t[i], 0.0)
        return self._tempo_tick[i] + round(dt * 1e6 / self._tempo_us[i] * self.ticks_per_beat)

    def open_tempo(self, bpm: float, lead_s: float = 0.0) -> bool:
        """The file's first tempo: `bpm` from its start, which is `lead_s` before the session's. False when the map
        was opened already (a tempo change, or too many events waited): then the caller writes changes instead."""
        if not (bpm > 0 and bpm < 10_000) or not 0 <= lead_s < 3600:
            raise ValueError(f"tempo must be in (0, 10000) bpm and the lead in [0, 3600) s, got {bpm!r}, {lead_s!r}")
        if self.opened:
            return False
        us = max(min(round(60e6 / bpm), 0xFFFFFF), 1)
        self._tempo_t, self._tempo_us = [-lead_s], [us]
        self._conductor = bytearray(b"\x00" + _meta(0x51, us.to_bytes(3, "big")))
        self._settle()
        return True

    def _settle(self) -> None:
        """The map is open: what waited in seconds is encoded now."""
        self.opened = True
        for tr in self.tracks.values():
            for t_s, status, a, b in tr.pending:
                tr.event(self.tick_at(t_s), status, a, b)
            tr.pending.clear()
        self._pending = 0

    def _emit(self, tr: _Track, t_s: float, status: int, a: int, b: int) -> None:
        if self.opened:
            tr.event(self.tick_at(t_s), status, a, b)
            return
        tr.pending.append((t_s, status, a, b))
        self._pending += 1
        if self._pending >= MAX_PENDING:
            self._settle()

    def tempo_change(self, t_s: float, bpm: float) -> None:
        """From `t_s` on the tempo is `bpm` (a set_tempo in the conductor track)."""
        if not (bpm > 0 and bpm < 10_000):
            raise ValueError(f"tempo must be in (0, 10000) bpm, got {bpm!r}")
        if not self.opened:
            self._settle()  # at 120 bpm from the session's start
        t_s = max(t_s, self._tempo_t[-1])
        tick = max(self.tick_at(t_s), self._conductor_tick)
        us = max(min(round(60e6 / bpm), 0xFFFFFF), 1)
        self._tempo_t.append(t_s)
        self._tempo_tick.append(tick)
        self._tempo_us.append(us)
        self._conductor += _vlq(tick - self._conductor_tick) + _meta(0x51, us.to_bytes(3, "big"))
        self._conductor_tick = tick

    def note(self, track: str, t_s: float, channel: int, pitch: int, velocity: int) -> None:
        """A note-on (velocity > 0) or a note-off; a re-strike of an open pitch ends the sounding note first."""
        tr, key = self.tracks[track], (channel, pitch)
        open_n = tr.sounding.get(key, 0)
        if open_n:
            self._emit(tr, t_s, 0x80 | channel, pitch, 0)
            del tr.sounding[key]
        if velocity > 0:
            self._emit(tr, t_s, 0x90 | channel, pitch, min(velocity, 127))
            tr.sounding[key] = 1
        self.messages += 1

    def control(self, track: str, t_s: float, channel: int, control: int, value: int) -> None:
        tr = self.tracks[track]
        self._emit(tr, t_s, 0xB0 | channel, control, value)
        if value >= 64:
            tr.pedals[(channel, control)] = value
        else:
            tr.pedals.pop((channel, control), None)
        self.messages += 1

    def end_channel(self, track: str, t_s: float, channel: int) -> None:
        """All notes off on a channel: every open note of it ends at `t_s`."""
        tr = self.tracks[track]
        for key in [k for k in tr.sounding if k[0] == channel]:
            self.note(track, t_s, channel, key[1], 0)

    def to_bytes(self, end_s: float) -> bytes:
        """The whole file as of now; whatever still sounds ends at `end_s` (in this snapshot only)."""
        end_tick = self.tick_at(end_s)
        chunks = [bytes(self._conductor) + _vlq(0) + _meta(0x2F, b"")]
        for tr in self.tracks.values():
            data, last = tr.encoded(self.tick_at)
            chunks.append(data + tr.closing(end_tick, last))
        head = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), self.ticks_per_beat)
        return head + b"".join(b"MTrk" + struct.pack(">I", len(c)) + c for c in chunks)


def write_atomic(path: str | os.PathLike, data: bytes, sync: bool = True) -> None:
    """`data` to `path` through a temp file in the same folder and a rename: readers see the old file or the new."""
    path = Path(path)
    tmp = temp_beside(path)  # 0644 under the usual umask, as every other output (mkstemp made recordings 0600)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

