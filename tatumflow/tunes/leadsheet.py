"""A melody to restyle: a MusicXML lead sheet (melody and chord symbols, read by music21) or a MIDI file with a
melody track.

- MusicXML (.musicxml, .xml, .mxl): the first part with notes is the melody (its top note where it has chords),
  ties joined; the tempo is the first metronome mark (else 120, or `--bpm`); its chord symbols, measure by
  measure, make the form (a measure without one keeps the chord before), a pickup measure is played before bar 1.
- MIDI: the melody is the track named melody, lead, vocal, voice or tune, else the track with the highest mean
  pitch; its top line (the highest note of every onset). Bar 1 is the file's 0 s, at its first tempo and meter. A
  MIDI file carries no chords: give `--changes` for them.

Times are seconds at the tune's tempo; `bpm` rescales them (`Melody.at_tempo`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..notes import MAX_MIDI_BYTES, Note, read_midi_tracks, sort_notes
from ..timing.form import METERS, Bar, Chord, Form
from .chords import chord_from_symbol

MAX_XML_BYTES = 4 * 2**20
MAX_MELODY_NOTES = 20_000
XML_SUFFIXES = (".musicxml", ".xml", ".mxl")
MELODY_NAMES = ("melody", "lead", "vocal", "voice", "tune")
MELODY_VELOCITY = 88
ONSET_CLUSTER_S = 0.03


@dataclass(frozen=True)
class Melody:
    notes: list[Note]
    bpm: float  # beats (of the meter's unit) per minute
    beats_per_bar: int = 4
    beat_unit: int = 4
    form: Form | None = None  # the lead sheet's chords, when it has them
    start_s: float = 0.0  # the time of bar 1 (after a pickup)

    def at_tempo(self, bpm: float) -> Melody:
        k = self.bpm / bpm
        return replace(self, notes=[Note(n.onset_s * k, n.duration_s * k, n.pitch, n.velocity) for n in self.notes],
                       bpm=bpm, start_s=self.start_s * k)


def top_line(notes: list[Note]) -> list[Note]:
    """The highest note of every onset (onsets within ONSET_CLUSTER_S are one)."""
    out: list[Note] = []
    for n in sort_notes(notes):
        if out and n.onset_s - out[-1].onset_s < ONSET_CLUSTER_S:
            if n.pitch > out[-1].pitch:
                out[-1] = n
            continue
        out.append(n)
    return out


def _meter(beats: int, unit: int, name: str) -> tuple[int, int]:
    if (beats, unit) not in METERS:
        raise ValueError(f"{name}: meter {beats}/{unit} is not one of " + ", ".join(f"{a}/{b}" for a, b in METERS))
    return beats, unit


def read_midi_melody(path: Path) -> Melody:
    import mido

    tracks = read_midi_tracks(path)
    named = [name for name in tracks if name.lower().strip() in MELODY_NAMES and tracks[name]]
    candidates = [name for name in tracks if tracks[name]]
    if not candidates:
        raise ValueError(f"{path.name}: no notes")
    chosen = named[0] if named else max(candidates, key=lambda k: sum(n.pitch for n in tracks[k]) / len(tracks[k]))
    notes = top_line(tracks[chosen])
    conductor = mido.MidiFile(str(path)).tracks[0]  # read_midi_tracks checked the file
    tempo = next((m.tempo for m in conductor if m.type == "set_tempo"), 500_000)
    sig = next((m for m in conductor if m.type == "time_signature"), None)
    meter = _meter(sig.numerator, sig.denominator, path.name) if sig is not None else (4, 4)
    bpm = mido.tempo2bpm(tempo) * meter[1] / 4
    return Melody(notes[:MAX_MELODY_NOTES], bpm, meter[0], meter[1])


def _m21_chord(cs: Any) -> Chord:
    """A music21 chord symbol as a Chord: its figure through `chord_from_symbol` (music21 writes flats '-'), else
    its pitches."""
    root = cs.root().name
    figure = str(cs.figure)
    symbol = root.replace("-", "b") + figure[len(root):] if figure.startswith(root) else figure
    if "/" in symbol:
        head, bass = symbol.split("/", 1)
        symbol = head + "/" + bass.replace("-", "b")
    try:
        return chord_from_symbol(symbol)
    except ValueError:
        pcs = frozenset(p.pitchClass for p in cs.pitches)
        r = cs.root().pitchClass
        return Chord(symbol, r, cs.bass().pitchClass, pcs | {r})


def read_musicxml(path: Path) -> Melody:
    from music21 import converter, harmony, meter, stream, tempo

    if path.stat().st_size > MAX_XML_BYTES:
        raise ValueError(f"{path.name}: larger than {MAX_XML_BYTES // 2**20} MiB; a lead sheet is kilobytes")
    try:
        score = converter.parse(str(path), format="musicxml")
    except Exception as err:  # music21 raises many kinds for a broken file
        raise ValueError(f"{path.name}: not a readable MusicXML file ({type(err).__name__})") from None
    if not isinstance(score, stream.Score):
        raise ValueError(f"{path.name}: not a MusicXML score")
    parts = [p for p in score.parts if p.flatten().notes]
    if not parts:
        raise ValueError(f"{path.name}: no notes")
    part = parts[0].stripTies()
    flat = part.flatten()
    marks = list(flat.getElementsByClass(tempo.MetronomeMark))
    quarter_bpm = float(marks[0].getQuarterBPM() or 120.0) if marks and marks[0].number else 120.0
    sigs = list(flat.getElementsByClass(meter.TimeSignature))
    beats, unit = _meter(sigs[0].numerator, sigs[0].denominator, path.name) if sigs else (4, 4)
    spq = 60.0 / quarter_bpm
    notes = []
    for n in flat.notes:
        if isinstance(n, harmony.ChordSymbol):
            continue
        pitch = max(p.midi for p in n.pitches)
        notes.append(Note(float(n.offset) * spq, max(float(n.quarterLength), 0.05) * spq, pitch, MELODY_VELOCITY))
        if len(notes) > MAX_MELODY_NOTES:
            raise ValueError(f"{path.name}: more than {MAX_MELODY_NOTES} melody notes")
    measures = list(part.getElementsByClass(stream.Measure))
    bar_ql = beats * 4 / unit
    pickup = bool(measures) and float(measures[0].duration.quarterLength) < bar_ql - 1e-6
    start_ql = float(measures[1].offset) if pickup and len(measures) > 1 else 0.0
    symbols: list[tuple[float, Any]] = [(float(cs.offset), cs) for cs in flat.getElementsByClass(harmony.ChordSymbol)]
    form = _form(symbols, start_ql, bar_ql, float(flat.highestTime), beats, unit, path.name) if symbols else None
    bpm = quarter_bpm * unit / 4
    return Melody(top_line(notes), bpm, beats, unit, form, start_ql * spq)


def _form(symbols: list[tuple[float, Any]], start_ql: float, bar_ql: float, end_ql: float, beats: int,
          unit: int, name: str) -> Form:
    """One bar per measure from `start_ql` to the end; each bar's chords at their beats (a bar with none keeps the
    chord before; before the first symbol, the first symbol)."""
    chords = [(ql, _m21_chord(cs)) for ql, cs in sorted(symbols, key=lambda s: s[0])]
    n_bars = max(1, round((end_ql - start_ql) / bar_ql + 0.49))
    bars = []
    current = chords[0][1]
    for k in range(n_bars):
        b0 = start_ql + k * bar_ql
        inside = [(round((ql - b0) * unit / 4, 6), c) for ql, c in chords if b0 - 1e-6 <= ql < b0 + bar_ql - 1e-6]
        inside = [(max(o, 0.0), c) for o, c in inside]
        if not inside or inside[0][0] > 0:
            inside.insert(0, (0.0, current))
        dedup: dict[float, Chord] = {}
        for o, c in inside:
            dedup[o] = c
        bars.append(Bar("", tuple(sorted(dedup.items(), key=lambda oc: oc[0]))))
        current = bars[-1].chords[-1][1]
    return Form(tuple(bars), beats, unit, name)


def read_melody(path: str | Path) -> Melody:
    """A melody from a MusicXML lead sheet or a MIDI file (by suffix). Raises ValueError or FileNotFoundError."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"melody file not found: {p}")
    if not p.is_file():
        raise ValueError(f"melody {p} is not a regular file")
    suffix = p.suffix.lower()
    if suffix in XML_SUFFIXES:
        return read_musicxml(p)
    if suffix in (".mid", ".midi"):
        if p.stat().st_size > MAX_MIDI_BYTES:
            raise ValueError(f"{p.name}: too large for a melody")
        return read_midi_melody(p)
    raise ValueError(f"melody {p.name}: give a MusicXML lead sheet (.musicxml, .xml, .mxl) or a MIDI file (.mid)")
