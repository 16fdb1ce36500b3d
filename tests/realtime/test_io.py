"""Input folding, echo suppression, sinks, recorder, FluidSynth rendering, API choice, the demo."""

from __future__ import annotations

import logging
import sys
import time
import tracemalloc
import wave

import mido
import numpy as np
import pytest

from tatumflow.generate.mock import mock_generator
from tatumflow.notes import Note, read_midi_tracks, write_midi
from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.engine import build_engine
from tatumflow.realtime.engine.livein import EchoFilter, LiveInput
from tatumflow.realtime.ports.sinks import HUMAN, MODEL, MemorySink, RecorderSink, Sink
from tatumflow.realtime.session.demo import play_as_human

from .conftest import assert_balanced, note_messages, phrase


def on(p, v=80):
    return mido.Message("note_on", note=p, velocity=v)


def off(p):
    return mido.Message("note_off", note=p)


def pedal(down):
    return mido.Message("control_change", control=64, value=127 if down else 0)


def test_sustain_pedal_extends_notes_and_silence_starts_when_the_keys_are_up():
    live = LiveInput()
    live.handle(pedal(True), 0.0)
    live.handle(on(60), 0.1)
    assert live.handle(off(60), 0.3) == "off"  # the hands left the keys: the phrase may end, pedal or not
    assert live.silence_since() == 0.3 and live.take().notes == []  # the note still sounds
    assert live.handle(pedal(False), 1.0) == "off"
    notes = live.take().notes
    assert notes == [Note(0.1, pytest.approx(0.9), 60, 80)]
    assert live.silence_since() == 0.3


def test_held_notes_are_reported_with_duration_so_far():
    live = LiveInput()
    live.handle(on(60), 0.5)
    assert live.sounding_notes(1.25) == [Note(0.5, 0.75, 60, 80)]
    live.release_all(2.0)
    assert live.take().notes[0].duration_s == pytest.approx(1.5)


