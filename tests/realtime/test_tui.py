"""The terminal UI rendered headless: live values, notes, stats; keys go through the control surface."""

from __future__ import annotations

import mido

from tatumflow.realtime.ccmap import load_map
from tatumflow.realtime.sinks import HUMAN, MODEL
from tatumflow.realtime.surface import ControlSurface, Split
from tatumflow.realtime.tui import JamTui, RecentNotes, render_text

from .conftest import SimSession, phrase


def _session():
    s = SimSession(mode="duet")
    recent = RecentNotes()
    s.engine.outputs.add(recent)  # the session's note tap (session.py adds it the same way)
    return s, recent


def test_the_screen_shows_live_values_and_notes():
    s, recent = _session()
    surface = ControlSurface(s.engine, split=Split(60))
    recent.send(mido.Message("note_on", note=72, velocity=80), HUMAN, 0.1)
    recent.send(mido.Message("note_on", note=48, velocity=80), MODEL, 0.2)
    s.play(phrase(start_s=0.1, n=10, gap_s=0.2, pitch=72))
    s.run_until(3.0)
    surface.set("temperature", 0.85, "test")
    text = render_text(s.engine.snapshot(), surface, load_map(), recent, split=surface.split)
    assert "mode duet" in text and "0.85" in text and "temperature" in text
    assert "C5" in text and "C3" in text  # the human's and TatumFlow's notes
    assert "70" in text and "120" in text  # CCs: temperature's and the panic's
    assert "window" in text and " ms" in text and "dropped" in text
    assert "split: TatumFlow below C4" in text and "21..59 A0..B3" in text  # the register the model keeps to
    assert "last change: temperature = 0.85 (test)" in text


def test_keys_change_controls_through_the_surface():
    s, recent = _session()
    surface = ControlSurface(s.engine)
    ui = JamTui(s.engine, surface, load_map(), recent)
    before = surface.values["temperature"]
    ui.handle_key("\x1b[C")  # right: the selected control (temperature) up one step
    assert surface.values["temperature"] == before + 0.05
    harmony = surface.values["harmony"]
    ui.handle_key("j")
    ui.handle_key("l")
    assert surface.values["harmony"] == harmony + 0.1
    ui.handle_key("m")
    assert s.engine.config.mode == "continue"
    ui.handle_key(" ")
    assert s.engine.snapshot().muted
    ui.handle_key("p")
    assert surface.panics == 1
    text = render_text(s.engine.snapshot(), surface, load_map(), recent, selected=ui.selected)
    assert "MUTED" in text and "> harmony" in text
