"""Live controls: the registry, `set(name, value)` and its errors, CC mapping, applying at the next window, mode
switch / mute / panic, and the pedal-down phrase end (offline, simulated clock)."""

from __future__ import annotations

import json

import mido
import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.realtime.control.knobs import KNOBS
from tatumflow.realtime.control.surface import ControlSurface, Split

from .conftest import SimSession, assert_balanced, phrase

REQUIRED = ("temperature", "harmony", "style_mix", "guidance", "pitch_low", "pitch_high", "density", "legato",
            "reply_ratio", "silence", "mode", "mute")


def test_registry_has_every_required_control():
    assert set(REQUIRED) <= set(KNOBS)
    for k in KNOBS.values():
        assert k.min <= k.max
        assert k.from_cc(0) == k.parse(k.from_cc(0))


@pytest.mark.parametrize("name,cc,expected", [("temperature", 0, 0.1), ("temperature", 127, 2.0),
                                              ("pitch_high", 127, 108), ("pitch_high", 0, 21), ("mute", 64, True),
                                              ("mute", 63, False), ("mode", 0, "call-response"),
                                              ("mode", 127, "trade"), ("density", 127, 3.0),
                                              ("legato", 0, -2.0), ("legato", 127, 2.0),
                                              ("chart", 0, 0.0), ("chart", 127, 8.0)])
def test_cc_values_map_linearly_onto_the_range(name, cc, expected):
    got = KNOBS[name].from_cc(cc)
    if isinstance(expected, str | bool):
        assert got == expected
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize("name,value,message", [("tempo", 1, "unknown control 'tempo'"),
                                                ("temperature", 5, "out of range"),
                                                ("temperature", "hot", "not a number"),
                                                ("mode", "solo", "not one of"), ("mute", "maybe", "on/off")])
def test_bad_values_are_one_line_errors(name, value, message):
    surface = ControlSurface(SimSession().engine)
    with pytest.raises(ValueError, match=message) as err:
        surface.set(name, value)
    assert "\n" not in str(err.value)


def test_controls_apply_to_the_engine_without_reencoding():
    s = SimSession()
    surface = ControlSurface(s.engine, styles=("Art Tatum", "Bill Evans"))
    surface.set("temperature", 0.7)
    surface.set("style_mix", 0.25)
    surface.set("silence", 1.2)
    surface.set("reply_ratio", 2.0)
    c = s.engine.controls
    assert c.temperature == 0.7 and c.style == {"Art Tatum": 0.75, "Bill Evans": 0.25}
    assert s.engine.config.silence_threshold_s == 1.2 and s.engine.config.reply_ratio == 2.0
    surface.set("pitch_high", 40)
    assert s.engine.controls.pitch_high == 40 and s.engine.controls.pitch_low == 21
    surface.set("pitch_low", 50)  # crosses the high end: it follows
    assert (s.engine.controls.pitch_low, s.engine.controls.pitch_high) == (50, 50)


def test_pitch_high_keeps_the_following_windows_under_it():
    s = SimSession(mode="duet")
    surface = ControlSurface(s.engine)
    s.play(phrase(start_s=0.1, n=30, gap_s=0.2, pitch=70))
    s.run_until(2.5)
    surface.set_cc("pitch_high", 40)  # CC 40 -> 21 + 87 * 40 / 127 = 48.4 -> 48
    changed = s.clock.now()
    s.run_until(8.0)
    window_s = s.engine.controls.window_s  # a duet plans up to two windows ahead: those already planned play out
    later = [m.note for t, m in s.model_messages() if m.type == "note_on" and m.velocity
             and t > changed + 2 * window_s + 0.1]
    assert later and max(later) <= 48
    s.engine.stop()
    assert_balanced(s.model_messages())


def test_split_keeps_the_model_below_whatever_the_knobs_say():
    s = SimSession(mode="duet")
    surface = ControlSurface(s.engine, split=Split(60, "below"))
    surface.set("pitch_high", 108)
    assert s.engine.controls.pitch_high == 59
    s.play(phrase(start_s=0.1, n=30, gap_s=0.2, pitch=72))
    s.run_until(6.0)
    ons = [m.note for _, m in s.model_messages() if m.type == "note_on" and m.velocity]
    assert ons and max(ons) < 60
    above = ControlSurface(SimSession(mode="duet").engine, split=Split(60, "above"))
    assert above.engine.controls.pitch_low == 60


def test_mute_stops_at_once_and_unmute_resumes():
    s = SimSession(mode="duet")
    surface = ControlSurface(s.engine)
    s.play(phrase(start_s=0.1, n=40, gap_s=0.2, pitch=60))
    s.run_until(2.0)
    surface.set("mute", True)
    muted_at = s.clock.now()
    s.run_until(4.0)
    assert not [t for t, m in s.model_messages() if m.type == "note_on" and m.velocity and t > muted_at + 0.003]
    assert s.engine.snapshot().muted
    surface.set("mute", "off")
    s.run_until(7.0)
    assert [t for t, m in s.model_messages() if m.type == "note_on" and m.velocity and t > 4.0]
    s.engine.stop()
    assert_balanced(s.model_messages())


def test_mode_switch_takes_effect_at_the_next_step():
    s = SimSession(mode="call-response")
    surface = ControlSurface(s.engine)
    surface.set("mode", "duet")
    assert s.engine.snapshot().mode == "duet"
    s.play(phrase(start_s=0.1, n=20, gap_s=0.2, pitch=60))
    s.run_until(2.0)  # a duet plays along while the human plays (call-response would wait for silence)
    assert [t for t in s.model_onsets() if t < 2.0]


