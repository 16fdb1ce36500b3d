"""The studio misbehaves, with a real JACK dummy server: the server killed mid-duet (exit and wait), SIGHUP
mid-reply. Each test runs `tatumflow jam` as a user would, with a private jackd it may kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import mido
import pytest

from tatumflow.bench import jackd as jack
from tatumflow.notes import read_midi_tracks
from tatumflow.realtime.ports.midi_io import close_input, open_input

from .conftest import assert_balanced, phrase
from .jack import JackClient, RawListener, abandon_clients, assert_silent, close_open_clients

pytestmark = pytest.mark.jack


def _jackd(name: str) -> subprocess.Popen:
    """A server these tests may kill with SIGKILL (start_jackd frees a killed one's slot first); realtime where
    allowed, as `jack_dummy_server`."""
    try:
        with tempfile.TemporaryFile() as log:
            return jack.start_jackd(shutil.which("jackd") or "jackd", name, log)
    except jack.JackUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture
def server(monkeypatch):
    if shutil.which("jackd") is None:
        pytest.skip("jackd not installed")
    name = f"tf-survive-{os.getpid()}-{time.monotonic_ns() % 10**6}"  # a killed server's slot: reclaimed in _jackd
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    procs = [_jackd(name)]
    yield name, procs
    close_open_clients()  # what a failed test left open, while its server still runs
    for p in procs:
        if p.poll() is None:
            p.terminate()  # a clean stop unregisters the server
        p.wait()


def _jam(tmp_path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tatumflow.cli", "jam", "--mock", "--api", "jack", "--record",
           str(tmp_path / "s.mid"), "--report", str(tmp_path / "r.json"), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_server(procs) -> float:
    procs[-1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    procs[-1].wait()  # reaped, as a shell or a patchbay would
    abandon_clients()  # ports of a dead server: never closed or freed (closing them crashes in libjack)
    return killed


def _duet_until_replying(client: JackClient, n: int = 10) -> None:
    client.play(phrase(start_s=0.0, n=8, gap_s=0.15))
    deadline = time.monotonic() + 10
    while len(client.note_ons()) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(client.note_ons()) >= n, "the duet did not start"


def _stamped_lines(proc: subprocess.Popen) -> tuple[threading.Thread, list[tuple[float, str]]]:
    """A thread reading `proc`'s output as it comes, each line with the monotonic time it arrived."""
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for raw in proc.stdout:
            lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, lines


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_server_killed_mid_duet_says_so_within_a_second_then_exits_with_report_and_recording(server, tmp_path):
    _, procs = server
    proc = _jam(tmp_path, "--mode", "duet", "--on-server-loss", "exit", "--duration", "60")
    reader, lines = _stamped_lines(proc)
    client = JackClient()
    _duet_until_replying(client)
    killed = _kill_server(procs)
    proc.wait(timeout=20)
    took = time.monotonic() - killed
    reader.join(timeout=5)
    text = "\n".join(line for _, line in lines)
    said = [t - killed for t, line in lines if "JACK server went away at" in line]
    heard = len(client.note_ons())
    print(f"server loss: said so {said[0] if said else float('nan'):.2f} s and exited {took:.2f} s after the kill")
    assert proc.returncode == 2, text[-2000:]
    assert said and said[0] < 1.0, f"the loss was logged {said} s after the kill"  # the README's "within a second"
    # The exit itself adds the interpreter's teardown with torch loaded (~0.7 s alone on the slow Zen 3 box, where
    # the whole took 1.9-2.2 s): a bound that catches a hang on a dead server's client, not a timing target.
    assert took < 10.0, f"{took:.2f} s from the kill to the exit"
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "JACK server went away" in errors[0], text[-2000:]
    assert "Traceback" not in text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["server_losses"] == 1
    assert abs(report["notes_sent"] - heard) <= 1, (report["notes_sent"], heard)
    recorded = read_midi_tracks(tmp_path / "s.mid")["tatumflow"]
    print(f"sent {report['notes_sent']}, heard {heard}, recorded {len(recorded)}")
    assert abs(len(recorded) - report["notes_sent"]) <= 1


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_server_killed_and_back_the_session_carries_on(server, tmp_path):
    name, procs = server
    proc = _jam(tmp_path, "--mode", "duet", "--duration", "60")
    try:
        client = JackClient()
        _duet_until_replying(client, n=4)
        _kill_server(procs)
        time.sleep(1.5)
        procs.append(_jackd(name))
        again = JackClient()  # the ports are back: the player and the listener connect to them anew
        _duet_until_replying(again, n=4)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.2)
    again.close()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert json.loads((tmp_path / "r.json").read_text())["server_losses"] == 1, out.decode(errors="replace")[-3000:]
    assert_balanced(again.messages())


