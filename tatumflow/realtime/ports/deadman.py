"""A dead man's switch for the synth: after a kill -9 (or a crash) of the session, all notes off anyway.

A clean stop sends its own note-offs; a killed process sends nothing, and a synth holds what was sounding. `DeadMan`
starts a small process of its own (`python -m tatumflow.realtime.ports.deadman`: mido and rtmidi, no torch, no audio)
that holds a pipe from the session. On a clean stop the session writes `bye` and closes the pipe: the guard just
exits. A pipe that closes without `bye` means the session died: the guard sends sustain off, all-sound-off and
all-notes-off on every channel, and a note-off for every key of the session's channels, to every output the
session had:

- a named port: the guard opens it itself;
- the virtual `TatumFlow Out` on JACK: that port dies with the session, so the guard asks JACK, twice a second,
  where it is connected; after the death it connects a port of its own to the same places and sends there. JACK
  renames a second client of the same name (`TatumFlow-01`) and does not say which process owns a client, so the
  session finds its own port (the one that appeared when it opened its outputs: `DeadMan.outputs_opened`) and tells
  the guard through the pipe (`port NAME`).

Not covered: the virtual port on ALSA or CoreMIDI (no ALSA sequencer on the machines this is tested on) and the
built-in FluidSynth (its sound dies with the process).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence

import mido

from ...signals import wait_or_kill
from .environment import is_jack
from .midi_io import JACK_PORT_NAMES, OUT_PORT_NAME, VIRTUAL, backend, resolve_port
from .panic import MIDI_CHANNELS, every_key
from .panic import panic_messages as panic_list
from .watchdog import JackQuery

log = logging.getLogger(__name__)

BYE = b"bye\n"
POLL_S = 0.5  # how often the guard asks JACK where the session's virtual port is connected
SETTLE_S = 0.05  # after connecting its own port: JACK applies connections between cycles
DRAIN_S = 0.2  # before it exits: JACK delivers from a buffer each cycle
GUARD_CLIENT = "TatumFlow-deadman"
GUARD_PORT = "panic"
PACE_MESSAGES, PACE_S = 16, 0.006  # 16 messages, then more than a 128-frame cycle at 48 kHz (2.7 ms)


def panic_messages(channels: Sequence[int]) -> list[mido.Message]:
    """The session's panic (panic.py) when nobody knows what sounds: every key off on `channels`, then sustain off,
    all-sound-off and all-notes-off on all 16 channels."""
    return panic_list(every_key(channels), MIDI_CHANNELS, sound_off=True)


def send_paced(port, messages: Sequence[mido.Message]) -> None:
    """A few dozen messages per JACK cycle, not all in one: a receiver's buffer for a cycle can be small
    (jack_midi_dump keeps 100)."""
    for i in range(0, len(messages), PACE_MESSAGES):
        for m in messages[i:i + PACE_MESSAGES]:
            port.send(m)
        time.sleep(PACE_S)


class DeadMan:
    """The session's side: starts the guard, says `bye` on a clean close."""

    def __init__(self, outputs: Sequence[str], api: str | None, channels: Sequence[int]) -> None:
        args = [sys.executable, "-m", "tatumflow.realtime.ports.deadman", "--parent", str(os.getpid()),
                "--channels", ",".join(str(c) for c in channels)]
        if api:
            args += ["--api", api]
        for out in outputs:
            args += ["--out", out]
        # its own session (a Ctrl-C in the terminal is not for it); stdout/stderr to ours, for its one-line notice
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, start_new_session=True)
        self._jack_virtual = is_jack(api) and VIRTUAL in outputs
        self._before = _out_ports() if self._jack_virtual else set()

    def outputs_opened(self) -> None:
        """The session's outputs are open: tell the guard which JACK port is the session's `TatumFlow Out`."""
        if not self._jack_virtual:
            return
        new = sorted(_out_ports() - self._before)
        if len(new) != 1:
            log.warning("cannot tell which JACK port is ours (%s): after a kill -9 nothing silences it", new)
            return
        self._tell(f"port {new[0]}\n".encode())

    def _tell(self, line: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.write(line)
                stdin.flush()

    def close(self) -> None:
        """A clean stop: the guard exits without a word."""
        self._tell(BYE)
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()
        wait_or_kill(self.proc, 3.0)

    def __enter__(self) -> DeadMan:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _out_ports() -> set[str]:
    """Every JACK MIDI port named `TatumFlow Out` now (empty without a server)."""
    try:
        with JackQuery("TatumFlow-ports") as q:
            return {n for n in q.midi_ports() if is_session_out(n)}
    except OSError:
        return set()


def is_session_out(name: str) -> bool:
    """A JACK port of a session's virtual output: `TatumFlow Out:output` (`TatumFlow Out-01:output`, ... when JACK
    renamed a second session's client)."""
    client, _, port = name.partition(":")
    ours = client == OUT_PORT_NAME or client.startswith(OUT_PORT_NAME + "-")
    return ours and port == JACK_PORT_NAMES[OUT_PORT_NAME]


def _guard_ports() -> set[str]:
    try:
        with JackQuery(f"{GUARD_CLIENT}-q") as q:
            return {n for n in q.midi_ports() if n.split(":", 1)[-1] == GUARD_PORT}
    except OSError:
        return set()


class _Guard:
    def __init__(self, outputs: Sequence[str], api: str | None, channels: Sequence[int], parent: int) -> None:
        self.outputs, self.api, self.channels, self.parent = list(outputs), api, list(channels), parent
        self.backend = backend(api)
        self.jack = is_jack(api) and VIRTUAL in self.outputs
        self.dests: set[str] = set()  # where the session's virtual port was connected, last time we asked
        self.session_port: str | None = None  # its full JACK name, from the session
        self.own_port: str | None = None
        self.own = None
        if self.jack:
            before = _guard_ports()
            self.own = self.backend.open_output(GUARD_PORT, virtual=True, client_name=GUARD_CLIENT)
            new = sorted(_guard_ports() - before)
            self.own_port = new[0] if len(new) == 1 else None

    def watch(self) -> None:
        """Until the pipe closes: refresh where the session's virtual port goes."""
        if not self.jack or self.session_port is None:
            return
        try:
            with JackQuery(f"{GUARD_CLIENT}-q") as q:
                dests = q.connections(self.session_port)
            if dests is not None:  # gone: the session died this instant; keep where it was connected
                self.dests = set(dests)
        except OSError as err:  # no server now: keep what we knew
            log.debug("deadman: %s", err)

    def panic(self) -> int:
        """Send the panic everywhere the session played; returns how many outputs took it."""
        messages, reached = panic_messages(self.channels), 0
        for out in self.outputs:
            try:
                if out == VIRTUAL:
                    reached += self._panic_virtual(messages)
                else:
                    port = self.backend.open_output(resolve_port(out, self.backend.get_output_names(), "output"))
                    send_paced(port, messages)
                    time.sleep(DRAIN_S)
                    port.close()
                    reached += 1
            except (OSError, ValueError) as err:
                print(f"tatumflow deadman: cannot silence {out!r}: {err}", file=sys.stderr)
        return reached

    def _panic_virtual(self, messages: list[mido.Message]) -> int:
        if self.own is None or self.own_port is None or not self.dests:
            print(f"tatumflow deadman: nowhere to send for {OUT_PORT_NAME!r} (the session's port "
                  f"{self.session_port or 'unknown'}, ours {self.own_port or 'unknown'}, "
                  f"{len(self.dests)} connections known)", file=sys.stderr)
            return 0
        with JackQuery(f"{GUARD_CLIENT}-q") as q:
            for dest in sorted(self.dests):
                with contextlib.suppress(OSError):  # a destination gone meanwhile
                    q.connect(self.own_port, dest)
        time.sleep(SETTLE_S)
        send_paced(self.own, messages)
        time.sleep(DRAIN_S)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tatumflow.realtime.ports.deadman")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--api")
    ap.add_argument("--out", action="append", default=[])
    ap.add_argument("--channels", default="0")
    args = ap.parse_args(argv)
    channels = [int(c) for c in args.channels.split(",") if c.strip()]
    guard = _Guard(args.out, args.api, channels, args.parent)
    fd = sys.stdin.fileno()
    got = b""
    while True:
        guard.watch()
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        got += chunk
        *lines, got = got.split(b"\n")
        for line in lines:
            if line + b"\n" == BYE:
                return 0
            if line.startswith(b"port "):
                guard.session_port = line[5:].decode(errors="replace")
        if not chunk:  # the pipe closed without a word: the session died
            reached = guard.panic()
            print(f"tatumflow: the session (pid {args.parent}) died; all notes off sent to {reached} output(s)",
                  file=sys.stderr)
            return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # no destructors: closing a port of a JACK server that died meanwhile crashes in libjack
