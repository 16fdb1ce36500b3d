"""Chord symbols (pychord behind a normaliser) and the text chart: the format, its errors and its bounds."""

import pytest

from tatumflow.tunes import chart as chart_mod
from tatumflow.tunes.chart import parse_chart, read_chart
from tatumflow.tunes.chords import chord_from_symbol

C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B = range(12)

FAKE_BOOK = {  # symbol: (tones, some tensions)
    "C": ({C, E, G}, {D}), "Cm": ({C, Eb, G}, {D, F}), "C7": ({C, E, G, Bb}, {D, A}),
    "Cmaj7": ({C, E, G, B}, {D}), "CΔ7": ({C, E, G, B}, {D}), "C6": ({C, E, G, A}, {D}),
    "Cm6": ({C, Eb, G, A}, {D}), "Cm7b5": ({C, Eb, Gb, Bb}, {F}), "Cø": ({C, Eb, Gb, Bb}, {F}),
    "Cdim7": ({C, Eb, Gb, A}, {D}), "C+": ({C, E, Ab}, set()), "C7b9": ({C, E, G, Bb}, {Db}),
    "C7#9": ({C, E, G, Bb}, {Eb}), "C7#11": ({C, E, G, Bb}, {Gb}), "C9": ({C, E, G, Bb}, {D}),
    "C13": ({C, E, G, Bb, A}, {D}), "Csus4": ({C, F, G}, set()), "C/E": ({C, E, G}, set()),
    "Bbm7": ({Bb, Db, F, Ab}, {C}), "F#m7": ({Gb, A, Db, E}, set()), "Ebmaj7": ({Eb, G, Bb, D}, set()),
    "Co7": ({C, Eb, Gb, A}, set()), "C-7": ({C, Eb, G, Bb}, set()), "C7alt": ({C, E, G, Bb}, {Db, Eb}),
    "C6/9": ({C, E, G, A}, {D}), "Gm7/F": ({G, Bb, D, F}, set()), "C/Bb": ({C, E, G, Bb}, set()),
}


@pytest.mark.parametrize("symbol", FAKE_BOOK)
def test_fake_book_symbols_parse_to_their_tones(symbol):
    tones, tensions = FAKE_BOOK[symbol]
    chord = chord_from_symbol(symbol)
    assert chord.tones == frozenset(tones)
    assert set(tensions) <= chord.tensions
    assert not chord.tones & chord.tensions
    assert chord.symbol == symbol


def test_slash_chord_bass_and_natural_eleven_is_no_tension():
    assert chord_from_symbol("C/E").bass == E and chord_from_symbol("C/E").root == C
    assert F not in chord_from_symbol("C13").tensions  # the avoid note over a major 3rd
    assert F in chord_from_symbol("Cm7").tensions


@pytest.mark.parametrize("bad", ["Cx7", "H7", "C7/Q", "", "c7", "C" + "7" * 40])
def test_unknown_symbols_are_refused(bad):
    with pytest.raises(ValueError, match="unknown chord symbol"):
        chord_from_symbol(bad)


TEA = """# a comment line
title: Test Tune   # a comment after a space
meter: 3/4
tempo: 132
form: A A B

[A]
| C | Dm7 G7 | % |
[B] | F#m7 C7#9 Bb | G7 |
"""


def test_the_format():
    chart = parse_chart(TEA, "tea.txt")
    form = chart.form
    assert (chart.title, chart.bpm, form.beats_per_bar, form.beat_unit) == ("Test Tune", 132.0, 3, 4)
    assert [b.section for b in form.bars] == ["A"] * 6 + ["B", "B"]
    assert [b.symbols for b in form.bars[:3]] == ["C", "Dm7 G7", "Dm7 G7"]  # % repeats
    offsets = [o for o, _ in form.bars[1].chords]
    assert offsets == [0.0, 1.5]  # two chords split a 3/4 bar evenly
    assert [o for o, _ in form.bars[6].chords] == [0.0, 1.0, 2.0]
    assert form.bars[6].chords[1][1].symbol == "C7#9"  # a '#' inside a symbol is a sharp, not a comment


def test_defaults_without_header_or_sections():
    chart = parse_chart("| C | G7 |")
    assert chart.bpm == chart_mod.DEFAULT_BPM and chart.form.beats_per_bar == 4
    assert [b.section for b in chart.form.bars] == ["", ""]


@pytest.mark.parametrize("text, message", [
    ("| C | Cx7 |", "line 1: bar 2: unknown chord symbol 'Cx7'"),
    ("| C D E F G |", "bar 1 has 5 chords, more than its 4 beats"),
    ("meter: 3/4\n| C | C D E F |", "bar 2 has 4 chords, more than its 3 beats"),
    ("title: nothing\n# no bars\n", "no bars"),
    ("| % | C |", "'%' repeats the previous bar, and there is none"),
    ("meter: 5/4\n| C |", "meter '5/4' is not one of"),
    ("tempo: fast\n| C |", "tempo 'fast' is not a number"),
    ("tempo: 1000\n| C |", "outside 20..400 bpm"),
    ("key: C\n| C |", "unknown header 'key'"),
    ("form: A B\n[A]\n| C |", "form names section 'B'"),
    ("[A]\n| C |\n[A]\n| D |", "section [A] is written twice"),
    ("C G7 Am", "not a header, a [section] or bars"),
])
def test_errors_are_one_line_and_name_the_place(text, message):
    with pytest.raises(ValueError) as err:
        parse_chart(text, "x.txt")
    assert message in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 300


def test_input_is_bounded(tmp_path):
    with pytest.raises(ValueError, match="larger than"):
        parse_chart("| C |\n" * 20_000)
    with pytest.raises(ValueError, match="more than 512 bars"):
        parse_chart("| C " * 600 + "|")
    with pytest.raises(ValueError, match="the form is 600 bars long"):
        parse_chart("form: " + "A " * 60 + "\n[A]\n" + "| C " * 10 + "|")
    big = tmp_path / "big.txt"
    big.write_bytes(b"| C |\n" * 20_000)
    with pytest.raises(ValueError, match="larger than"):
        read_chart(big)
    with pytest.raises(FileNotFoundError):
        read_chart(tmp_path / "missing.txt")
    (tmp_path / "latin.txt").write_bytes(b"title: \xe9\n| C |")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_chart(tmp_path / "latin.txt")


def test_shipped_charts_read():
    from importlib import resources

    charts = sorted(p for p in resources.files("tatumflow.tunes").joinpath("charts").iterdir()
                    if p.name.endswith(".txt"))
    assert len(charts) >= 4
    for p in charts:
        chart = read_chart(str(p))
        assert chart.title and len(chart.form.bars) >= 16
