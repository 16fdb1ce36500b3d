"""The performance over a form (markers, tempo, meter, where bar 1 falls), restyle (the melody on top), the lead
sheets and the CLI's errors, on the tiny model."""

import mido
import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.generate.controls import Controls
from tatumflow.notes import Note, midi_file_from_tracks, read_midi_tracks
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import parse_chart
from tatumflow.tunes.leadsheet import read_melody, top_line
from tatumflow.tunes.measure import melody_kept
from tatumflow.tunes.midi import PROMPT_MARK, performance_midi
from tatumflow.tunes.perform import form_start_s, intro_notes, perform
from tatumflow.tunes.restyle import restyle

CHART = "title: T\nmeter: 3/4\ntempo: 150\n[A]\n| C | Dm7 G7 |\n[B]\n| F | % |\n"
CONTROLS = Controls(style={"Art Tatum": 1.0}, window_s=1.0, chart_weight=2.0)


def test_perform_places_the_form_and_writes_markers(generator, tmp_path):
    form = parse_chart(CHART).form
    perf = perform(generator, form, 150.0, 2, CONTROLS, seed=5)
    ch = perf.changes
    assert ch.start_s == 0.0 and ch.end_s == pytest.approx(2 * 4 * 3 * 0.4)
    assert perf.notes and all(n.onset_s >= 0 and n.end_s <= ch.end_s + 1e-6 for n in perf.notes)
    midi = performance_midi({"tatumflow": perf.notes}, ch, after_prompt=False)
    path = tmp_path / "x.mid"
    midi.save(str(path))
    conductor = mido.MidiFile(str(path)).tracks[0]
    sig = next(m for m in conductor if m.type == "time_signature")
    assert (sig.numerator, sig.denominator) == (3, 4)
    assert mido.tempo2bpm(next(m for m in conductor if m.type == "set_tempo").tempo) == pytest.approx(150.0)
    ticks, marks = 0, []
    for m in conductor:
        ticks += m.time
        if m.type == "marker":
            marks.append((ticks, m.text))
    assert len(marks) == 8 and marks[0] == (0, "chorus 1 [A] bar 1: C")
    assert marks[5] == (5 * 3 * 1000, "chorus 2 [A] bar 2: Dm7 G7")  # a bar line on every 3rd file beat
    assert read_midi_tracks(path)["tatumflow"]
    short = performance_midi({"tatumflow": perf.notes}, ch, after_prompt=False, until_s=2.5)  # bars at 0, 1.2, 2.4
    assert sum(m.type == "marker" for m in short.tracks[0]) == 3


def test_a_prompt_puts_bar_one_on_the_next_bar_line(generator):
    form = parse_chart(CHART).form  # a bar is 1.2 s at 150
    prompt = [Note(0.1 * i, 0.1, 60 + i % 5, 70) for i in range(20)]  # last onset 1.9 s
    assert form_start_s(prompt, form, 150.0) == pytest.approx(2.4) and form_start_s([], form, 150.0) == 0.0
    perf = perform(generator, form, 150.0, 1, CONTROLS, prompt, seed=5)
    assert perf.changes.start_s == pytest.approx(2.4)
    assert min(n.onset_s for n in perf.notes) > 1.9
    midi = performance_midi({"prompt": prompt, "tatumflow": perf.notes}, perf.changes, after_prompt=True)
    first = next(m for m in midi.tracks[0] if m.type == "marker")
    assert first.text.startswith(PROMPT_MARK) and "bar 1" in first.text


def test_the_intro_is_the_turnaround_before_bar_one():
    ch = Changes(parse_chart("| C | F | Dm7 | G7 |").form, 120.0)
    intro = intro_notes(ch)
    assert intro and max(n.onset_s for n in intro) < 0 and min(n.onset_s for n in intro) == pytest.approx(-4.0)
    assert {n.pitch % 12 for n in intro if n.onset_s < -2.0} <= {2, 5, 9, 0}  # Dm7's tones in the first bar


def test_restyle_keeps_the_melody_on_top(generator):
    melody = [Note(0.5 * i, 0.45, (72, 74, 76, 79, 77, 76, 74, 72)[i % 8], 90) for i in range(16)]
    melody[5] = Note(2.5, 1.4, 71, 90)  # a held note over the next ones' onsets: they start at or below it
    melody = [m for m in melody if not 2.5 < m.onset_s < 3.9]
    ch = Changes(parse_chart("| C | G7 | C | G7 |").form, 120.0, choruses=1)
    perf = restyle(generator, melody, CONTROLS, ch, seed=5)
    assert perf.melody == melody  # written as given
    assert len(perf.notes) > len(melody)
    assert melody_kept(melody, perf.notes + perf.melody) == 1.0
    assert melody_kept(melody, [n for n in melody if n.pitch != 72]) < 1.0  # the measure can fail


