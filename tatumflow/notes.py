"""Notes and MIDI files.

A `Note` is `(onset_s, duration_s, pitch, velocity)`. Reading a MIDI file folds the sustain pedal into durations
(a note sounds until key up or pedal up, whichever is later), ignores the drum channel, and handles type 0/1 files,
several tracks, tempo changes, note-on with velocity 0 and re-struck notes of a sounding pitch. Writing a list of
notes always gives valid MIDI: every note-on has its note-off, and a re-struck pitch ends the note before it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mido

from .files import atomic_path
from .midistream import (
    CONTROL,
    DEFAULT_TEMPO,
    DRUM_CHANNEL,
    MAX_MIDI_BYTES,
    NOTE_OFF,
    NOTE_ON,
    MappedMidi,
    check_midi_path,
    layout,
    midi_structure_problem,
    named_errors,
    songs,
    track_name,
)

__all__ = ["DEFAULT_TEMPO", "DRUM_CHANNEL", "MAX_MIDI_BYTES", "check_midi_path", "midi_structure_problem"]
SUSTAIN_CC = 64
PEDAL_CCS = (SUSTAIN_CC, 66, 67)  # sustain, sostenuto, soft
MIDI_SUFFIXES = (".mid", ".midi")  # matched case-insensitively
TRANSCRIPTIONS = ("kong", "hawthorne")  # PiJAMA's two transcription folders (see train/data.py)
PIANO_LOW = 21
PIANO_HIGH = 108
MIN_DURATION_S = 0.005
ONSET_S = 0.035  # notes within this of an onset's first note are heard as one onset (a rolled chord)
# 1000 ticks per beat at 120 bpm = 2000 ticks per second: the tokenizer's 10 ms grid is a whole number of ticks, so
# written onsets are exact and the round trip adds no error beyond quantisation to the grid.
DEFAULT_TICKS_PER_BEAT = 1000
DEFAULT_TEMPO_BPM = 120.0
# A solo performance is thousands of notes (PiJAMA's largest file, a 1976 Jarrett concert, holds 22,334); a file of
# more is refused: reading holds ~200 bytes a note (~40 MB), `inspect`'s round trip of 200,000 notes ~300 MB.
MAX_NOTES = 200_000
MAX_EVENTS = 2_000_000  # notes, pedals and other controls together: a file of controls alone is read in ~10 s at most


@dataclass(frozen=True, order=True, slots=True)
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


class PedalFolder:
    """Key and sustain-pedal state of one keyboard (or one channel of a file), turned into notes as they end.

    A note sounds until key up or pedal up, whichever is later; a re-struck pitch ends what of it still sounds.
    `handle(t, msg)` folds one message in and says what changed; finished notes collect in `finished` until `take()`.
    The file reader and the live input (realtime/engine/livein.py) both fold through this class.
    """

    def __init__(self) -> None:
        self.pedal_down = False
        self.held: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity), key still down
        self.sustained: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity), key up, pedal down
        self.finished: list[Note] = []

    def handle(self, t: float, msg: mido.Message) -> str | None:
        """"on" for a key press, "off" for a release or pedal-up after which nothing sounds, else None."""
        if msg.type == "note_on" and msg.velocity > 0:
            self.note_on(t, msg.note, msg.velocity)
            return "on"
        if msg.type in ("note_off", "note_on"):
            return "off" if self.note_off(t, msg.note) and self.silent else None
        if msg.type == "control_change" and msg.control == SUSTAIN_CC:
            return "off" if self.pedal(t, msg.value >= 64) and self.silent else None
        return None

    @property
    def silent(self) -> bool:
        return not self.held and not self.sustained

    def _end(self, pitch: int, onset_s: float, velocity: int, end_s: float) -> None:
        self.finished.append(Note(onset_s, max(end_s - onset_s, MIN_DURATION_S), pitch, velocity))

    def note_on(self, t: float, pitch: int, velocity: int) -> None:
        for pool in (self.held, self.sustained):
            if pitch in pool:
                onset, vel = pool.pop(pitch)
                self._end(pitch, onset, vel, t)
        self.held[pitch] = (t, velocity)

    def note_off(self, t: float, pitch: int) -> bool:
        """Key up; True when it ended a note (False: not held, or the pedal sustains it)."""
        if pitch not in self.held:
            return False
        onset, vel = self.held.pop(pitch)
        if self.pedal_down:
            self.sustained[pitch] = (onset, vel)
            return False
        self._end(pitch, onset, vel, t)
        return True

    def pedal(self, t: float, down: bool) -> bool:
        """Pedal change; True when a pedal-up ended sustained notes."""
        ended = self.pedal_down and not down and bool(self.sustained)
        if ended:
            for pitch, (onset, vel) in self.sustained.items():
                self._end(pitch, onset, vel, t)
            self.sustained.clear()
        self.pedal_down = down
        return ended

    def end_all(self, t: float) -> None:
        """End everything that sounds at `t` (end of file, or the keyboard went away); the pedal is up after."""
        for pool in (self.held, self.sustained):
            for pitch, (onset, vel) in pool.items():
                self._end(pitch, onset, vel, max(t, onset))
            pool.clear()
        self.pedal_down = False

    def sounding(self, now_s: float) -> list[Note]:
        """Notes still sounding, with the duration they have had so far."""
        pools = list(self.held.items()) + list(self.sustained.items())
        return [Note(on, max(now_s - on, MIN_DURATION_S), p, v) for p, (on, v) in pools]

    def take(self) -> list[Note]:
        """The notes finished since the last call."""
        taken, self.finished = self.finished, []
        return taken


def notes_from_messages(
    timed_messages: Iterable[tuple[float, mido.Message]], end_s: float | None = None
) -> list[Note]:
    """Notes from `(time_s, message)` pairs in time order (absolute seconds).

    Notes still sounding at the end are ended at `end_s` (default: the time of the last message).
    """
    folders: dict[int, PedalFolder] = {}
    last_t = 0.0
    for t, msg in timed_messages:
        last_t = t
        channel = getattr(msg, "channel", None)
        if channel is None or channel == DRUM_CHANNEL:
            continue
        folders.setdefault(channel, PedalFolder()).handle(t, msg)
    end_s = last_t if end_s is None else max(end_s, last_t)
    for folder in folders.values():
        folder.end_all(end_s)
    return sort_notes(n for f in folders.values() for n in f.take())


def _fold(events: Iterable[tuple[float, int, int, int, int, int]], by_track: bool, name: str,
          counted: list[int]) -> tuple[dict[tuple[int, int], PedalFolder], float]:
    """Streamed events folded into one `PedalFolder` per channel (per track and channel with `by_track`); the
    time of the last event. Refuses a file of more than `MAX_NOTES` notes or `MAX_EVENTS` events as soon as it gets
    there; `counted` is [notes, events] so far."""
    folders: dict[tuple[int, int], PedalFolder] = {}
    last_t = 0.0
    for t, kind, track, channel, a, b in events:
        last_t = t
        counted[1] += 1
        if counted[1] > MAX_EVENTS:
            raise ValueError(f"{name}: more than {MAX_EVENTS:,} MIDI events (a performance holds tens of thousands): "
                             "refused")
        key = (track if by_track else 0, channel)
        folder = folders.get(key) or folders.setdefault(key, PedalFolder())
        if kind == NOTE_ON:
            counted[0] += 1
            if counted[0] > MAX_NOTES:
                raise ValueError(f"{name}: more than {MAX_NOTES:,} notes (a performance holds thousands): refused")
            folder.note_on(t, a, b)
        elif kind == NOTE_OFF:
            folder.note_off(t, a)
        elif kind == CONTROL and a == SUSTAIN_CC:
            folder.pedal(t, b >= 64)
    return folders, last_t


def _read(data, name: str, by_track: bool) -> dict[int, list[Note]]:
    """Notes per track (`by_track`) or all under key 0, from a whole MIDI file's bytes (or mmap)."""
    try:
        midi = layout(data)
    except ValueError as err:
        raise ValueError(f"{name}: not a readable MIDI file ({err})") from None
    out: dict[int, list[Note]] = {}
    counted = [0, 0]
    for events, ends in songs(data, midi):
        folders, last_t = _fold(named_errors(events, name), by_track, name, counted)
        end_s = max([last_t, *ends])
        for (track, _), folder in folders.items():
            folder.end_all(end_s)
            out.setdefault(track, []).extend(folder.take())
    return {track: sort_notes(notes) for track, notes in out.items()}