def test_panic_silences_everything_at_once():
    s = SimSession(mode="duet")
    surface = ControlSurface(s.engine)
    s.play(phrase(start_s=0.1, n=40, gap_s=0.2, pitch=60))
    s.run_until(3.0)
    surface.panic()
    s.run_until(3.003)
    assert s.sink.sounding == 0 or all(k[0] == s.engine.config.human_channel for k in s.sink._sounding)
    s.engine.stop()
    assert_balanced(s.model_messages())


@pytest.mark.parametrize("pedal", [False, True], ids=["pedal-up", "pedal-down"])
def test_a_phrase_ending_pedal_down_is_answered_at_the_threshold(pedal):
    s = SimSession(silence_threshold_s=0.5)
    notes = phrase(start_s=0.2, n=5, gap_s=0.2)
    s.play(notes)
    if pedal:  # the pedal goes down before the phrase and stays down
        s.inbox.insert(0, (0.1, mido.Message("control_change", control=64, value=127)))
    released = max(n.end_s for n in notes)
    s.run_until(released + 1.5)
    first = min(t for t in s.model_onsets() if t > released)
    assert released + 0.5 - 0.005 <= first <= released + 0.5 + 0.05


def test_barge_in_with_the_pedal_down_stays_instant():
    s = SimSession(silence_threshold_s=0.3)
    s.inbox.append((0.05, mido.Message("control_change", control=64, value=127)))
    s.play(phrase(start_s=0.2, n=3, gap_s=0.2))
    s.run_until(1.4)
    assert s.model_onsets(), "no reply"
    s.play(phrase(start_s=1.4, n=2, gap_s=0.1))
    s.run_until(1.42)
    assert not [t for t in s.model_onsets() if t > 1.401]


def test_controls_command_lists_the_controls():
    result = CliRunner().invoke(app, ["controls", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    by_name = {r["name"]: r for r in rows}
    assert set(REQUIRED) <= set(by_name)
    assert all({"name", "cc", "min", "max", "default"} <= set(r) for r in rows)
    assert by_name["pitch_high"]["cc"] is not None
    table = CliRunner().invoke(app, ["controls"])
    assert table.exit_code == 0 and "temperature" in table.output and "panic" in table.output


def test_a_new_knob_is_one_row(monkeypatch):
    """A control added to the table alone reaches the engine through the surface, sits on its CC in the built-in
    map, answers on OSC and shows in the UI rows and `tatumflow controls` (the knob's field, `repeat_penalty`, is
    an existing `Controls` field: a new sampling control adds that field in generate/controls.py, and nothing else)."""
    from tatumflow.realtime.control.ccmap import load_map
    from tatumflow.realtime.control.knobs import Knob
    from tatumflow.realtime.control.osc import OscControl

    new = Knob("repeat", 0.0, 4.0, 0.0, "float", "controls", "repeat_penalty", 0.5, "repeat penalty", cc=82)
    monkeypatch.setitem(KNOBS, "repeat", new)
    s = SimSession()
    surface = ControlSurface(s.engine)
    surface.set("repeat", 1.5)
    assert s.engine.controls.repeat_penalty == 1.5
    assert surface.set_cc("repeat", 127) == 4.0 and s.engine.controls.repeat_penalty == 4.0
    assert load_map().cc_of("repeat") == 82 and load_map().target(0, 82) == "repeat"
    assert ("repeat", "4.00") in [(k.name, v) for k, v in surface.rows()]
    osc = OscControl.__new__(OscControl)  # the dispatch alone, no socket
    osc.surface, osc.received, osc.errors = surface, 0, []
    osc._on_message("/tatumflow/repeat", 0.5)
    assert osc.errors == [] and s.engine.controls.repeat_penalty == 0.5
    rows = json.loads(CliRunner().invoke(app, ["controls", "--json"]).output)
    row = next(r for r in rows if r["name"] == "repeat")
    assert (row["cc"], row["min"], row["max"], row["applies_to"]) == (82, 0.0, 4.0, "controls.repeat_penalty")


def test_each_controls_knob_spans_what_its_field_accepts():
    """The table's ranges are values `Controls` takes at both ends; legato's is exactly the field's (-2..2)."""
    from tatumflow.generate.controls import Controls

    for k in KNOBS.values():
        if k.target == "controls" and k.field not in ("style", "pitch_low"):
            Controls(**{k.field: k.min})
            Controls(**{k.field: k.max})
    assert (KNOBS["legato"].min, KNOBS["legato"].max) == (-2.0, 2.0)
    with pytest.raises(ValueError, match="legato"):
        Controls(legato=2.01)


def test_the_built_in_cc_map_is_the_tables_cc_column_and_round_trips_as_a_file(tmp_path):
    from tatumflow.realtime.control.ccmap import PANIC, load_map

    ccmap = load_map()
    assert {n: ccmap.cc_of(n) for n in KNOBS} == {n: k.cc for n, k in KNOBS.items()}
    assert ccmap.cc_of(PANIC) == 120
    result = CliRunner().invoke(app, ["controls", "--toml"])
    (tmp_path / "c.toml").write_text(result.output)
    assert load_map(tmp_path / "c.toml").controls == ccmap.controls