def test_lead_sheets(tmp_path):
    from music21 import converter, harmony, stream, tempo

    part = converter.parse("tinyNotation: 3/4 c4 e4 g4 a2. f4 a4 c'4 e'2.").makeMeasures()
    measures = list(part.getElementsByClass(stream.Measure))
    measures[0].insert(0, harmony.ChordSymbol("C"))
    measures[1].insert(0, harmony.ChordSymbol("A-7"))
    measures[2].insert(0, harmony.ChordSymbol("F"))
    measures[2].insert(2, harmony.ChordSymbol("G7"))
    measures[0].insert(0, tempo.MetronomeMark(number=90))
    path = tmp_path / "lead.musicxml"
    stream.Score([part]).write("musicxml", fp=str(path))
    tune = read_melody(path)
    assert (tune.bpm, tune.beats_per_bar) == (90.0, 3) and [n.pitch for n in tune.notes][:4] == [60, 64, 67, 69]
    assert tune.notes[3].onset_s == pytest.approx(2.0)
    assert [b.symbols for b in tune.form.bars] == ["C", "Ab7", "F G7", "G7"]  # music21 writes flats "-"
    assert tune.form.bars[2].chords[1][0] == 2.0
    slow = tune.at_tempo(45.0)
    assert slow.notes[3].onset_s == pytest.approx(4.0)
    midi = midi_file_from_tracks({"bass": [Note(0, 1, 40, 80)], "melody": [Note(0, 1, 50, 80), Note(0, 1, 47, 80)]})
    midi.save(str(tmp_path / "m.mid"))
    assert [n.pitch for n in read_melody(tmp_path / "m.mid").notes] == [50]
    assert top_line([Note(0, 1, 60, 80), Note(0.01, 1, 64, 80), Note(0.5, 1, 62, 80)])[0].pitch == 64
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="give a MusicXML"):
        read_melody(tmp_path / "x.txt")
    (tmp_path / "bad.musicxml").write_text("<score-partwise><part")
    with pytest.raises(ValueError, match="not a readable MusicXML"):
        read_melody(tmp_path / "bad.musicxml")


@pytest.mark.parametrize("chart, message", [
    ("| C | Cx7 |", "bar 2: unknown chord symbol 'Cx7'"),
    ("| C D E F G |", "bar 1 has 5 chords"),
    ("title: nothing\n", "no bars"),
])
def test_cli_chart_errors_exit_2_and_write_nothing(tmp_path, chart, message):
    (tmp_path / "c.txt").write_text(chart)
    out = tmp_path / "out.mid"
    for args in (["generate", "--changes", str(tmp_path / "c.txt"), "--out", str(out), "--device", "cpu"],
                 ["restyle", str(tmp_path / "c.txt"), "--changes", str(tmp_path / "c.txt"), "--out", str(out)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        if args[0] == "generate":
            assert message in result.output and result.output.count("\n") == 1
        assert not out.exists()


def test_cli_bpm_and_choruses_need_a_chart(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--bpm", "120", "--out", str(tmp_path / "o.mid")])
    assert result.exit_code == 2 and "go with --changes" in result.output
    (tmp_path / "c.txt").write_text("| C |")
    result = CliRunner().invoke(app, ["generate", "--changes", str(tmp_path / "c.txt"), "--choruses", "0",
                                      "--out", str(tmp_path / "o.mid")])
    assert result.exit_code == 2 and "choruses must be in" in result.output


def test_restyle_windows_keep_under_the_melody():
    from tatumflow.tunes.restyle import LEAD_IN_S, _windows

    w = _windows(Note(0.0, 0.4, 72, 90), Note(1.0, 0.5, 69, 90), tail_s=2.0)
    assert w == [(0.0, 0.4, 72), (0.4, 1.0 - LEAD_IN_S, 72), (1.0 - LEAD_IN_S, 1.0, 69)]
    legato = _windows(Note(0.0, 2.0, 72, 90), Note(1.0, 0.5, 74, 90), tail_s=2.0)  # held into the next onset
    assert legato == [(0.0, 1.0 - LEAD_IN_S, 72), (1.0 - LEAD_IN_S, 1.0, 72)]
    assert _windows(Note(0.0, 0.5, 60, 90), None, tail_s=2.0) == [(0.0, 0.5, 60), (0.5, 2.5, 109)]