def test_live_input_keeps_nothing_once_taken():
    live = LiveInput()

    def play(first: int, count: int) -> None:
        for k in range(first, first + count):
            live.handle(on(40 + k % 48), k * 0.01)
            live.handle(off(40 + k % 48), k * 0.01 + 0.005)
            if k % 10 == 9:
                assert len(live.take().notes) == 10

    play(0, 1000)  # warm up the allocator
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        play(1000, 20_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 50_000, f"{grown} bytes kept for 20,000 notes taken"


def test_echo_of_our_own_output_is_ignored():
    echo = EchoFilter(window_s=0.01)
    data = bytes(on(60).bytes())
    echo.sent(data, 1.000)
    assert echo.is_echo(data, 1.004)
    assert not echo.is_echo(data, 1.005)  # consumed: a second identical message is the human's
    echo.sent(data, 2.0)
    assert not echo.is_echo(data, 2.05)


def test_a_note_off_is_never_taken_for_an_echo():
    """The human releasing a pitch we released a moment ago sends the same bytes: dropped, the key would stay down."""
    echo = EchoFilter(window_s=0.01)
    for msg in (mido.Message("note_off", note=60), on(60).copy(velocity=0)):
        data = bytes(msg.bytes())
        echo.sent(data, 1.0)
        assert not echo.is_echo(data, 1.002)


class Broken(Sink):
    def _send(self, msg, track, t_s):
        raise OSError("device gone")


def test_sink_base_closes_once_and_silences_what_sounds():
    sink = MemorySink()
    with sink:
        sink.send(on(60), MODEL, 0.1)
        sink.send(on(62), MODEL, 0.2)
        sink.send(off(60), MODEL, 0.3)
    assert sink.closed and sink.sounding == 0
    assert_balanced([(t, m) for t, _, m in sink.messages])
    assert any(m.type == "control_change" and m.control == 123 for _, _, m in sink.messages)
    n = len(sink.messages)
    sink.close()
    sink.send(on(64), MODEL, 1.0)
    assert len(sink.messages) == n


def test_a_failing_sink_is_switched_off_not_fatal():
    sink = Broken("broken")
    sink.send(on(60), MODEL, 0.0)
    assert sink.failed
    sink.close()


def test_recorder_writes_human_and_tatumflow_tracks(tmp_path):
    path = tmp_path / "s.mid"
    with RecorderSink(path) as rec:
        for t, m in note_messages(phrase(n=3)):
            rec.send(m.copy(channel=1), HUMAN, t)
        rec.send(on(70), MODEL, 2.0)  # still sounding at close: ended by the close
    tracks = read_midi_tracks(path)
    assert len(tracks["human"]) == 3 and len(tracks["tatumflow"]) == 1


def test_fluidsynth_renders_a_non_silent_wav(tmp_path):
    pytest.importorskip("fluidsynth")
    from tatumflow.realtime.ports.synth import find_soundfont, render_midi

    try:
        find_soundfont()
    except ValueError as err:
        pytest.skip(str(err))
    mid = tmp_path / "in.mid"
    write_midi(mid, {"human": phrase(n=4), "tatumflow": [Note(1.2, 0.5, 67, 90)]})
    wav = render_midi(mid, tmp_path / "out.wav")
    with wave.open(str(wav)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        assert w.getnchannels() == 2 and w.getnframes() > w.getframerate()
    assert np.sqrt(np.mean(audio.astype(float) ** 2)) > 50


def test_missing_soundfont_is_a_clear_error():
    from tatumflow.realtime.ports.synth import find_soundfont

    with pytest.raises(ValueError, match="soundfont not found"):
        find_soundfont("/no/such.sf2")


def test_api_choice(monkeypatch):
    from tatumflow.realtime.ports.midi_io import detect_api, resolve_port

    assert detect_api("jack") == "UNIX_JACK"
    with pytest.raises(ValueError, match="not available"):
        detect_api("carrier-pigeon")
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")
    assert detect_api(None) == "UNIX_JACK"  # mido's environment variable decides, read once into the API
    assert resolve_port("keys", ["Digital Keys:port 1", "Synth"], "input") == "Digital Keys:port 1"
    with pytest.raises(ValueError, match="'Synth'"):
        resolve_port("piano", ["Digital Keys:port 1", "Synth"], "input")


class Exploding:
    """A generator whose windows fail after the first reply started."""

    def __init__(self) -> None:
        self.inner, self.calls = mock_generator(), 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate_chunk(self, *args, **kwargs):
        self.calls += 1
        if self.calls > 2:
            raise RuntimeError("model blew up")
        return self.inner.generate_chunk(*args, **kwargs)


def test_an_engine_error_stops_cleanly_with_nothing_sounding():
    sink = MemorySink()
    engine = build_engine(Exploding(), [sink], config=EngineConfig(silence_threshold_s=0.2, min_reply_s=3.0))
    engine.start()
    play_as_human(engine, phrase(start_s=0.0, n=3, gap_s=0.1), engine.clock)
    deadline = time.monotonic() + 5
    while not engine.failed and time.monotonic() < deadline:
        time.sleep(0.02)
    report = engine.stop()
    assert engine.failed and report["stuck_notes"] == 0
    assert_balanced([(t, m) for t, track, m in sink.messages if track == MODEL])


def test_demo_writes_its_files(tmp_path):
    from typer.testing import CliRunner

    from tatumflow.cli import app

    result = CliRunner().invoke(app, ["demo", "--no-audio", "--out-dir", str(tmp_path)])  # the embedded model
    assert result.exit_code == 0, result.output
    for name in ("demo.mid", "demo.wav", "demo.png", "demo_report.json"):
        assert (tmp_path / name).stat().st_size > 100, name
    tracks = read_midi_tracks(tmp_path / "demo.mid")
    assert tracks["human"] and tracks["tatumflow"]


def test_demo_without_matplotlib_skips_the_png_with_a_one_line_notice(tmp_path, monkeypatch, caplog):
    from tatumflow.realtime.session.demo import write_demo_files

    write_midi(tmp_path / "demo.mid", {"human": phrase(n=3), "tatumflow": [Note(1.2, 0.5, 67, 90)]})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with caplog.at_level(logging.WARNING):
        out = write_demo_files(tmp_path, {"mode": "call-response"}, None)
    assert out.png is None and not (tmp_path / "demo.png").exists()
    notices = [r.getMessage() for r in caplog.records if "matplotlib" in r.getMessage()]
    assert len(notices) == 1 and "\n" not in notices[0]
    assert out.report_path.is_file() and out.midi.is_file()


def test_our_own_ports_are_never_suggested():
    """Issue 27 item 11: a mistyped --in listed TatumFlow's own output and the dead man's panic port as inputs."""
    from tatumflow.realtime.ports.midi_io import resolve_port

    listed = ["Digital Keys:port 1", "TatumFlow Out:output", "TatumFlow-deadman:panic", "TatumFlow:TatumFlow Out 128:0"]
    with pytest.raises(ValueError) as err:
        resolve_port("Digitl", listed, "input")
    assert "'Digital Keys:port 1'" in str(err.value) and "TatumFlow" not in str(err.value)
    with pytest.raises(ValueError, match="no MIDI input port 'tatumflow'"):
        resolve_port("tatumflow", listed, "input")  # ours are not matched by a part of their name
    assert resolve_port("TatumFlow Out:output", listed, "input") == "TatumFlow Out:output"  # by its exact name: yes