def read_midi(path: str | os.PathLike) -> list[Note]:
    """Read a MIDI file into notes (streamed: at most `MAX_NOTES`). Raises FileNotFoundError or ValueError
    (naming the file)."""
    with MappedMidi(path) as midi:
        return _read(midi.data, str(path), by_track=False).get(0, [])


def read_midi_bytes(data: bytes, name: str = "<bytes>") -> list[Note]:
    """Notes from the bytes of a MIDI file. Raises ValueError naming `name` for anything that is not readable MIDI.
    Type 2 (independent sequences): the sequences one after another."""
    return _read(data, name, by_track=False).get(0, [])


def _note_events(notes: Sequence[Note], ticks_per_s: float) -> list[tuple[int, int, int, int]]:
    """(tick, velocity, pitch, order) per note-on (order 1) and note-off (order 0, velocity 0), in time order.

    Re-struck pitches are cut so that every on has its off; a pitch struck twice at one tick keeps one note; onsets
    before zero are moved to zero.
    """
    events = []
    by_pitch: dict[int, list[Note]] = {}
    for n in sort_notes(notes):
        by_pitch.setdefault(n.pitch, []).append(n)
    for pitch, seq in by_pitch.items():
        ons = [max(round(n.onset_s * ticks_per_s), 0) for n in seq]
        for i, n in enumerate(seq):
            on, off = ons[i], round(n.end_s * ticks_per_s)
            if i + 1 < len(seq):
                if ons[i + 1] <= on:
                    continue  # same pitch struck twice at one tick: keep one
                off = min(off, ons[i + 1])
            events.append((on, min(max(int(n.velocity), 1), 127), pitch, 1))
            events.append((max(off, on + 1), 0, pitch, 0))
    events.sort(key=lambda e: (e[0], e[3]))  # offs before ons at the same tick
    return events


