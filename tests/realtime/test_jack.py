"""Real components: a JACK dummy server, virtual ports, a test client playing into `TatumFlow In`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tatumflow.realtime.ports.midi_io import close_input, open_input
from tatumflow.realtime.session.session import JamOptions, run_jam

from .conftest import assert_balanced, phrase
from .jack import JackClient, jack_dummy_server, wait_for_port

pytestmark = pytest.mark.jack
SILENCE_S = 0.5
REPORT_FIELDS = ("windows", "generation_ms_p50", "generation_ms_p99", "realtime_factor", "reply_ms_p50", "reply_ms_p99",
                 "send_jitter_ms_p50", "send_jitter_ms_p99", "late_notes", "dropped_notes")


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    with jack_dummy_server(tmp_path_factory.mktemp("jack") / "jackd.log") as name:
        yield name


def _first_reply(client: JackClient, released: float, wait_s: float = 1.5) -> float | None:
    time.sleep(wait_s)
    ons = client.note_ons(after=released)
    return ons[0] if ons else None


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
@pytest.mark.parametrize("reader", ["dump", "callback"])  # how the input is read (midi_io.jack_reader)
def test_replies_arrive_after_the_silence_threshold(jack, tmp_path, reader):
    stop = threading.Event()
    # The embedded default model, as a user gets it.
    options = JamOptions(record=tmp_path / "s.mid", report=tmp_path / "r.json", silence_threshold_s=SILENCE_S,
                         jack_input=reader)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run_jam(options, stop)), daemon=True)
    runner.start()
    client = JackClient()
    try:
        time.sleep(0.3)
        for start_pitch in (60, 67):
            released = client.play(phrase(start_s=0.0, n=5, gap_s=0.15, pitch=start_pitch))
            first = _first_reply(client, released, wait_s=SILENCE_S + 1.0)
            assert first is not None, "no reply"
            assert first >= released + SILENCE_S - 0.005, "replied before the silence threshold"
            assert first - (released + SILENCE_S) < 0.15, "reply later than 150 ms after the threshold"
            time.sleep(2.5)  # let the reply finish
    finally:
        stop.set()
        runner.join(timeout=10)
        time.sleep(0.1)
        client.close()
    assert_balanced(client.messages())
    assert result["replies"] == 2 and result["stuck_notes"] == 0
    saved = json.loads((tmp_path / "r.json").read_text())
    assert all(k in saved for k in REPORT_FIELDS)
    assert (tmp_path / "s.mid").stat().st_size > 100


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tatumflow.cli", *args]


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_reply_leaves_nothing_sounding(jack, tmp_path, sig):
    report = tmp_path / "r.json"
    proc = subprocess.Popen(_cli("jam", "--in", "virtual", "--out", "virtual", "--mode", "call-response",
                                 "--report", str(report)), env=dict(os.environ), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = JackClient()
        time.sleep(0.3)
        client.play_until_reply(limit_s=3.0)
        time.sleep(0.1)  # mid-reply: notes are sounding
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    client.close()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert_balanced(client.messages())
    data = json.loads(report.read_text())
    assert data["stuck_notes"] == 0 and all(k in data for k in REPORT_FIELDS)


def test_unknown_port_lists_the_available_ones(jack):
    from tatumflow.realtime.ports.midi_io import MidiInput, detect_api

    with pytest.raises(ValueError, match="Available input ports"):
        MidiInput("no such keyboard", lambda m, t: None, None, detect_api()).open()


def _open_keyboard():
    import mido

    b = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    return b.open_output("Fake Keys", virtual=True, client_name="fakekeys")


@pytest.mark.parametrize("reader", ["dump", "callback"])
def test_keyboard_unplugged_and_replugged_mid_session(jack, tmp_path, reader):
    keys = _open_keyboard()
    stop = threading.Event()
    options = JamOptions(inp="Fake Keys", silence_threshold_s=SILENCE_S, mock=True, jack_input=reader)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run_jam(options, stop)), daemon=True)
    runner.start()
    client = None
    try:
        client = JackClient.listener()
        time.sleep(1.5)  # the jam opens its outputs first, then the keyboard
        keys.send(mido_on(60))
        keys.close()  # unplugged with a key down
        time.sleep(2.5)
        keys = _open_keyboard()
        time.sleep(2.5)  # re-found by the watchdog
        for n in phrase(start_s=0.0, n=3, gap_s=0.1):
            keys.send(mido_on(n.pitch))
            time.sleep(0.08)
            keys.send(mido_off(n.pitch))
        released = time.monotonic()
        assert _first_reply(client, released, wait_s=SILENCE_S + 1.0) is not None, "no reply after the replug"
    finally:
        stop.set()
        runner.join(timeout=10)
        keys.close()
        if client is not None:
            client.close()
    assert result["keyboard_disconnects"] == 1 and result["stuck_notes"] == 0


def mido_on(pitch: int):
    import mido

    return mido.Message("note_on", note=pitch, velocity=80)


def mido_off(pitch: int):
    import mido

    return mido.Message("note_off", note=pitch)


def test_vanished_output_port_is_dropped_then_refound(jack):
    import mido

    from tatumflow.realtime.ports.sinks import PortSink

    b = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
    received = []
    synth = open_input(b, "Fake Synth", received.append, virtual=True, client_name="fakesynth")
    sink = PortSink("Fake Synth", api="UNIX_JACK")
    try:
        sink.send(mido_on(60), t_s=0.0)
        close_input(synth)  # the device goes away with a note sounding
        sink.check()
        assert not sink.connected and sink.sounding == 0
        sink.send(mido_on(62), t_s=0.1)  # dropped, not an error
        synth = open_input(b, "Fake Synth", received.append, virtual=True, client_name="fakesynth")
        sink.check()
        assert sink.connected
        sink.send(mido_on(64), t_s=0.2)
    finally:
        sink.close()
        time.sleep(0.1)
        close_input(synth)
    notes_on = [m.note for m in received if m.type == "note_on" and m.velocity > 0]
    assert notes_on[-1:] == [64]
    assert any(m.type == "note_off" and m.note == 64 for m in received)


STREAM_CLOSE_SCRIPT = """
import sys, threading, time, mido
from tatumflow.realtime.ports.midi_io import close_input, open_input
b = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
close = close_input if sys.argv[1] == "close_input" else (lambda port: port.close())
delay = float(sys.argv[3])  # each callback's own time: longer than close_input's fixed drain in the slow case
for i in range(40):
    out = b.open_output("tf-stream-src", virtual=True)
    src = [n for n in b.get_input_names() if "tf-stream-src" in n][0]
    take = lambda m: time.sleep(delay)
    inp = open_input(b, src, take) if sys.argv[2] == "counted" else b.open_input(src, callback=take)
    stop = threading.Event()
    def blast():
        while not stop.is_set():
            out.send(mido.Message("note_on", note=60, velocity=64))
    t = threading.Thread(target=blast)
    t.start()
    time.sleep(0.01)
    close(inp)  # messages still streaming in
    stop.set()
    t.join()
    out.close()
