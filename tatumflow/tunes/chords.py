"""Chord symbols as fake books write them, parsed by pychord into pitch classes (`timing.form.Chord`).

pychord does the parsing; this module only rewrites the spellings it lacks into ones it knows (`normalise`: the
triangle and "maj" signs, ø, o, +, -, alt, 6/9, unicode accidentals) and sorts its intervals into tones and tensions:

- tones: the intervals under an octave (root, 3rd or suspension, 5th, 6th, 7th), a 13th (it is the 6th), and the
  bass of a slash chord;
- tensions: the written extensions (9ths, 11ths, 13ths, altered), less a natural 11th over a major 3rd (the avoid
  note), plus the usual tensions of the chord's kind (`USUAL`).
"""

from __future__ import annotations

import re

from pychord import Chord as PyChord
from pychord.utils import note_to_val

from ..timing.form import Chord

MAX_SYMBOL_CHARS = 24

# Spellings pychord does not know -> ones it does, applied in order to the quality (the symbol less its root and bass).
_QUALITY_REWRITES: tuple[tuple[str, str], ...] = (
    ("♭", "b"), ("♯", "#"), ("°", "o"), ("º", "o"), ("Δ", "maj"), ("△", "maj"), ("^", "maj"), ("Maj", "maj"),
    ("MA", "maj"), ("ma", "maj"),
    ("majj", "maj"), ("min", "m"), ("mi", "m"), ("(", ""), (")", ""), (",", ""),
)
_WHOLE_QUALITY: dict[str, str] = {
    "ø": "m7b5", "ø7": "m7b5", "h": "m7b5", "h7": "m7b5", "o": "dim", "o7": "dim7", "+": "aug", "+7": "7#5",
    "7+": "7#5", "-": "m", "-7": "m7", "-6": "m6", "-9": "m9", "-11": "m11", "-maj7": "mmaj7", "mmaj7": "mmaj7",
    "mM7": "mM7", "7alt": "7b9#9", "alt": "7b9#9", "6/9": "69", "maj": "", "M": "", "majmaj7": "maj7",
    "maj6": "6", "m7-5": "m7b5", "7sus": "7sus4", "9sus": "9sus4", "dim9": "dim7", "mmaj9": "mmaj7",
}
_SYMBOL = re.compile(r"^([A-G])([b#♭♯]?)(.*?)(?:/([A-G][b#♭♯]?))?$")


def normalise(symbol: str) -> str:
    """`symbol` in a spelling pychord parses (raises ValueError when it is not a chord symbol's shape)."""
    m = _SYMBOL.match(symbol.strip())
    if not m or len(symbol) > MAX_SYMBOL_CHARS:
        raise ValueError(f"unknown chord symbol {symbol!r}")
    letter, accidental, quality, bass = m.groups()
    accidental = {"♭": "b", "♯": "#"}.get(accidental, accidental)
    if quality not in _WHOLE_QUALITY:
        for old, new in _QUALITY_REWRITES:
            quality = quality.replace(old, new)
    quality = _WHOLE_QUALITY.get(quality, quality)
    if quality.startswith("-") and not quality.startswith("-5"):
        quality = "m" + quality[1:]
    bass_part = "/" + bass.replace("♭", "b").replace("♯", "#") if bass else ""
    return f"{letter}{accidental}{quality}{bass_part}"


# The usual tensions of a chord's kind, as intervals over its root, by (3rd, 7th) of its tones.
USUAL: dict[tuple[int | None, int | None], tuple[int, ...]] = {
    (4, 10): (2, 9),  # dominant: 9, 13
    (4, 11): (2, 9),  # major 7: 9, 13 (6)
    (4, None): (2, 11),  # major triad / 6: 9, maj7
    (3, 10): (2, 5),  # minor 7: 9, 11
    (3, 11): (2, 5),
    (3, None): (2, 5),  # minor triad / m6
    (5, 10): (2, 9),  # 7sus4: 9, 13
    (5, None): (2,),
    (2, None): (9,),
}


def chord_from_symbol(symbol: str) -> Chord:
    """The chord of a fake-book symbol (C, Cm7, CΔ7, Cø, C+, C7#9, C/E ...). Raises ValueError naming it."""
    try:
        parsed = PyChord(normalise(symbol))
    except ValueError as err:
        raise ValueError(f"unknown chord symbol {symbol!r}") from err
    root = note_to_val(parsed.root) % 12
    intervals = [int(i) for i in parsed.quality.components]
    tone_iv = {i % 12 for i in intervals if i < 12} | ({9} if 21 in intervals else set())
    third = next((i for i in (4, 3, 5, 2) if i in tone_iv), None)
    seventh = next((i for i in (10, 11) if i in tone_iv), None)
    if (3 in tone_iv and 6 in tone_iv and 9 in tone_iv) and seventh is None:  # dim7: a step above each tone
        usual: tuple[int, ...] = (2, 5, 8, 11)
    elif 3 in tone_iv and 6 in tone_iv:  # half-diminished: 11, b13
        usual = (5, 8)
    else:
        usual = USUAL.get((third, seventh), (2,))
    written = {i % 12 for i in intervals if i >= 12} - ({5} if third == 4 else set())
    tones = frozenset((root + i) % 12 for i in tone_iv)
    bass = note_to_val(parsed.on) % 12 if parsed.on else root
    tones = tones | {bass}
    tensions = frozenset((root + i) % 12 for i in written | set(usual)) - tones
    return Chord(symbol, root, bass, tones, tensions)
