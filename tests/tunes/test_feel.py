"""The feel over a chart (tunes/feel.py): the controls a chart's windows sample with, the duration steer, and what
it does to the real model's note lengths at a fast tempo."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from tatumflow.generate.controls import Controls
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.mock import MockBackend
from tatumflow.notes import Note
from tatumflow.tunes.chart import parse_chart
from tatumflow.tunes.feel import LEGATO_LIMIT, LEGATO_STEP, ChartFeel, DurationSteer
from tatumflow.tunes.measure import melody_kept
from tatumflow.tunes.perform import perform

CHART = "title: T\nmeter: 4/4\ntempo: 120\n[A]\n| C | Dm7 G7 | C | G7 |\n"
CONTROLS = Controls(style={"Art Tatum": 1.0}, window_s=1.0, chart_weight=2.0, meter_weight=2.0, legato=0.3,
                    head_temperature=(1.0, 1.0, 1.2, 1.0))


class RecordingBackend(MockBackend):
    """The mock, noting the controls and the legato tilt of every note it samples."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Controls, float]] = []

    def sample(self, cache, controls, c, rng):
        self.seen.append((controls, c.spec.legato))
        return super().sample(cache, controls, c, rng)


@pytest.mark.parametrize("kwargs", [{"meter_scale": -0.1}, {"velocity_temperature": 0.0},
                                    {"duration_beats": 0.0}, {"steer_gain": float("nan")}])
def test_bad_feel_is_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ChartFeel(**kwargs)


def test_the_feel_scales_the_meter_and_the_touch_and_adds_the_steer():
    feel = ChartFeel(meter_scale=0.375, velocity_temperature=1.5)
    c = feel.controls(CONTROLS, legato_offset=-0.5)
    assert c.meter_weight == pytest.approx(0.75) and c.head_temperature == pytest.approx((1.0, 1.0, 1.8, 1.0))
    assert c.legato == pytest.approx(-0.2) and c.chart_weight == CONTROLS.chart_weight
    assert feel.controls(CONTROLS, legato_offset=-5.0).legato == -LEGATO_LIMIT  # within the control's range
    assert ChartFeel.off().controls(CONTROLS) == CONTROLS


def test_the_steer_shortens_long_notes_and_lengthens_short_ones():
    long_notes = [Note(0.1 * i, 0.5, 60, 64) for i in range(10)]  # 1 beat at 120 bpm
    short_notes = [Note(0.1 * i, 0.05, 60, 64) for i in range(10)]  # 0.1 beat
    down, up = DurationSteer(0.55, 0.5, 0.5), DurationSteer(0.55, 0.5, 0.5)
    offsets = [down.update(long_notes) for _ in range(3)], [up.update(short_notes) for _ in range(3)]
    assert offsets[0][0] < 0 and offsets[0][2] < offsets[0][0] and offsets[1][0] > 0
    for o in offsets[0] + offsets[1]:
        assert abs(o) <= LEGATO_LIMIT and o / LEGATO_STEP == pytest.approx(round(o / LEGATO_STEP))
    assert DurationSteer(0.55, 0.5, 0.5).update([]) == 0.0 and DurationSteer(None, 0.5, 0.5).update(long_notes) == 0


# The mock's notes last 0.2 s: 0.2 quarter at 60 bpm, 1.33 at 400; in 2/2 at 150, half a beat but a whole quarter.
@pytest.mark.parametrize(("meter", "bpm", "sign"), [("4/4", 60.0, 1), ("4/4", 400.0, -1), ("2/2", 150.0, -1)])
def test_perform_samples_every_window_with_the_feel(meter, bpm, sign):
    backend = RecordingBackend()
    form = parse_chart(CHART.replace("4/4", meter)).form
    feel = ChartFeel(meter_scale=0.375, velocity_temperature=1.6, steer_gain=0.5)
    perform(ChunkedGenerator(backend), form, bpm, 2, CONTROLS, seed=1, feel=feel)
    controls = [c for c, _ in backend.seen]
    assert all(c.meter_weight == pytest.approx(0.75) for c in controls)
    assert all(c.head_temperature[2] == pytest.approx(1.2 * 1.6) for c in controls)
    legato = [spec_legato for _, spec_legato in backend.seen]
    assert legato[0] == CONTROLS.legato and sign * (legato[-1] - CONTROLS.legato) > 0.2


def test_perform_with_the_feel_off_samples_with_the_controls_given():
    backend = RecordingBackend()
    perform(ChunkedGenerator(backend), parse_chart(CHART).form, 120.0, 1, CONTROLS, seed=1, feel=ChartFeel.off())
    assert backend.seen and all(c == CONTROLS for c, _ in backend.seen)


def test_the_real_models_notes_keep_near_half_a_beat_at_a_fast_tempo(real_generator):
    """At 270 bpm the model's notes ran 0.9 beat long without the steer (benchmarks/tunes); with it, near the
    target."""
    from tatumflow.presets import DEFAULT_PRESET, controls_from

    form = parse_chart(CHART).form
    beat_s = 60.0 / 270
    means = {}
    for name, feel in (("off", ChartFeel.off()), ("on", ChartFeel())):
        perf = perform(real_generator, form, 270.0, 6, controls_from(DEFAULT_PRESET), seed=0, feel=feel)
        means[name] = statistics.fmean(n.duration_s for n in perf.notes) / beat_s
    target = ChartFeel().duration_beats
    assert abs(means["on"] - target) < abs(means["off"] - target), means


