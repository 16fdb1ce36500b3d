"""The terminal UI (a Textual app) driven headless by Textual's pilot at 80x24: live values, notes, ports, tempo,
every key through the control surface, the log pane, quitting; nothing cut."""

from __future__ import annotations

import asyncio
import logging
import threading

import mido

from tatumflow.realtime.control.ccmap import load_map
from tatumflow.realtime.control.surface import ControlSurface, Split
from tatumflow.realtime.control.tui import HELP, RecentNotes, TempoHold, TuiInfo
from tatumflow.realtime.control.tui_app import JamApp, PaneHandler, logs_to, screen_text
from tatumflow.realtime.ports.sinks import HUMAN, MODEL

from .conftest import SimSession, phrase

INFO = TuiInfo(preset="tatum", inp="TatumFlow In", outs=("TatumFlow Out", "synth"), sync="auto")


def _session(split: Split | None = None):
    s = SimSession(mode="duet")
    recent = RecentNotes()
    s.engine.outputs.add(recent)  # the session's note tap (session.py adds it the same way)
    return s, recent, ControlSurface(s.engine, split=split)


def _run(app: JamApp, script) -> None:
    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(50):  # the first frames laid out (a loaded machine may take a while)
                await pilot.pause(0.05)
                if "mode " in screen_text(app) and HELP in screen_text(app):
                    break
            await script(pilot)

    asyncio.run(go())


def _lines(app: JamApp) -> list[str]:
    return screen_text(app).splitlines()


def test_the_screen_shows_live_values_notes_ports_and_tempo_at_80x24():
    s, recent, surface = _session(Split(60))
    recent.send(mido.Message("note_on", note=72, velocity=80), HUMAN, 0.1)
    recent.send(mido.Message("note_on", note=48, velocity=80), MODEL, 0.2)
    s.play(phrase(start_s=0.1, n=10, gap_s=0.2, pitch=72))
    s.run_until(3.0)
    surface.set("temperature", 0.85, "test")
    app = JamApp(s.engine, surface, load_map(), recent, INFO)

    async def check(pilot):
        lines = _lines(app)
        text = "\n".join(lines)
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert lines[0].startswith("╭") and "tatumflow jam" in lines[0] and lines[-1].startswith("╰")
        assert "mode duet" in text and "temperature" in text and "0.85" in text
        assert "C5" in text and "C3" in text  # the human's and TatumFlow's notes
        assert "preset tatum   in TatumFlow In   out TatumFlow Out, synth" in text
        assert "TatumFlow Out connections unknown" in text  # not JACK: it cannot be asked
        assert "tempo - (listening" in text  # auto, no beat heard yet
        assert "split: TatumFlow below C4" in text
        assert "last change: temperature = 0.85 (test)" in text
        assert HELP in text and "reply heard" in text and "dropped" in text  # nothing cut
        assert "70" in text  # temperature's CC

    _run(app, check)


def test_keys_change_controls_through_the_surface_and_the_list_scrolls():
    s, recent, surface = _session()
    app = JamApp(s.engine, surface, load_map(), recent, INFO)
    before, harmony = surface.values["temperature"], surface.values["harmony"]

    async def keys(pilot):
        await pilot.press("right")  # the selected control (temperature) up one step
        assert surface.values["temperature"] == before + 0.05
        await pilot.press("j", "l", "plus", "minus", "equals_sign")
        assert surface.values["harmony"] == harmony + 0.2
        await pilot.press("h")
        assert surface.values["harmony"] == harmony + 0.1
        await pilot.press("m")
        assert s.engine.config.mode == "continue"  # duet -> the next mode
        await pilot.press("space")
        assert s.engine.snapshot().muted
        await pilot.press("p", "exclamation_mark")
        assert surface.panics == 2
        await pilot.press(*["down"] * 9)  # from harmony to silence: below the rows that fit at first
        await pilot.press("right")
        assert surface.values["silence"] == 0.55
        await pilot.pause()
        text = screen_text(app)
        assert "> silence" in text and "0.55" in text and "last change: silence = 0.55 (key)" in text
        assert "MUTED" in text and HELP in text
        await pilot.press("down", "down", "down")  # past the last (mute): around to the first
        assert NAME_AT(app) == "temperature"
        await pilot.press("up", "k")  # and back: mute, then the mode
        assert NAME_AT(app) == "mode" and "> mode" in screen_text(app)

    _run(app, keys)