def _track_messages(notes: Sequence[Note], ticks_per_s: float, channel: int) -> list[mido.Message]:
    """Note-on/off messages with delta times in ticks."""
    messages, prev = [], 0
    for tick, velocity, pitch, is_on in _note_events(notes, ticks_per_s):
        kind = "note_on" if is_on else "note_off"
        messages.append(mido.Message(kind, note=pitch, velocity=velocity, channel=channel, time=tick - prev))
        prev = tick
    return messages


def write_midi(
    path: str | os.PathLike,
    tracks: dict[str, Sequence[Note]] | Sequence[Note],
    ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT,
    tempo_bpm: float = DEFAULT_TEMPO_BPM,
) -> None:
    """Write notes to a type-1 MIDI file, one named track per entry (a plain list gives one track)."""
    if not isinstance(tracks, dict):
        tracks = {"notes": tracks}
    midi = midi_file_from_tracks(tracks, ticks_per_beat, tempo_bpm)
    with atomic_path(path) as tmp:  # whole or not at all (a full disk leaves nothing behind)
        midi.save(str(tmp))


def midi_file_from_tracks(
    tracks: dict[str, Sequence[Note]],
    ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT,
    tempo_bpm: float = DEFAULT_TEMPO_BPM,
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
        track.extend(_track_messages(notes, ticks_per_s, channel))
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    return midi


def read_midi_tracks(path: str | os.PathLike) -> dict[str, list[Note]]:
    """Notes per named track (for files this package wrote: `prompt`, `tatumflow`, `human`, ...); type 1: each
    track with the conductor's tempo map. A track without notes is kept, but for the first (the conductor)."""
    with MappedMidi(path) as midi:
        per_track = _read(midi.data, str(path), by_track=True)
        out: dict[str, list[Note]] = {}
        for i, span in enumerate(midi.layout.tracks):
            name = track_name(midi.data, span) or f"track{i}"
            notes = per_track.get(i, [])
            if notes or i:
                out[name] = notes
    return out


def cut_overlaps(notes: Iterable[Note]) -> list[Note]:
    """Notes in time order where a re-struck pitch ends the note before it (no pitch overlaps itself)."""
    out = sort_notes(notes)
    last_of_pitch: dict[int, int] = {}
    for i, n in enumerate(out):
        j = last_of_pitch.get(n.pitch)
        if j is not None and out[j].end_s > n.onset_s:
            prev = out[j]
            out[j] = Note(prev.onset_s, max(n.onset_s - prev.onset_s, MIN_DURATION_S), prev.pitch, prev.velocity)
        last_of_pitch[n.pitch] = i
    return out


def note_messages(notes: Iterable[Note], channel: int = 0) -> list[tuple[float, mido.Message]]:
    """`(time_s, message)` note-on/off pairs in time order, note-offs first at equal times (a player's view).
    Velocities are clamped to 1..127 (a note-on of velocity 0 would be a note-off)."""
    events = []
    for n in notes:
        velocity = min(max(int(n.velocity), 1), 127)
        events.append((n.onset_s, 1, mido.Message("note_on", channel=channel, note=n.pitch, velocity=velocity)))
        events.append((n.end_s, 0, mido.Message("note_off", channel=channel, note=n.pitch)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [(t, msg) for t, _, msg in events]


def find_midi_files(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """Every MIDI file (`MIDI_SUFFIXES`, any case) below the folders, recursively, sorted, each once.

    Raises FileNotFoundError naming a folder that is missing (or is not a folder).
    """
    found: set[Path] = set()
    for folder in map(Path, folders):
        if not folder.is_dir():
            reason = "is a file, not a folder" if folder.exists() else "not found"
            raise FileNotFoundError(f"MIDI folder {reason}: {folder}")
        found.update(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    return sorted(found)