# Judged on what JACK delivered (RawListener, outside Python). In one clean-clone CI run the callback listener kept one
# note sounding in all 3 attempts; not seen since (alone, in the full suite); where the two listeners disagree the
# test prints it (the callback waits for this process's GIL inside JACK's cycle and can lose a message).
def _stopped_mid_reply(tmp_path, stop, after_s: float) -> tuple[subprocess.Popen, str, JackClient, RawListener]:
    """A call-response session that `stop(proc)` ends `after_s` into its reply; its output, the callback listener
    and what JACK delivered to a listener outside Python (`after_s` later, for whatever comes after the end)."""
    proc = _jam(tmp_path, "--mode", "call-response")
    raw = None
    try:
        client = JackClient()
        raw = RawListener.start()
        time.sleep(0.3)
        client.play_until_reply()
        time.sleep(after_s)
        stop(proc)
        out, _ = proc.communicate(timeout=20)
        time.sleep(1.0)  # after a kill -9 the dead man's switch sends: it notices at once
    finally:
        if proc.poll() is None:
            proc.kill()
        if raw is not None:
            raw.close()
    client.close()
    assert raw is not None, "jack_midi_dump is needed (jackd2)"
    return proc, out.decode(errors="replace"), client, raw


# Judged on what JACK delivered (RawListener, outside Python). In one clean-clone CI run the callback listener kept one
# note sounding in all 3 attempts; not seen since (alone, in the full suite); where the two listeners disagree the
# test prints it (the callback waits for this process's GIL inside JACK's cycle and can lose a message).
@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_sighup_mid_reply_leaves_nothing_sounding_and_writes_everything(server, tmp_path):
    proc, text, client, raw = _stopped_mid_reply(tmp_path, lambda p: p.send_signal(signal.SIGHUP), 0.1)
    assert proc.returncode == 0, text[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    print(f"report: stuck {report['stuck_notes']}, sent {report['notes_sent']}; jam said: {text[-600:]}")
    assert_silent(client, raw)
    assert report["stuck_notes"] == 0
    assert read_midi_tracks(tmp_path / "s.mid")["tatumflow"]
    assert isinstance(mido.MidiFile(tmp_path / "s.mid"), mido.MidiFile)


def _two_signals(first: int, second: int):
    def send(proc: subprocess.Popen) -> None:
        proc.send_signal(first)
        time.sleep(0.05)
        proc.send_signal(second)  # an impatient Ctrl-C, or a supervisor's SIGTERM after the terminal closed

    return send


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
@pytest.mark.parametrize("first, second", [(signal.SIGHUP, signal.SIGHUP), (signal.SIGINT, signal.SIGINT),
                                           (signal.SIGUSR1, signal.SIGTERM)], ids=["hup-hup", "int-int", "usr1-term"])
def test_a_second_signal_during_the_stop_neither_kills_the_report_nor_leaves_a_note(server, tmp_path, first, second):
    proc, text, client, raw = _stopped_mid_reply(tmp_path, _two_signals(first, second), 0.1)
    assert proc.returncode == 0, text[-2000:]
    assert "Traceback" not in text
    report = json.loads((tmp_path / "r.json").read_text())
    print(f"report: duration {report['duration_s']:.2f} s, stuck {report['stuck_notes']}, sent "
          f"{report['notes_sent']}; jam said: {text[-400:]}")
    assert report["duration_s"] > 0.5 and report["stuck_notes"] == 0
    assert_silent(client, raw)
    recorded = read_midi_tracks(tmp_path / "s.mid")["tatumflow"]
    assert recorded and abs(len(recorded) - report["notes_sent"]) <= 1  # the reply is in the recording


def test_sigterm_while_the_model_loads_still_writes_the_report(server, tmp_path):
    """The real model (loading takes seconds): SIGTERM right after the options are checked stops a session of no
    length, with its report and recording, as the README promises for every stop."""
    cmd = [sys.executable, "-m", "tatumflow.cli", "jam", "--api", "jack", "--no-tui", "--device", "cpu", "--record",
           str(tmp_path / "s.mid"), "--report", str(tmp_path / "r.json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode(errors="replace")
        assert "Ctrl-C to stop" in first, first  # configured; the model loads now
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = first + out.decode(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["stuck_notes"] == 0 and report["notes_sent"] == 0
    assert isinstance(mido.MidiFile(tmp_path / "s.mid"), mido.MidiFile)


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_kill_9_mid_reply_the_dead_mans_switch_silences_the_synth(server, tmp_path):
    _, out, _, raw = _stopped_mid_reply(tmp_path, lambda p: os.kill(p.pid, signal.SIGKILL), 0.05)
    print(out[-300:])
    heard = raw.messages()
    ons = [m for _, m in heard if m.type == "note_on" and m.velocity > 0]
    assert ons, "the listener heard no reply"
    assert raw.skipped == 0, f"the listener itself skipped {raw.skipped} messages"
    assert_balanced(heard)  # every note the killed session left sounding got its note-off from the guard
    offs = [m for _, m in heard if m.type == "control_change" and m.control == 123]
    assert len(offs) >= 16  # and all-notes-off on every channel


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_kill_9_mid_reply_a_named_output_is_silenced_too(server, tmp_path):
    b = mido.Backend(f"mido.backends.rtmidi/{jack.JACK_API}", load=True)
    heard: list[mido.Message] = []
    synth = open_input(b, "Fake Synth", heard.append, virtual=True, client_name="fakesynth")
    try:
        proc = _jam(tmp_path, "--mode", "call-response", "--out", "Fake Synth")
        try:
            keys = JackClient.player()
            time.sleep(0.5)
            keys.play(phrase(start_s=0.0, n=4, gap_s=0.2))
            deadline = time.monotonic() + 5
            while not any(m.type == "note_on" for m in heard) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert any(m.type == "note_on" for m in heard), "no reply before the kill"
            time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=20)
            time.sleep(1.0)
        finally:
            if proc.poll() is None:
                proc.kill()
        keys.close()
    finally:
        close_input(synth)
    assert_balanced([(0.0, m) for m in heard])
    assert "all notes off sent to 1 output(s)" in out.decode(errors="replace")


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # a timing on 2 shared cores
@pytest.mark.parametrize("args, message", [
    (["--in", "No Such Keys"], "--in: no MIDI input port 'No Such Keys'"),
    (["--out", "No Such Synth"], "--out: no MIDI output port 'No Such Synth'"),
], ids=["in", "out"])
def test_a_mistyped_port_is_refused_in_under_a_second_before_the_model_loads(server, tmp_path, args, message):
    """The real model would take seconds to load: the port is checked first, by the process a user runs. Timed
    beyond what starting Python and importing the session costs on this machine (measured alongside)."""
    def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, timeout=60)
        return time.monotonic() - t0, done

    startup_cmd = [sys.executable, "-c", "import tatumflow.cli, tatumflow.realtime.session.session"]
    cmd = [sys.executable, "-m", "tatumflow.cli", "jam", "--api", "jack", "--no-tui", "--report",
           str(tmp_path / "r.json"), *args]
    startup = min(timed(startup_cmd)[0] for _ in range(3))  # the best of three: the machine is shared
    took, done = min((timed(cmd) for _ in range(3)), key=lambda r: r[0])
    err = done.stderr.decode(errors="replace")
    print(f"{args[0]} refused after {took:.2f} s, {took - startup:.2f} s past starting Python and importing")
    assert done.returncode == 2, err[-2000:]
    assert message in err and len(err.strip().splitlines()) == 1, err[-2000:]
    assert not (tmp_path / "r.json").exists()
    assert took - startup < 1.0, f"{took:.2f} s, of which {startup:.2f} s starting and importing"


def _kill_the_generator(proc: subprocess.Popen) -> None:
    """SIGKILL the jam's generator process (generate/process.py: a child running tatumflow.generate.serve)."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "tatumflow.generate.serve"], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 1, f"the jam's generator process: {children}"
    os.kill(int(children[0]), signal.SIGKILL)


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_the_generator_process_killed_mid_reply_ends_the_session_cleanly(server, tmp_path):
    """The model's process dies (the OOM killer, a crash): the session stops as on every stop path, with its
    note-offs, report and recording, and says why in one line, exit 1 (not the user's input)."""
    proc, text, client, raw = _stopped_mid_reply(tmp_path, _kill_the_generator, 0.1)
    assert proc.returncode == 1, text[-2000:]
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the generator process is gone" in errors[0], text[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["stuck_notes"] == 0
    assert_silent(client, raw)
    assert isinstance(mido.MidiFile(tmp_path / "s.mid"), mido.MidiFile)


@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
def test_ctrl_c_at_a_terminal_reaches_the_whole_group_and_still_stops_cleanly(server, tmp_path):
    """A terminal's Ctrl-C signals the jam's whole process group, the generator's process too if it were in it:
    the session must stop as on its own SIGINT (exit 0, report, silence), not fail on a generator that died first."""
    proc, text, client, raw = _stopped_mid_reply(tmp_path, lambda p: os.killpg(p.pid, signal.SIGINT), 0.1)
    assert proc.returncode == 0, text[-2000:]
    assert "Traceback" not in text and "error:" not in text, text[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["stuck_notes"] == 0
    assert_silent(client, raw)
