"""JACK dummy server and a test MIDI client (player into `TatumFlow In`, listener on `TatumFlow Out`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mido
import pytest

from tatumflow.notes import Note
from tatumflow.realtime.midi_io import close_input

CLIENT_API = "UNIX_JACK"


def _client_ok() -> bool:
    import rtmidi

    try:
        rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="tf-probe").delete()
        return True
    except Exception:
        return False


@contextmanager
def jack_dummy_server(log_path: Path) -> Iterator[str]:
    """Start `jackd -d dummy` under a private server name (exported as JACK_DEFAULT_SERVER); stop it afterwards."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd not installed (apt-get install --no-install-recommends jackd2)")
    name = f"tatumflow-test-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    proc = None
    try:
        for realtime in ([], ["--no-realtime"]):  # realtime scheduling may be refused outside root
            with open(log_path, "ab") as log:
                proc = subprocess.Popen([jackd, *realtime, "-n", name, "-d", "dummy", "-r", "48000", "-p", "128"],
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 8
            while proc.poll() is None and time.monotonic() < deadline and not _client_ok():
                time.sleep(0.1)
            if proc.poll() is None and _client_ok():
                break
            _stop(proc)
            proc = None
        if proc is None:
            pytest.skip(f"jackd would not start; see {log_path}: {log_path.read_text(errors='replace')[-500:]}")
        yield name
    finally:
        if proc is not None:
            _stop(proc)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_for_port(kind: str, fragment: str, timeout_s: float = 20.0) -> str:
    b = mido.Backend(f"mido.backends.rtmidi/{CLIENT_API}", load=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        names = b.get_input_names() if kind == "input" else b.get_output_names()
        hits = [n for n in names if fragment in n]
        if len(hits) == 1:  # several: a finished session's port is still being removed by the server
            return hits[0]
        time.sleep(0.1)
    raise TimeoutError(f"no JACK {kind} port containing {fragment!r} after {timeout_s} s")


class JackClient:
    """Plays into `TatumFlow In` and records what arrives on `TatumFlow Out`, stamped with time.monotonic()."""

    def __init__(self, play: bool = True) -> None:
        b = mido.Backend(f"mido.backends.rtmidi/{CLIENT_API}", load=True)
        self.received: list[tuple[float, mido.Message]] = []
        self._lock = threading.Lock()
        self.out = b.open_output(wait_for_port("output", "TatumFlow In")) if play else None
        self.inp = b.open_input(wait_for_port("input", "TatumFlow Out"), callback=self._on)

    @classmethod
    def listener(cls) -> JackClient:
        """Only listens on `TatumFlow Out` (the engine reads another input)."""
        return cls(play=False)

    def _on(self, msg: mido.Message) -> None:
        with self._lock:
            self.received.append((time.monotonic(), msg))

    def play(self, notes: list[Note]) -> float:
        """Play notes in real time from now; returns the monotonic time of the last release."""
        events = []
        for n in notes:
            events.append((n.onset_s, 1, mido.Message("note_on", note=n.pitch, velocity=n.velocity)))
            events.append((n.end_s, 0, mido.Message("note_off", note=n.pitch)))
        events.sort(key=lambda e: (e[0], e[1]))
        t0 = time.monotonic() + 0.02
        for t, _, msg in events:
            while time.monotonic() < t0 + t:
                time.sleep(min(0.0005, max(t0 + t - time.monotonic(), 0)))
            self.out.send(msg)
        return time.monotonic()

    def messages(self) -> list[tuple[float, mido.Message]]:
        with self._lock:
            return list(self.received)

    def note_ons(self, after: float = 0.0) -> list[float]:
        return [t for t, m in self.messages() if t >= after and m.type == "note_on" and m.velocity > 0]

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
        close_input(self.inp)
