"""The CC map (TOML, checked), the input router (controls never reach the model, channel filter, velocity curve)
and MIDI learn, offline."""

from __future__ import annotations

import io
import threading

import mido
import pytest

from tatumflow.realtime.control.ccmap import load_map, map_toml, write_map
from tatumflow.realtime.control.learn import Learner, learn_loop
from tatumflow.realtime.control.router import InputRouter, apply_curve, velocity_gamma
from tatumflow.realtime.control.surface import ControlSurface
from tatumflow.realtime.ports.sinks import HUMAN

from .conftest import SimSession


def test_the_default_map_covers_the_controls_and_a_panic():
    m = load_map()
    assert m.cc_of("pitch_high") == 75 and m.cc_of("panic") == 120 and m.channel is None
    assert len(set(m.controls.values())) == len(m.controls)


@pytest.mark.parametrize("text,message", [
    ("[cc]\ntemperature = 64\n", "sustain pedal"),
    ("[cc]\ntempo = 3\n", "unknown control 'tempo'"),
    ("[cc]\ntemperature = 1\nharmony = 1\n", "CC 1 is given to both"),
    ("[cc]\ntemperature = 200\n", "0..127"),
    ("[cc]\ntemperature = \"x\"\n", "cc must be a table of"),
    ("channel = 17\n", "channel must be 0"),
    ("colour = 1\n", "unknown setting"),
    ("[cc\n", "invalid TOML"),
])
def test_bad_maps_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_map(path)
    assert "\n" not in str(err.value)


def test_a_written_map_reads_back(tmp_path):
    m = load_map().with_cc("temperature", 1)
    assert load_map(write_map(m, tmp_path / "x.toml")) == m
    assert "temperature = 1" in map_toml(m)


def _routed(**kw):
    s = SimSession()
    surface = ControlSurface(s.engine)
    router = InputRouter(s.engine.on_message, surface, load_map(), **kw)
    return s, surface, router


def test_control_ccs_never_reach_the_engine_and_the_pedal_does():
    s, surface, router = _routed()
    router.on_message(mido.Message("control_change", control=75, value=0), 0.1)  # pitch_high -> 21
    router.on_message(mido.Message("control_change", control=64, value=127), 0.2)  # the pedal: playing
    router.on_message(mido.Message("control_change", control=120, value=127), 0.3)  # panic
    router.on_message(mido.Message("control_change", control=120, value=0), 0.31)  # its release: no second one
    assert s.engine.controls.pitch_high == 21 and surface.panics == 1
    human = [m for _, track, m in s.sink.messages if track == HUMAN]
    assert [m.control for m in human] == [64]


def test_channel_filter_and_velocity_curve():
    s, _, router = _routed(in_channel=2, gamma=velocity_gamma("soft"))
    router.on_message(mido.Message("note_on", channel=0, note=60, velocity=40), 0.1)  # another channel: ignored
    router.on_message(mido.Message("note_on", channel=2, note=62, velocity=40), 0.2)
    human = [m for _, track, m in s.sink.messages if track == HUMAN and m.type == "note_on"]
    assert [(m.note, m.velocity) for m in human] == [(62, apply_curve(40, 0.6))]
    assert apply_curve(40, 0.6) > 40 > apply_curve(40, 1.6) and apply_curve(127, 1.6) == 127
    with pytest.raises(ValueError, match="velocity curve"):
        velocity_gamma("loud")


def test_learn_assigns_the_knob_moved_to_the_control_chosen():
    lines: list[str] = []
    learner = Learner(load_map(), lines.append)
    answers = io.StringIO("pitch_high\ndone\n")  # a StringIO is never "ready" to select(): read after each CC

    def knob() -> None:
        for value in (10, 20, 30):  # one turn: a burst of values of one CC
            learner.on_message(mido.Message("control_change", control=21, value=value))
        learner.on_message(mido.Message("control_change", control=64, value=127))  # the pedal: never learned

    threading.Timer(0.1, knob).start()
    learn_loop(learner, answers, timeout_s=2.0)
    assert learner.map.cc_of("pitch_high") == 21 and learner.learned == {"pitch_high": 21}
    assert any("CC 21 -> pitch_high" in line for line in lines)


def test_a_control_port_turns_controls_and_plays_nothing():
    s, _, router = _routed()
    router.on_control(mido.Message("note_on", note=60, velocity=90), 0.1)  # a pad's note on the controller: ignored
    router.on_control(mido.Message("control_change", control=70, value=127), 0.2)  # temperature -> 2.0
    assert s.engine.controls.temperature == 2.0 and not s.sink.messages