def NAME_AT(app: JamApp) -> str:
    from tatumflow.realtime.control.tui_app import NAMES

    return NAMES[app.selected]


def test_q_escape_and_ctrl_c_stop_the_session_the_normal_way():
    for key in ("q", "escape", "ctrl+c"):
        s, recent, surface = _session()
        stop = threading.Event()
        app = JamApp(s.engine, surface, load_map(), recent, INFO, stop=stop)

        async def quit_(pilot, key=key):
            await pilot.press(key)
            await pilot.pause()

        _run(app, quit_)
        assert stop.is_set() and not app.is_running, key


def test_a_stop_from_elsewhere_closes_the_ui():
    s, recent, surface = _session()
    done = threading.Event()
    app = JamApp(s.engine, surface, load_map(), recent, INFO, done=done.is_set)

    async def stopped(pilot):
        done.set()
        await pilot.pause(0.3)
        assert not app.is_running

    _run(app, stopped)


def test_log_lines_go_to_the_pane_never_onto_the_screen(capsys):
    s, recent, surface = _session()
    handler = PaneHandler()
    app = JamApp(s.engine, surface, load_map(), recent, INFO, logs=handler)
    logging.getLogger().addHandler(terminal := logging.StreamHandler())  # what the CLI's basicConfig installs

    async def logged(pilot):
        with logs_to(handler):
            log = logging.getLogger("tatumflow.realtime.engine.tempo")
            log.warning("--sync clock: no MIDI clock arriving after 5 s")
            await pilot.pause(0.3)
            lines = _lines(app)
        pane = " ".join(line.strip("│ ") for line in lines[-4:-1])  # the pane: the last lines inside the border
        assert "WARNING --sync clock: no MIDI clock arriving after 5 s" in pane
        assert lines[0].startswith("╭") and "mode duet" in lines[1]  # the screen intact

    try:
        _run(app, logged)
    finally:
        logging.getLogger().removeHandler(terminal)
    assert "no MIDI clock" not in capsys.readouterr().err  # nothing written past the UI
    assert list(handler.warnings) and "no MIDI clock" in handler.warnings[0]


def test_the_tempo_holds_its_last_value_with_its_age():
    now = [0.0]
    hold = TempoHold(clock=lambda: now[0])

    class Snap:
        tempo_bpm, tempo_from = 120.0, "human"

    class NoGrid:
        tempo_bpm, tempo_from = None, None

    assert hold.describe(Snap, "auto") == "tempo 120.0 bpm from your playing"
    now[0] = 0.5
    assert hold.describe(NoGrid, "auto") == "tempo 120.0 bpm from your playing"  # gone between two frames
    now[0] = 4.0
    assert hold.describe(NoGrid, "auto") == "tempo 120.0 bpm from your playing, held 4 s"  # never "-" at once
    now[0] = 600.0
    assert hold.describe(NoGrid, "auto") == "tempo 120.0 bpm from your playing, held 10 min"
    assert TempoHold().describe(NoGrid, "clock") == "tempo - (waiting for MIDI clock, --sync clock)"
    Snap.tempo_from = "clock"
    assert hold.describe(Snap, "clock") == "tempo 120.0 bpm from MIDI clock"
    assert hold.describe(NoGrid, "off") == "tempo off (--sync off)"


def test_a_frame_due_while_the_app_closes_is_skipped(monkeypatch):
    """The frame timer belongs to the app and outlives its screen by a tick while the app closes: a frame then
    finds no widgets and must be skipped, not raise (CI once failed on exactly that tick)."""
    import tatumflow.realtime.control.tui_app as tui_app

    monkeypatch.setattr(tui_app, "REFRESH_HZ", 2000)  # a frame due at every turn of the loop
    for _ in range(20):
        s, recent, surface = _session()
        app = JamApp(s.engine, surface, load_map(), recent, INFO)

        async def leave(pilot):
            await pilot.pause(0.01)

        _run(app, leave)  # raises the frame's NoMatches if one ran on the torn-down screen
