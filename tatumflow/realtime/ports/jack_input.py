"""A JACK MIDI input that never waits for Python: JACK's own `jack_midi_dump`, in a process of its own, reads the port.

rtmidi calls our input callback inside JACK's process cycle, where it waits for this process's GIL; when the wait
outlasts a cycle JACK reuses the port buffer under it and messages come twice or not at all (a flood of 10,000
messages a second kept 72 % of its notes: benchmarks/realtime_jack/flood/). `jack_midi_dump` (C, shipped with
jackd2) copies each cycle's events into a lock-free ring inside the cycle and prints them from another thread;
`DumpPort` reads its stdout here, parses each line back into a message and calls the callback. Nothing in the
cycle waits for Python: when this side falls behind, the pipe fills, its ring fills, and it says so on stderr for
every message it skips. It writes that line from inside JACK's cycle, so its stderr goes to `grep -c` (C, never
behind) rather than to a Python thread that could let the pipe fill and stall the cycle; the count comes when the
port closes (`DumpPort.lost`, `on_lost`). So every input message is either delivered or counted. A line that is not
a whole, known MIDI message (a truncated Song Position Pointer `f2 00`, a stray data byte, an undefined status) is
dropped and counted (`DumpPort.errors`; one warning line at the first and the total at close), never raised.

The port is `CLIENT:input` (the client named after our input port, e.g. `TatumFlow In:input`); a named source is
connected to it through libjack (watchdog.libjack). `available()` says whether the tool is installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

import mido
from mido.messages.specs import SPEC_BY_STATUS

from ...signals import wait_or_kill
from .watchdog import JackQuery, libjack

log = logging.getLogger(__name__)

TOOL = "jack_midi_dump"
SKIPPED = "ringbuffer was full"  # in its stderr line for each message it could not keep
START_TIMEOUT_S = 5.0


def die_with_parent() -> None:
    """In a child before exec (Linux): SIGTERM when the parent dies, so that a killed session leaves no
    `jack_midi_dump` holding its port name, and a crashed test run no jackd (each holds one of jack2's 8 server
    slots; bench/jackd.py)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def available() -> bool:
    return shutil.which(TOOL) is not None and libjack() is not None


def parse_line(line: bytes) -> bytes | None:
    """The message bytes of one `jack_midi_dump` line (`  123: 90 3c 50 note on ...`), None for any other line."""
    _, sep, rest = line.partition(b":")
    if not sep:
        return None
    data = bytearray()
    for word in rest.split():
        if len(word) != 2:
            break
        try:
            data.append(int(word, 16))
        except ValueError:
            break
    return bytes(data) if data and data[0] >= 0x80 else None


def _is_event_line(line: bytes) -> bool:
    """Whether a line is one of the tool's event lines (`  123: 3c 50`) whatever its bytes."""
    head, sep, rest = line.partition(b":")
    return bool(sep) and head.strip().isdigit() and bool(rest.split())


def decode(data: bytes) -> mido.Message | None:
    """The message in `data`, or None when it is not exactly one known message (never raises): the status must be
    one mido knows and the length its message's (a sysex runs from f0 to its f7)."""
    if not data:
        return None
    spec = SPEC_BY_STATUS.get(data[0])
    if spec is None or (spec["type"] != "sysex" and len(data) != spec["length"]):
        return None
    try:
        return mido.Message.from_bytes(data)
    except (ValueError, KeyError, IndexError, TypeError):  # a data byte >= 0x80, a sysex without its end
        return None


class DumpReader:
    """The lines of `jack_midi_dump`, parsed: each whole message goes to `callback`, anything else is counted."""

    def __init__(self, callback: Callable[[mido.Message], None]) -> None:
        self.callback = callback
        self.lines = 0  # lines read from the tool
        self.errors = 0  # message lines that were not one whole, known MIDI message (dropped)

    def feed(self, line: bytes) -> None:
        self.lines += 1
        data = parse_line(line)
        if data is None and not _is_event_line(line):
            return  # not an event: something else the tool printed
        msg = None if data is None else decode(data)
        if msg is None:
            self.errors += 1
            if self.errors == 1:
                log.warning("JACK input: dropped a malformed MIDI message (%s); such messages are counted, not played",
                            line[:40].decode("ascii", "replace").strip())
            return
        self.callback(msg)

    def run(self, pipe: IO[bytes]) -> None:
        for line in pipe:
            self.feed(line)