print("closed 40 inputs under a stream")
"""


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_inputs_close_safely_while_messages_stream_in(jack, delay):
    """mido's close() under a stream deadlocks or, with a cancel first, frees python-rtmidi's callback tuple while the
    JACK thread uses it (a crash; how often: benchmarks/realtime_jack/README.md); `close_input` does neither, and
    frees an input opened by `open_input` only once no callback is under way, even one slower than its fixed drain
    (0.05 s). In a child process, so a crash or a hang fails this test instead of the run."""
    run = subprocess.run([sys.executable, "-c", STREAM_CLOSE_SCRIPT, "close_input", "counted", str(delay)],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "closed 40 inputs" in run.stdout


@pytest.mark.parametrize("reader", ["dump", "callback"])
def test_our_ports_are_named_alike(jack, monkeypatch, reader):
    """Issue 27 item 11: on JACK the input showed as `TatumFlow In:input`, the output as `TatumFlow:TatumFlow Out`."""
    from tatumflow.realtime.engine.clock import MonotonicClock
    from tatumflow.realtime.ports.deadman import is_session_out
    from tatumflow.realtime.ports.midi_io import JACK_INPUT_ENV, MidiInput, detect_api
    from tatumflow.realtime.ports.sinks import PortSink
    from tatumflow.realtime.ports.watchdog import JackQuery

    monkeypatch.setenv(JACK_INPUT_ENV, reader)
    api = detect_api()
    with MidiInput("virtual", lambda m, t: None, MonotonicClock(), api), PortSink("virtual", api):
        wait_for_port("input", "TatumFlow Out")
        with JackQuery() as q:
            ours = sorted(n for n in q.midi_ports() if n.startswith("TatumFlow"))
    assert ours == ["TatumFlow In:input", "TatumFlow Out:output"]
    assert is_session_out("TatumFlow Out:output") and is_session_out("TatumFlow Out-01:output")
    assert not is_session_out("TatumFlow In:input")


def test_the_ui_says_where_our_output_is_connected(jack):
    """Issue 27 item 7: the screen says whether `TatumFlow Out` reaches anything (asked of JACK)."""
    from tatumflow.realtime.control.tui import PortWatch
    from tatumflow.realtime.ports.midi_io import detect_api
    from tatumflow.realtime.ports.sinks import PortSink
    from tatumflow.realtime.ports.watchdog import JackQuery

    with PortSink("virtual", detect_api()):
        out = wait_for_port("input", "TatumFlow Out")
        assert PortWatch.ask().startswith("connected to nothing")
        listener = JackClient.listener()
        try:
            with JackQuery() as q:
                assert q.connections(out)  # the listener connected itself
            assert PortWatch.ask().startswith("-> ") and "TatumFlow Out" not in PortWatch.ask()
        finally:
            listener.close()
