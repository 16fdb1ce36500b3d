"""JACK dummy server and a test MIDI client (player into `TatumFlow In`, listener on `TatumFlow Out`), over the
library's helpers in `tatumflow.bench.jackd`; a missing or failing jackd skips the test with the reason."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest

from tatumflow.bench import jackd as jack
from tatumflow.notes import Note
from tatumflow.realtime.ports.jack_input import parse_line
from tatumflow.realtime.ports.midi_io import close_input, keep_forever, open_input

from .conftest import assert_balanced, phrase

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

    def __init__(self, play: bool = True, listen: bool = True) -> None:
        b = mido.Backend(f"mido.backends.rtmidi/{CLIENT_API}", load=True)
        self.received: list[tuple[float, mido.Message]] = []
        self._lock = threading.Lock()
        self.out: mido.ports.BaseOutput | None = None
        self.inp: mido.ports.BaseInput | None = None
        _OPEN_CLIENTS.append(self)
        try:
            self.out = b.open_output(wait_for_port("output", "TatumFlow In")) if play else None
            self.inp = open_input(b, wait_for_port("input", "TatumFlow Out"), self._on) if listen else None
        except BaseException:
            self.close()
            raise

    @classmethod
    def player(cls) -> JackClient:
        """Only plays into `TatumFlow In` (the engine plays to another output)."""
        return cls(listen=False)

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

    def play_until_reply(self, limit_s: float = 5.0) -> float:
        """Play a 4-note phrase and wait for the first note of the reply; returns the release (fails without one)."""
        released = self.play(phrase(start_s=0.0, n=4, gap_s=0.2))
        deadline = time.monotonic() + limit_s
        while not self.note_ons(after=released) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.note_ons(after=released), f"no reply within {limit_s:g} s of the phrase"
        return released

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


class RawListener:
    """A second listener on `TatumFlow Out` outside Python: JACK's own `jack_midi_dump`, in its own process.

    The rtmidi callback of `JackClient` runs in JACK's process cycle and waits there for this process's GIL; when it
    waits longer than a cycle, messages arrive twice or not at all (benchmarks/realtime_jack/flood/). This one has no
    GIL, so it tells a message lost by the test's callback from one the engine never sent. `None` from `start` when
    jack_midi_dump is not installed."""

    _names = itertools.count()

    def __init__(self, proc: subprocess.Popen, path: Path) -> None:
        self._proc, self._path = proc, path
        self._text = ""  # what it wrote, read at each call and kept at close
        self.skipped = 0  # messages it could not keep (its ring holds 100), known at close

    @classmethod
    def start(cls, fragment: str = "TatumFlow Out") -> RawListener | None:
        dump = shutil.which("jack_midi_dump")
        if dump is None:
            return None
        name = f"rawlisten{os.getpid()}-{next(cls._names)}"
        fd, path = tempfile.mkstemp(prefix=name, suffix=".txt")
        os.close(fd)
        argv = [dump, name] if shutil.which("stdbuf") is None else ["stdbuf", "-oL", dump, name]
        with open(path, "ab") as log, open(path + ".err", "ab") as err:  # read by path: no shared offset
            proc = subprocess.Popen(argv, stdout=log, stderr=err)
        listener = cls(proc, Path(path))
        try:
            _connect(_jack_port(fragment), _jack_port(f"{name}:input"))
        except BaseException:
            listener.close()
            raise
        return listener

    def messages(self) -> list[tuple[float, mido.Message]]:
        """What arrived so far, stamped with JACK frames (not seconds: only the order counts)."""
        if self._path.exists():
            self._text = self._path.read_text(errors="replace")
        got = []
        for line in self._text.splitlines():
            data = parse_line(line.encode())
            if data is None:  # jack_midi_dump's own words
                continue
            with contextlib.suppress(ValueError):  # bytes that are no whole message
                got.append((float(line.partition(":")[0]), mido.Message.from_bytes(data)))
        return got

    def close(self) -> None:
        if not self._path.exists():
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self.messages()
        err = self._path.with_name(self._path.name + ".err")
        self.skipped = err.read_text(errors="replace").count("ringbuffer was full")
        self._path.unlink()
        err.unlink()


def assert_silent(client: JackClient, raw: RawListener | None) -> None:
    """Nothing sounds on `TatumFlow Out`: judged on what JACK delivered (the raw listener) when there is one; where
    the test's callback listener disagrees, it lost messages (printed, for the record), the engine did not."""
    if raw is None:
        assert_balanced(client.messages())
        return
    if raw.skipped:  # its ring of 100 overflowed (a panic's burst on a starved box): a note-off may be missing there
        try:
            assert_balanced(raw.messages())
        except AssertionError as err:  # the callback listener cannot invent note-offs: balanced there, they were sent
            print(f"the raw listener skipped {raw.skipped} messages ({err}); judged on the callback listener")
            assert_balanced(client.messages())
        return
    assert_balanced(raw.messages())
    try:
        assert_balanced(client.messages())
    except AssertionError as err:
        print(f"the callback listener lost messages JACK delivered ({err}); the raw listener heard them all")


def _jack_port(fragment: str, timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        names = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.splitlines()
        hits = [n for n in names if fragment in n]
        if len(hits) == 1:
            return hits[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no single JACK port containing {fragment!r}: {hits}")
        time.sleep(0.05)


def _connect(src: str, dst: str) -> None:
    done = subprocess.run(["jack_connect", src, dst], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"jack_connect {src} {dst}: {done.stderr.strip()}")
