"""Live controls over a JACK dummy server with an outside client: the accompany split, the pitch_high CC mid-session,
the panic CC, a pedal-down phrase end, MIDI learn, and no stuck note after SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import mido
import pytest

from tatumflow.notes import Note
from tatumflow.realtime.control.live import LiveOptions
from tatumflow.realtime.session.session import JamOptions, run_jam

from .conftest import phrase
from .jack import JackClient, RawListener, assert_silent, jack_dummy_server, wait_for_port

pytestmark = pytest.mark.jack
SILENCE_S = 0.5


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    with jack_dummy_server(tmp_path_factory.mktemp("jack") / "jackd.log") as name:
        yield name


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tatumflow.cli", *args]


def _melody(start_s: float, n: int, low: int = 64) -> list[Note]:
    return [Note(start_s + i * 0.25, 0.2, low + (i * 5) % 17, 80) for i in range(n)]


def _model_ons(client: JackClient, after: float = 0.0) -> list[tuple[float, int]]:
    return [(t, m.note) for t, m in client.messages()
            if t >= after and m.type == "note_on" and m.velocity > 0 and m.channel == 0]


def _client(timeout_s: float = 8.0) -> JackClient:
    """A test client; retried while the server is still forgetting a client that just left (an earlier test's)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return JackClient()
        except (SystemError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _session(options: JamOptions):
    stop = threading.Event()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run_jam(options, stop)), daemon=True)
    runner.start()
    return stop, runner, result


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_pitch_high_cc_mid_session_and_the_panic_cc(jack):
    stop, runner, result = _session(JamOptions(mode="duet", live=LiveOptions()))
    client = _client()
    knobs = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output(
        wait_for_port("output", "TatumFlow In"))  # a second port: one rtmidi port is not for two threads
    player = threading.Thread(target=client.play, args=(_melody(0.0, 48, low=62),), daemon=True)
    raw = None
    try:
        raw = RawListener.start()
        time.sleep(0.3)
        player.start()
        time.sleep(1.5)
        knobs.send(mido.Message("control_change", control=75, value=40))  # pitch_high -> 48 (C3)
        changed = time.monotonic()
        time.sleep(8.0)
        later = [p for t, p in _model_ons(client, after=changed + 4.3)]  # two 2 s windows were planned already
        assert later and max(later) <= 48, [(round(t - changed, 2), p) for t, p in _model_ons(client)]
        sounding = _sounding(client)
        t_panic = time.monotonic()
        knobs.send(mido.Message("control_change", control=120, value=127))
        time.sleep(0.3)
        offs: dict[int, float] = {}  # the first off of each pitch: the human plays on, so the model may again
        for t, m in client.messages():
            if t >= t_panic and m.channel == 0 and (m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)):
                offs.setdefault(m.note, t)
        assert all(p in offs and offs[p] - t_panic < 0.02 for p in sounding), (sounding, offs)
    finally:
        if player.is_alive():
            player.join()  # never close a port another thread still plays into
        stop.set()
        runner.join(timeout=10)
        time.sleep(0.1)
        client.close()
        knobs.close()
        if raw is not None:
            raw.close()
    assert_silent(client, raw)
    assert result["stuck_notes"] == 0


def _sounding(client: JackClient) -> set[int]:
    on: set[int] = set()
    for _, m in client.messages():
        if m.type == "note_on" and m.velocity > 0 and m.channel == 0:
            on.add(m.note)
        elif m.type in ("note_on", "note_off") and m.channel == 0:
            on.discard(m.note)
    return on


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_a_phrase_ending_pedal_down_is_answered_at_the_threshold(jack):
    stop, runner, result = _session(JamOptions(mode="call-response", silence_threshold_s=SILENCE_S))
    client = _client()
    try:
        time.sleep(0.3)
        for _ in range(2):
            client.out.send(mido.Message("control_change", control=64, value=127))
            released = client.play(phrase(start_s=0.0, n=5, gap_s=0.15))  # keys up, the pedal still down
            time.sleep(SILENCE_S + 1.0)
            first = min(t for t, _ in _model_ons(client, after=released))
            late_ms = (first - (released + SILENCE_S)) * 1e3
            assert -5 <= late_ms < 150, f"reply {late_ms:.0f} ms after the threshold"
            client.out.send(mido.Message("control_change", control=64, value=0))
            time.sleep(2.5)
    finally:
        stop.set()
        runner.join(timeout=10)
        time.sleep(0.1)
        client.close()
    assert result["replies"] == 2 and result["stuck_notes"] == 0


def test_learn_assigns_a_cc(jack, tmp_path):
    path = tmp_path / "mine.toml"
    proc = subprocess.Popen(_cli("jam", "--learn", "--controls", str(path)), env=dict(os.environ),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output(
            wait_for_port("output", "TatumFlow In"))
        time.sleep(0.3)
        for value in (5, 10, 15):
            out.send(mido.Message("control_change", control=21, value=value))
        time.sleep(0.6)
        proc.stdin.write("pitch_high\n")
        proc.stdin.flush()
        time.sleep(0.3)
        proc.stdin.write("done\n")
        proc.stdin.flush()
        text, _ = proc.communicate(timeout=15)
        out.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, text
    assert "CC 21 -> pitch_high" in text
    assert "pitch_high = 21" in path.read_text()


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_split_duet_keeps_every_note_below_and_sigint_leaves_none_sounding(jack, tmp_path):
    # last: a client killed by a signal can keep the dummy server from taking new clients for a while
    report = tmp_path / "r.json"
    proc = subprocess.Popen(_cli("jam", "--mode", "duet", "--split", "60", "--no-tui", "--report", str(report)),
                            env=dict(os.environ), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    raw = None
    try:
        client = JackClient()
        raw = RawListener.start()
        time.sleep(0.3)
        client.play(_melody(0.0, 24, low=60))  # the human above the split, 6 s
        proc.send_signal(signal.SIGINT)  # mid-duet: notes are sounding
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        time.sleep(0.2)
        if raw is not None:
            raw.close()
    client.close()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    notes = [p for _, p in _model_ons(client)]
    assert len(notes) > 5, "TatumFlow did not play along"
    assert max(notes) < 60, f"TatumFlow crossed the split: {sorted(set(notes))}"
    assert_silent(client, raw)
    assert json.loads(report.read_text())["stuck_notes"] == 0
