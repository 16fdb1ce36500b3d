"""A private JACK dummy server and an outside MIDI client: the JACK part of `tatumflow bench` (the harness ships in
the package, so its launcher does), the JACK tests (tests/realtime/jack.py) and benchmarks/realtime_jack. Nothing of
the live path imports it.

`jack_dummy_server()` starts `jackd -d dummy` (`start_jackd`) under a private server name (exported as
JACK_DEFAULT_SERVER while it runs, so every JACK client of this process uses it) and stops it afterwards;
`JackUnavailable` says why it could not (callers skip). `wait_for_port` finds a port by a fragment of its name;
`play_into_port` plays notes into a port in real time, as an outside keyboard would.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import mido

from ..notes import Note, note_messages
from ..realtime.ports.jack_input import die_with_parent

JACK_API = "UNIX_JACK"
START_TIMEOUT_S = 8.0
ENV_KEYS = ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")


class JackUnavailable(RuntimeError):
    """No JACK dummy server can run here (jackd missing, or it would not start)."""


SHM_REGISTRY = Path("/dev/shm/jack-shm-registry")
_SLOTS, _SLOT0, _SLOT_BYTES = 8, 24, 264  # jack2 shm.h: 8 servers of (pid_t pid, char name[257]) after a 24-byte header


def reclaim_dead_server_slots(registry: Path = SHM_REGISTRY) -> int:
    """Free the slots of JACK servers that died without unregistering (kill -9); returns how many were freed.

    jack2 keeps 8 server slots in shared memory and reclaims a dead server's slot only for a server of the same name:
    8 private servers killed with SIGKILL and no jackd starts on the machine again ("Too many servers already
    active"). A slot whose pid no longer exists is zeroed; a live one is never touched."""
    try:
        with open(registry, "r+b") as f:
            data = bytearray(f.read(_SLOT0 + _SLOTS * _SLOT_BYTES))
            freed = 0
            for i in range(_SLOTS):
                off = _SLOT0 + i * _SLOT_BYTES
                pid = int.from_bytes(data[off:off + 4], "little", signed=True)
                if pid > 0 and not _alive(pid):
                    f.seek(off)
                    f.write(bytes(_SLOT_BYTES))
                    freed += 1
            return freed
    except OSError:  # no registry (no jack2, or never started): nothing to free
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _client_ok() -> bool:
    import rtmidi

    try:
        rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="tf-probe").delete()
        return True
    except Exception:  # no server (yet)
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def start_jackd(jackd: str, name: str, log: IO[bytes], try_realtime: bool = True) -> subprocess.Popen:
    """`jackd -d dummy` named `name`, its output to `log`: with realtime scheduling first when asked (it may be
    refused outside root), else without; `JackUnavailable` (with jackd's last words) when neither starts.

    Realtime matters on a loaded box: without it a client whose process thread misses a 2.7 ms cycle loses the MIDI
    it wrote in that cycle (measured: 3 of 8 SIGHUP stops under two busy processes lost a note-off between the
    session and both listeners; 0 of 10 with realtime)."""
    reclaim_dead_server_slots()
    attempts: list[list[str]] = ([[]] if try_realtime else []) + [["--no-realtime"]]
    for realtime in attempts:
        proc = subprocess.Popen([jackd, *realtime, "-n", name, "-d", "dummy", "-r", "48000", "-p", "128"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline and not _client_ok():
            time.sleep(0.1)
        if proc.poll() is None and _client_ok():
            return proc
        _stop(proc)
    log.flush()
    log.seek(0)
    tail = log.read()[-500:].decode(errors="replace")
    raise JackUnavailable(f"jackd -d dummy would not start: {tail}")


@contextlib.contextmanager
def jack_dummy_server(log_path: Path | None = None, try_realtime: bool = True,
                      prefix: str = "tatumflow") -> Iterator[str]:
    """Run a private `jackd -d dummy` (48 kHz, 128 frames) for the block; yields its server name."""
    jackd = shutil.which("jackd")
    if jackd is None:
        raise JackUnavailable("jackd not installed (apt-get install --no-install-recommends jackd2)")
    name = f"{prefix}-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    log: IO[bytes]
    with open(log_path, "a+b") if log_path is not None else tempfile.TemporaryFile() as log:
        proc = None
        try:
            proc = start_jackd(jackd, name, log, try_realtime)
            yield name
        finally:
            if proc is not None:
                gc.collect()  # ports nobody holds are freed while their server runs (freed after, they crash libjack)
                _stop(proc)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def wait_for_port(kind: str, fragment: str, timeout_s: float = 20.0) -> str:
    """The one JACK `kind` ("input"/"output") port whose name contains `fragment`; TimeoutError after `timeout_s`."""
    b = mido.Backend(f"mido.backends.rtmidi/{JACK_API}", load=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        names = b.get_input_names() if kind == "input" else b.get_output_names()
        hits = [n for n in names if fragment in n]
        if len(hits) == 1:  # several: a finished session's port is still being removed by the server
            return hits[0]
        time.sleep(0.1)
    raise TimeoutError(f"no JACK {kind} port containing {fragment!r} after {timeout_s} s")


def play_into_port(out: mido.ports.BaseOutput, notes: Sequence[Note]) -> float:
    """Play notes in real time into `out` from now; returns the `time.monotonic()` of the last release."""
    t0 = time.monotonic() + 0.02
    for t, msg in note_messages(notes):
        while time.monotonic() < t0 + t:
            time.sleep(min(0.0005, max(t0 + t - time.monotonic(), 0)))
        out.send(msg)
    return time.monotonic()