class DumpPort:
    """One JACK MIDI input read by a `jack_midi_dump` process; `callback(msg)` runs on a reader thread here."""

    def __init__(self, client_name: str, callback: Callable[[mido.Message], None], source: str | None = None,
                 on_lost: Callable[[int], None] | None = None) -> None:
        tool = shutil.which(TOOL)
        if tool is None or libjack() is None:
            raise OSError(f"{TOOL} and libjack are needed for this input (apt-get install jackd2)")
        self.client_name, self.callback, self.source, self.on_lost = client_name, callback, source, on_lost
        self.lost = 0  # messages jack_midi_dump skipped (its ring was full)
        self.reader = DumpReader(callback)
        before = self._ports()
        # both die with us (a kill -9 of the session must not leave its port behind, taking our name)
        self._counter = subprocess.Popen(["grep", "-c", SKIPPED], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.proc = subprocess.Popen([tool, client_name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._counter.stdin, preexec_fn=die_with_parent)
        assert self._counter.stdin is not None
        self._counter.stdin.close()  # the tool holds the only writing end: its exit is grep's end of input
        self._counter.stdin = None
        self._reader = threading.Thread(target=self.reader.run, args=(self.proc.stdout,), name="jack-in-read",
                                        daemon=True)
        self._reader.start()
        try:
            self.port_name = self._wait_for_port(before)
            if source is not None:
                self._connect(source, self.port_name)
        except BaseException:
            self.close()
            raise

    @property
    def lines(self) -> int:
        return self.reader.lines

    @property
    def errors(self) -> int:
        """Malformed messages dropped so far."""
        return self.reader.errors

    def _ports(self) -> set[str]:
        """The MIDI input ports of the server now whose client carries our name."""
        with JackQuery() as q:
            names = q.midi_ports()
        return {n for n in names if n.startswith(self.client_name) and n.endswith(":input")}

    def _wait_for_port(self, before: set[str]) -> str:
        """The tool's input port once it exists: the one of our name that was not there before it started (JACK
        renames a second client of the same name `NAME-01`)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OSError(f"{TOOL} exited at once (code {self.proc.returncode})")
            new = self._ports() - before
            if new:
                return min(new)
            time.sleep(0.02)
        raise OSError(f"{TOOL} did not register its port within {START_TIMEOUT_S:g} s")

    def _connect(self, source: str, dest: str) -> None:
        with JackQuery() as q:
            q.connect(source, dest)

    def kill(self) -> None:
        """At once (the server is gone: no cycle will let it exit by itself)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._count_lost()

    def _count_lost(self) -> None:
        """Once the tool has exited: what grep counted."""
        if self._counter.returncode is not None:
            return
        try:
            out, _ = self._counter.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            self._counter.kill()
            out, _ = self._counter.communicate()
        text = out.decode(errors="replace").strip()
        self.lost = int(text) if text.isdigit() else 0
        if self.lost and self.on_lost is not None:
            self.on_lost(self.lost)

    def _drain(self, quiet_s: float = 0.1, limit_s: float = 3.0) -> None:
        """Let the reader catch up before the tool is stopped: on SIGINT it exits without printing what is still in
        its ring (uncounted: a CI run lost 174 of a 15,000-message flood that way)."""
        deadline = time.monotonic() + limit_s
        seen, still_since = self.lines, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - still_since < quiet_s:
            time.sleep(0.02)
            if self.lines != seen:
                seen, still_since = self.lines, time.monotonic()

    def close(self) -> None:
        if self.proc.poll() is None:
            self._drain()
            self.proc.send_signal(signal.SIGINT)  # its handler closes its JACK client; it exits at the next cycle
            wait_or_kill(self.proc, 2.0)  # no cycles come (the server is gone): it would wait for ever
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=2)
        self._count_lost()
        if self.errors:
            log.warning("JACK input: %d malformed MIDI messages dropped", self.errors)
