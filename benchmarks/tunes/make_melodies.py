"""The melodies the restyle benchmark and samples use, written here from the public-domain tunes (by ear, not
copied from an edition): a MusicXML lead sheet (melody + chord symbols) and a MIDI melody.

    python benchmarks/tunes/make_melodies.py   # writes benchmarks/tunes/melodies/*
"""

from __future__ import annotations

from pathlib import Path

import mido
from music21 import converter, harmony, metadata, stream, tempo

from tatumflow.notes import Note, midi_file_from_tracks

OUT = Path(__file__).resolve().parent / "melodies"

# Old Folks at Home (Stephen Foster, 1851) in C, A A B A; bars of (tinyNotation, chord symbols at beats).
FOLKS_A1 = [("e4. d8 c8 e8 d8 c8", [(0, "C")]), ("c'4 a4 c'2", [(0, "F"), (2, "C")]), ("g2 e4 c4", [(0, "C")]),
            ("d2. r4", [(0, "G7")])]
FOLKS_A2 = [("e4. d8 c8 e8 d8 c8", [(0, "C")]), ("c'4 a4 c'2", [(0, "F"), (2, "C")]),
            ("g4 e8 c8 d4 d4", [(0, "C"), (2, "G7")]), ("c2. r4", [(0, "C")])]
FOLKS_B = [("b4. c'8 d'4 b4", [(0, "G7")]), ("c'2. r4", [(0, "C")]), ("a4 c'4 c'4 a4", [(0, "F")]),
           ("g2. r4", [(0, "C")]), ("b4. c'8 d'4 b4", [(0, "G7")]), ("c'2 e'2", [(0, "C")]),
           ("d'4 c'4 a4 c'4", [(0, "F"), (2, "C/G")]), ("g2. r4", [(0, "G7")])]


def lead_sheet(bars: list[tuple[str, list[tuple[float, str]]]], bpm: float, title: str) -> stream.Score:
    part = converter.parse("tinyNotation: 4/4 " + " ".join(b for b, _ in bars)).makeMeasures()
    measures = list(part.getElementsByClass(stream.Measure))
    for m, (_, chords) in zip(measures, bars, strict=True):
        for beat, symbol in chords:
            m.insert(beat, harmony.ChordSymbol(symbol))
    measures[0].insert(0, tempo.MetronomeMark(number=bpm))
    score = stream.Score([part])
    score.insert(0, metadata.Metadata(title=title))
    return score


def humoresque_midi(path: Path) -> None:
    """After Dvorak's Humoresque (1894): its dotted opening figure, in G at 88 bpm, 4 bars twice, one melody track."""
    beat = 60.0 / 88
    figure = [(67, 0.75), (69, 0.25), (67, 0.75), (69, 0.25), (71, 0.75), (74, 0.25), (76, 0.75), (74, 0.25),
              (79, 0.75), (76, 0.25), (74, 0.75), (76, 0.25), (74, 0.75), (71, 0.25), (69, 1.0),
              (67, 0.75), (69, 0.25), (67, 0.75), (69, 0.25), (71, 0.75), (74, 0.25), (76, 0.75), (74, 0.25),
              (79, 0.75), (78, 0.25), (81, 0.75), (79, 0.25), (78, 0.75), (76, 0.25), (79, 1.0)]
    notes, t = [], 0.0
    for _ in range(2):
        for pitch, beats in figure:
            notes.append(Note(t * beat, beats * beat * 0.9, pitch, 84))
            t += beats
    midi = midi_file_from_tracks({"melody": notes}, tempo_bpm=88)
    midi.tracks[0].insert(0, mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    midi.save(str(path))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    folks = FOLKS_A1 + FOLKS_A2 + FOLKS_B + FOLKS_A2
    lead_sheet(folks, 80, "Old Folks at Home").write("musicxml", fp=str(OUT / "old-folks-at-home.musicxml"))
    humoresque_midi(OUT / "humoresque.mid")
    for p in sorted(OUT.iterdir()):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