def test_a_rolled_chord_is_one_onset_to_the_repeat_penalty():
    """A chord rolled downward (72, 67, 64, 10 ms apart): on the grid's steps its last onset's top is 64; within
    35 ms it is one onset whose top is 72, the note a new onset should not re-strike."""
    from tatumflow.generate.constraints import StepConstraints
    from tatumflow.notes import PIANO_LOW

    gen = ChunkedGenerator(MockBackend())
    context = [Note(0.0, 0.3, 60, 64), Note(0.5, 0.3, 72, 64), Note(0.51, 0.3, 67, 64), Note(0.52, 0.3, 64, 64)]
    steps, rolled = StepConstraints(), StepConstraints()
    gen._repeat_biases(steps, context, 3.0)
    gen._repeat_biases(rolled, context, 3.0, onset_s=0.035)
    assert steps.pitch_bias[64 - PIANO_LOW] == -3.0 and steps.pitch_bias[72 - PIANO_LOW] == 0.0
    assert steps.onset_pitch_bias[67 - PIANO_LOW] == -3.0  # the step before: 67 alone
    assert rolled.pitch_bias[72 - PIANO_LOW] == -3.0 and rolled.pitch_bias[64 - PIANO_LOW] == 0.0
    assert rolled.onset_pitch_bias[60 - PIANO_LOW] == -3.0  # the onset before the roll
    assert ChartFeel().controls(CONTROLS).repeat_onset_s == pytest.approx(0.035)


# -- restyle over a chart plays with the feel too -------------------------------------------------------------------

MELODY = [Note(0.5 * i, 0.45, (72, 74, 76, 79, 77, 76, 74, 72)[i % 8], 90) for i in range(24)]


def _restyle(feel=None, chart: bool = True, bpm: float = 60.0):
    from tatumflow.timing.form import Changes
    from tatumflow.tunes.restyle import restyle

    backend = RecordingBackend()
    changes = Changes(parse_chart(CHART).form, bpm, choruses=4) if chart else None
    kwargs = {} if feel is None else {"feel": feel}
    perf = restyle(ChunkedGenerator(backend), MELODY, CONTROLS, changes, seed=3, **kwargs)
    return backend.seen, perf


def test_restyle_over_a_chart_samples_with_the_feel_and_steers_at_performs_pace():
    seen, perf = _restyle()
    feel = ChartFeel()
    controls = [c for c, _ in seen]
    assert all(c.meter_weight == pytest.approx(CONTROLS.meter_weight * feel.meter_scale) for c in controls)
    assert all(c.head_temperature[2] == pytest.approx(1.2) for c in controls)  # RESTYLE_FEEL: the touch as it is
    assert all(c.repeat_onset_s == pytest.approx(0.035) and c.pitch_high < 109 for c in controls)  # capped still
    legato = [spec_legato for _, spec_legato in seen]
    # the mock's 0.2 s notes are 0.2 of a quarter note at 60 bpm: longer, one step per window_s (1 s) of music at most
    assert legato[0] == CONTROLS.legato and legato[-1] > CONTROLS.legato + 0.2
    steps = sum(b != a for a, b in zip(legato, legato[1:], strict=False))
    span = MELODY[-1].end_s + 2.0 - MELODY[0].onset_s
    assert 3 <= steps <= span / CONTROLS.window_s + 1, steps
    assert melody_kept(MELODY, perf.notes + perf.melody) == 1.0


@pytest.mark.parametrize("chart, feel", [(False, None), (True, ChartFeel.off())])
def test_restyle_without_a_chart_or_with_the_feel_off_samples_with_the_controls_given(chart, feel):
    seen, _ = _restyle(feel, chart)
    assert seen and all(replace(c, pitch_high=CONTROLS.pitch_high) == CONTROLS for c, _ in seen)  # the cap alone


def test_the_real_model_restyles_over_a_chart_with_the_feel_and_keeps_the_melody(real_generator):
    """The Humoresque figure (benchmarks/tunes/melodies, from MIDI) over its chart, as `run.py restyle` plays it."""
    from pathlib import Path

    from tatumflow.presets import DEFAULT_PRESET, controls_from
    from tatumflow.timing.form import Changes
    from tatumflow.tunes.chart import read_chart
    from tatumflow.tunes.leadsheet import read_melody
    from tatumflow.tunes.restyle import choruses_to_cover, restyle

    root = Path(__file__).resolve().parents[2]
    tune = read_melody(root / "benchmarks" / "tunes" / "melodies" / "humoresque.mid")
    placed = Changes(read_chart(root / "tatumflow" / "tunes" / "charts" / "humoresque.txt").form, tune.bpm,
                     tune.start_s)
    placed = replace(placed, choruses=choruses_to_cover(placed, max(n.end_s for n in tune.notes)))
    perf = restyle(real_generator, tune.notes, controls_from(DEFAULT_PRESET), placed, seed=0)
    assert melody_kept(tune.notes, perf.notes + perf.melody) >= 0.95
