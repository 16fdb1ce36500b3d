"""The form in time (timing.form) and the chart prior over the pitch head (generate.chart)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from tatumflow.generate import chart as prior
from tatumflow.generate.controls import Controls
from tatumflow.generate.window import Window
from tatumflow.notes import Note
from tatumflow.timing.form import Changes
from tatumflow.timing.grid import BeatGrid
from tatumflow.tunes.chart import parse_chart

FORM = parse_chart("meter: 4/4\n[A]\n| C | Dm7 G7 |\n[B]\n| F | % |").form  # 4 bars
KEY_PC = (np.arange(88) + 21) % 12


def test_position_through_the_form():
    ch = Changes(FORM, 120.0, start_s=1.0, choruses=2)  # a beat is 0.5 s, a bar 2 s, a chorus 8 s
    p = ch.position(1.0 + 2.0 + 0.8)  # bar 2, beat 1.6 (0-based): Dm7, G7 next at beat 2 (0.2 s later)
    assert (p.chorus, p.bar, p.section, p.chord.symbol, p.next_chord.symbol) == (0, 1, "A", "Dm7", "G7")
    assert p.beat == pytest.approx(1.6) and p.to_next_s == pytest.approx(0.2)
    p = ch.position(1.0 + 7.9)  # the last bar of chorus 1: the next chorus's first chord is next
    assert (p.chorus, p.bar, p.chord.symbol, p.next_chord.symbol) == (0, 3, "F", "C")
    assert p.to_next_s == pytest.approx(0.1)
    p = ch.position(1.0 + 15.9)  # the last bar of the last chorus: nothing after
    assert p.chorus == 1 and p.next_chord is None and math.isinf(p.to_next_s)
    assert ch.position(1.0 + 16.0).chord is None and ch.position(17.5).chorus == 2
    pickup = ch.position(0.5)
    assert pickup.chorus == -1 and pickup.chord is None and pickup.next_chord.symbol == "C"
    assert pickup.to_next_s == pytest.approx(0.5)
    assert [(c, b) for _, c, b in ch.bar_lines()] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert ch.bar_lines()[5][0] == pytest.approx(11.0)


def test_an_endless_form_and_a_session_grid():
    grid = BeatGrid(100.0, beat_s=0.3)
    ch = Changes.on_grid(FORM, grid, bar_s=0.3 + 4 * 0.6)  # bar 1 on the grid's 5th beat
    assert ch.choruses is None and math.isinf(ch.end_s)
    p = ch.position(ch.start_s + 1000 * ch.chorus_s + 0.1)
    assert p.chorus == 1000 and p.chord.symbol == "C"
    cut = parse_chart("meter: 2/2\n| C | G7 |").form
    ch2 = Changes.on_grid(cut, BeatGrid(200.0, 0.0), 0.0)  # 2/2: two quarter notes to the beat
    assert ch2.bpm == 100.0 and ch2.beat_grid().bpm == 200.0
    with pytest.raises(ValueError, match="endless"):
        ch.bar_lines()


def test_transposed_moves_every_chord():
    up = Changes(FORM, 120.0).transposed(1)
    assert up.chord_at(0.1).tones == frozenset({1, 5, 8})  # C# E# G#


def test_chart_prior_raises_the_chord_at_the_onset():
    ch = Changes(FORM, 120.0, choruses=1)
    context = [Note(0.0, 0.4, 48, 70)]
    new, same = prior.chart_biases(ch, 2.0, context, start_s=0.1)
    c_tones = np.isin(KEY_PC, [0, 4, 7])
    assert new[c_tones].min() == pytest.approx(2.0 * prior.TONE)
    assert new[~c_tones].max() < 2.0 * prior.TONE  # a bias, never a mask: finite everywhere
    assert np.isfinite(new).all() and new.min() >= 0
    np.testing.assert_allclose(new + same, 2.0 * prior.chord_scores(ch.chord_at(0.0))[KEY_PC])
    assert prior.chart_biases(ch, 0.0, context, 0.1) == (None, None)
    assert prior.chart_biases(None, 2.0, context, 0.1) == (None, None)


def test_near_a_change_the_next_chord_and_its_approach_come_in():
    ch = Changes(FORM, 120.0, choruses=1)  # G7 at 3.0 s (bar 2, beat 3)
    far = prior.new_onset_scores(ch, 2.05, gap_s=0.15)  # 0.95 s before: Dm7 alone
    near = prior.new_onset_scores(ch, 2.98, gap_s=0.15)  # 20 ms before: mostly G7
    b = 11  # B: G7's 3rd, not in Dm7
    assert far[b] < 0.01 and near[b] > 0.8 * prior.TONE
    f_sharp = 6  # a semitone below G7's root: an approach note in the last beat
    assert far[f_sharp] < 0.01 and 0 < prior.new_onset_scores(ch, 2.7, gap_s=0.05)[f_sharp] <= prior.APPROACH


def test_controls_check_the_chart_fields():
    with pytest.raises(ValueError, match="chart_weight"):
        Controls(chart_weight=-1.0)
    with pytest.raises(ValueError, match="changes"):
        Window(changes="| C |")
    assert Window(changes=Changes(FORM, 90.0)).changes.bpm == 90.0
    assert replace(Controls(), chart_weight=2.0).chart_weight == 2.0


def test_the_generator_follows_the_chart(generator):
    """A tiny random model: with the chart prior its notes' pitch classes move to the chord of their onset."""
    from tatumflow.tunes.measure import chord_tone_share
    from tatumflow.tunes.perform import perform

    controls = Controls(style={"Art Tatum": 1.0}, window_s=1.0)
    shares = []
    for weight in (0.0, 4.0):
        perf = perform(generator, FORM, 120.0, 2, replace(controls, chart_weight=weight), intro=False, seed=3)
        share, count = chord_tone_share(perf.notes, perf.changes, tolerance_s=1.0)  # every note: a random model
        assert count > 20
        shares.append(share)
    assert shares[0] < 0.45 and shares[1] > shares[0] + 0.3, shares
