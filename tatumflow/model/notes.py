"""Notes and MIDI files.

A `Note` is `(onset_s, duration_s, pitch, velocity)`. Reading a MIDI file folds the sustain pedal into durations
(a note sounds until key up or pedal up, whichever is later), ignores the drum channel, and handles type 0/1 files,
several tracks, tempo changes, note-on with velocity 0 and re-struck notes of a sounding pitch. Writing a list of
notes always gives valid MIDI: every note-on has its note-off, and a re-struck pitch ends the note before it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mido

DRUM_CHANNEL = 9
SUSTAIN_CC = 64
PIANO_LOW = 21
PIANO_HIGH = 108
MIN_DURATION_S = 0.005


@dataclass(frozen=True, order=True)
class Note:
    """One sounding note. Sorting is by onset, then pitch."""

    onset_s: float
    duration_s: float
    pitch: int
    velocity: int

    @property
    def end_s(self) -> float:
        return self.onset_s + self.duration_s

    def shifted(self, offset_s: float) -> Note:
        return Note(self.onset_s + offset_s, self.duration_s, self.pitch, self.velocity)


def sort_notes(notes: Iterable[Note]) -> list[Note]:
    return sorted(notes, key=lambda n: (n.onset_s, n.pitch))


class _PedalFolder:
    """Turns timed note-on/off and sustain messages of one channel into notes."""

    def __init__(self) -> None:
        self.pedal_down = False
        self.held: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity), key still down
        self.sustained: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity), key up, pedal down
        self.notes: list[Note] = []

    def _end(self, pitch: int, onset_s: float, velocity: int, end_s: float) -> None:
        self.notes.append(Note(onset_s, max(end_s - onset_s, MIN_DURATION_S), pitch, velocity))

    def note_on(self, t: float, pitch: int, velocity: int) -> None:
        # A re-struck pitch ends whatever of it still sounds.
        for pool in (self.held, self.sustained):
            if pitch in pool:
                onset, vel = pool.pop(pitch)
                self._end(pitch, onset, vel, t)
        self.held[pitch] = (t, velocity)

    def note_off(self, t: float, pitch: int) -> None:
        if pitch not in self.held:
            return
        onset, vel = self.held.pop(pitch)
        if self.pedal_down:
            self.sustained[pitch] = (onset, vel)
        else:
            self._end(pitch, onset, vel, t)

    def pedal(self, t: float, down: bool) -> None:
        if self.pedal_down and not down:
            for pitch, (onset, vel) in self.sustained.items():
                self._end(pitch, onset, vel, t)
            self.sustained.clear()
        self.pedal_down = down

    def finish(self, t: float) -> list[Note]:
        for pool in (self.held, self.sustained):
            for pitch, (onset, vel) in pool.items():
                self._end(pitch, onset, vel, max(t, onset))
            pool.clear()
        return self.notes


def notes_from_messages(timed_messages: Iterable[tuple[float, mido.Message]]) -> list[Note]:
    """Notes from `(time_s, message)` pairs in time order (absolute seconds)."""
    folders: dict[int, _PedalFolder] = {}
    last_t = 0.0
    for t, msg in timed_messages:
        last_t = t
        channel = getattr(msg, "channel", None)
        if channel is None or channel == DRUM_CHANNEL:
            continue
        folder = folders.setdefault(channel, _PedalFolder())
        if msg.type == "note_on" and msg.velocity > 0:
            folder.note_on(t, msg.note, msg.velocity)
        elif msg.type == "note_off" or msg.type == "note_on":
            folder.note_off(t, msg.note)
        elif msg.type == "control_change" and msg.control == SUSTAIN_CC:
            folder.pedal(t, msg.value >= 64)
    notes = [n for f in folders.values() for n in f.finish(last_t)]
    return sort_notes(notes)


def _load_midi(data: bytes, name: str) -> mido.MidiFile:
    try:
        return mido.MidiFile(file=io.BytesIO(data), clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{name}: not a readable MIDI file ({err})") from err


def read_midi(path: str | os.PathLike) -> list[Note]:
    """Read a MIDI file into notes. Raises FileNotFoundError or ValueError (naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MIDI file not found: {path}")
    return read_midi_bytes(path.read_bytes(), str(path))


def read_midi_bytes(data: bytes, name: str = "<bytes>") -> list[Note]:
    midi = _load_midi(data, name)
    if midi.type == 2:
        raise ValueError(f"{name}: MIDI type 2 (independent sequences) is not supported")
    try:
        timed = []
        t = 0.0
        for msg in midi:  # merged tracks, delta times in seconds (tempo map applied)
            t += msg.time
            if not msg.is_meta:
                timed.append((t, msg))
    except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as err:
        raise ValueError(f"{name}: corrupt MIDI data ({err})") from err
    return notes_from_messages(timed)


def _track_messages(notes: Sequence[Note], ticks_per_s: float, channel: int) -> list[tuple[int, int, mido.Message]]:
    """(tick, order, message) for each note, with re-struck pitches cut so that every on has its off."""
    events = []
    by_pitch: dict[int, list[Note]] = {}
    for n in sort_notes(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    for pitch, seq in by_pitch.items():
        for i, n in enumerate(seq):
            on = round(n.onset_s * ticks_per_s)
            off = round(n.end_s * ticks_per_s)
            if i + 1 < len(seq):
                off = min(off, round(seq[i + 1].onset_s * ticks_per_s))
            if off <= on:
                if i + 1 < len(seq) and round(seq[i + 1].onset_s * ticks_per_s) <= on:
                    continue  # same pitch struck twice at one tick: keep one
                off = on + 1
            vel = min(max(int(n.velocity), 1), 127)
            events.append((on, 1, mido.Message("note_on", note=pitch, velocity=vel, channel=channel)))
            events.append((off, 0, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    events.sort(key=lambda e: (e[0], e[1]))  # offs before ons at the same tick
    return events


def write_midi(
    path: str | os.PathLike,
    tracks: dict[str, Sequence[Note]] | Sequence[Note],
    ticks_per_beat: int = 480,
    tempo_bpm: float = 120.0,
) -> None:
    """Write notes to a type-1 MIDI file, one named track per entry (a plain list gives one track)."""
    if not isinstance(tracks, dict):
        tracks = {"notes": tracks}
    midi = midi_file_from_tracks(tracks, ticks_per_beat, tempo_bpm)
    midi.save(str(path))


def midi_file_from_tracks(
    tracks: dict[str, Sequence[Note]], ticks_per_beat: int = 480, tempo_bpm: float = 120.0
) -> mido.MidiFile:
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    tempo = mido.bpm2tempo(tempo_bpm)
    ticks_per_s = ticks_per_beat * 1e6 / tempo
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    midi.tracks.append(conductor)
    for i, (name, notes) in enumerate(tracks.items()):
        channel = i % 16 if i % 16 != DRUM_CHANNEL else 10
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        track.append(mido.Message("program_change", program=0, channel=channel, time=0))
        prev = 0
        for tick, _, msg in _track_messages(notes, ticks_per_s, channel):
            track.append(msg.copy(time=tick - prev))
            prev = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    return midi


def read_midi_tracks(path: str | os.PathLike) -> dict[str, list[Note]]:
    """Notes per named track (for files this package wrote: `prompt`, `tatumflow`, `human`, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MIDI file not found: {path}")
    midi = _load_midi(path.read_bytes(), str(path))
    tempo_map = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
    out: dict[str, list[Note]] = {}
    for i, track in enumerate(midi.tracks):
        name = track.name or f"track{i}"
        merged = mido.MidiTrack(mido.merge_tracks([midi.tracks[0], track]) if i else track)
        tempo_map.tracks = [merged]
        timed, t = [], 0.0
        for msg in tempo_map:
            t += msg.time
            if not msg.is_meta:
                timed.append((t, msg))
        notes = notes_from_messages(timed)
        if notes or i:
            out[name] = notes
    return out
