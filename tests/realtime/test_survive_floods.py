"""Floods of input: through the engine (40,000 messages a second, simulated clock), every note the input hands over
is counted by the report and written by the recorder, the same number in both; over JACK, the polled input keeps
every message while the interpreter is busy, a real `jam` registers every note of a 10,000 messages/s flood, and
what rtmidi's full queue drops is counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import mido
import pytest

from tatumflow.notes import read_midi_tracks
from tatumflow.realtime.midi_io import PolledInput, counting_input_losses
from tatumflow.realtime.sinks import RecorderSink

from .conftest import SimSession
from .jack import CLIENT_API, JackClient, jack_dummy_server, wait_for_port


def test_forty_thousand_messages_a_second_report_and_recording_agree(tmp_path):
    s = SimSession("duet")
    recorder = RecorderSink(tmp_path / "flood.mid", flush_s=3600)
    s.engine._sinks.append(recorder)
    n = 4_000  # note-ons, and as many note-offs, at 40,000 messages a second
    for i in range(n):
        t = 0.1 + i * 2 / 40_000
        pitch = 21 + (i * 7) % 88  # re-strikes of a sounding pitch included
        s.engine.on_message(mido.Message("note_on", note=pitch, velocity=1 + i % 127), t)
        s.engine.on_message(mido.Message("note_off", note=21 + (i * 7 + 44) % 88), t + 1 / 40_000)
        if i % 200 == 0:
            s.engine.tick(t)
    report = s.engine.stop()
    recorder.close()
    recorded = read_midi_tracks(tmp_path / "flood.mid")["human"]
    assert report["human_notes"] == n == len(recorded)
    assert report["stuck_notes"] == 0


def test_the_input_queue_losses_rtmidi_prints_are_counted_and_the_rest_of_stderr_passes(capfd):
    lost = []
    with counting_input_losses(lost.append):
        os.write(2, b"a line of our own\n")
        for _ in range(500):  # as RtMidi.cpp writes it: a blank line, the message, a blank line
            os.write(2, b"\nMidiInJack: message queue limit reached!!\n\n")
        os.write(2, b"\nanother line\n")
    assert sum(lost) == 500
    err = capfd.readouterr().err
    assert err == "a line of our own\nanother line\n", err[:200]  # the blank lines around rtmidi's go with it


@pytest.mark.jack
def test_the_polled_input_keeps_every_message_while_the_interpreter_is_busy(tmp_path):
    """Why the input is polled: 20,000 note pairs sent in bursts by a thread that never lets go of the GIL. Through
    an rtmidi callback (run in JACK's process cycle) they came twice or not at all (6,677 whole pairs); read from
    rtmidi's queue, every one arrives, in order."""
    with jack_dummy_server(tmp_path / "jackd.log"):
        b = mido.Backend(f"mido.backends.rtmidi/{CLIENT_API}", load=True)
        sender = b.open_output("Flood Out", virtual=True, client_name="flood")
        got: list[list[int]] = []
        inp = PolledInput(lambda data, t_s: got.append(data), api=CLIENT_API,
                          port=wait_for_port("input", "Flood Out"))
        try:
            time.sleep(0.2)
            for i in range(20_000):
                sender.send(mido.Message("note_on", note=21 + i % 88, velocity=80))
                sender.send(mido.Message("note_off", note=21 + i % 88))
                until = time.monotonic() + 0.0001
                while time.monotonic() < until:  # busy: holds the GIL
                    pass
            deadline = time.monotonic() + 5
            while len(got) < 40_000 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            inp.close()
            sender.close()
    pairs = sum(a[0] == 0x90 and b[0] == 0x80 and a[1] == b[1] for a, b in zip(got[::2], got[1::2]))
    assert len(got) == 40_000 and pairs == 20_000, (len(got), pairs)


@pytest.mark.jack
@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_ten_thousand_messages_a_second_into_jam_all_register(tmp_path):
    """A real `jam` (mock model) flooded through its virtual input: every note registers, the report's input count
    is every message sent (less the echoes it says it suppressed), nothing is lost in its queue."""
    with jack_dummy_server(tmp_path / "jackd.log"):
        proc = subprocess.Popen([sys.executable, "-m", "tatumflow.cli", "jam", "--mock", "--api", "jack", "--mode",
                                 "duet", "--no-tui", "--report", str(tmp_path / "r.json")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            client = JackClient()
            time.sleep(0.5)
            n, t0 = 5_000, time.monotonic()
            for i in range(n):  # 10,000 messages a second for a second
                while time.monotonic() < t0 + i / 5_000:
                    time.sleep(0.00005)
                client.out.send(mido.Message("note_on", note=21 + (i * 7) % 88, velocity=1 + i % 127))
                client.out.send(mido.Message("note_off", note=21 + (i * 7) % 88))
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.1)
        client.close()
    report = json.loads((tmp_path / "r.json").read_text())
    print({k: report[k] for k in ("human_notes", "input_messages", "input_lost", "echoes_suppressed")})
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert report["human_notes"] == n, out.decode(errors="replace")[-3000:]
    assert report["input_messages"] + report["echoes_suppressed"] == 2 * n  # echoes: note-ons only, none here
    assert report["input_lost"] == 0
