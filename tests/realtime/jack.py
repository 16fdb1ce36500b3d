"""JACK dummy server and a test MIDI client (player into `TatumFlow In`, listener on `TatumFlow Out`), over the
library's helpers in `tatumflow.realtime.jack`; a missing or failing jackd skips the test with the reason."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest

from tatumflow.notes import Note
from tatumflow.realtime import jack
from tatumflow.realtime.midi_io import close_input, keep_forever

CLIENT_API = jack.JACK_API
wait_for_port = jack.wait_for_port


@contextlib.contextmanager
def jack_dummy_server(log_path: Path) -> Iterator[str]:
    """`jack.jack_dummy_server` for a test: skipped (with jackd's own words) when it cannot run. Test clients still
    open when it ends are closed before the server stops."""
    with contextlib.ExitStack() as stack:
        try:
            name = stack.enter_context(jack.jack_dummy_server(log_path, prefix="tatumflow-test"))
        except jack.JackUnavailable as err:
            pytest.skip(str(err))
        try:
            yield name
        finally:
            close_open_clients()


_OPEN_CLIENTS: list[JackClient] = []  # strong references: a client is never freed by the collector, only closed


def close_open_clients() -> None:
    """Close every test client a test left open (a failed assertion skips its close), while its server still runs:
    an rtmidi port freed after its server stopped crashes the process in libjack, minutes later, in another test."""
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS[-1].close()


def abandon_clients() -> None:
    """The server of every open test client was killed: their ports are kept, never closed or freed."""
    for client in _OPEN_CLIENTS:
        for port in (client.inp, client.out):
            if port is not None:
                keep_forever(port)
    _OPEN_CLIENTS.clear()


class JackClient:
    """Plays into `TatumFlow In` and records what arrives on `TatumFlow Out`, stamped with time.monotonic()."""

    def __init__(self, play: bool = True) -> None:
        b = mido.Backend(f"mido.backends.rtmidi/{CLIENT_API}", load=True)
        self.received: list[tuple[float, mido.Message]] = []
        self._lock = threading.Lock()
        self.out: mido.ports.BaseOutput | None = None
        self.inp: mido.ports.BaseInput | None = None
        _OPEN_CLIENTS.append(self)
        try:
            self.out = b.open_output(wait_for_port("output", "TatumFlow In")) if play else None
            self.inp = b.open_input(wait_for_port("input", "TatumFlow Out"), callback=self._on)
        except BaseException:
            self.close()
            raise

    @classmethod
    def listener(cls) -> JackClient:
        """Only listens on `TatumFlow Out` (the engine reads another input)."""
        return cls(play=False)

    def _on(self, msg: mido.Message) -> None:
        with self._lock:
            self.received.append((time.monotonic(), msg))

    def play(self, notes: list[Note]) -> float:
        """Play notes in real time from now; returns the monotonic time of the last release."""
        assert self.out is not None, "a listener does not play"
        return jack.play_into_port(self.out, notes)

    def messages(self) -> list[tuple[float, mido.Message]]:
        with self._lock:
            return list(self.received)

    def note_ons(self, after: float = 0.0) -> list[float]:
        return [t for t, m in self.messages() if t >= after and m.type == "note_on" and m.velocity > 0]

    def close(self) -> None:
        if self in _OPEN_CLIENTS:
            _OPEN_CLIENTS.remove(self)
        if self.out is not None:
            self.out.close()
        if self.inp is not None:
            close_input(self.inp)
