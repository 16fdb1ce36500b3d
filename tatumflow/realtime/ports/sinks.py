"""Output sinks. One base class owns the lock, the closed flag, the context manager and all-notes-off; subclasses
fill `_send` and `_close` (mido's port design), and what only some kinds do (a port's server loss, re-open and
check; the recorder's tempo map; MIDI clock) is a base method that they fill and the others leave a no-op, so that
the one owner of the session's sinks (outputs.py) never asks a sink what it is. Every message comes with its track
("human" or "tatumflow") and its session time; a sink takes the tracks it was made for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import mido

from ...notes import PEDAL_CCS  # pedals are recorded; other controllers are knobs, not music
from .midi_io import OUT_PORT_NAME, VIRTUAL, backend, keep_forever, open_virtual, resolve_port
from .panic import ALL_NOTES_OFF_CC, panic_messages
from .recording import IncrementalMidi, write_atomic

log = logging.getLogger(__name__)

HUMAN = "human"
MODEL = "tatumflow"
DRAIN_S = 0.05
FLUSH_S = 1.0  # the recording on disk is at most this far behind the session


class Sink:
    """Base sink: thread-safe, idempotent close, tracks what sounds so that stop leaves nothing sounding."""

    def __init__(self, name: str, tracks: tuple[str, ...] = (MODEL,)) -> None:
        self.name = name
        self.tracks = frozenset(tracks)
        self.closed = False
        self.failed = False
        self._lock = threading.RLock()
        self._sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self._channels: set[int] = set()
        self._last_t = 0.0

    is_output = False  # True for what a listener hears (ports, the synth); False for recorders and memory
    carries_clock = False  # True for MIDI ports: `--clock-out` sends clock and transport there
    clock_track = MODEL

    def send(self, msg: mido.Message, track: str = MODEL, t_s: float | None = None) -> bool:
        """Whether the message was delivered (False: not this sink's track, closed, failed, or nowhere to go)."""
        if track not in self.tracks:
            return False
        with self._lock:
            if self.closed or self.failed:
                return False
            self._last_t = self._last_t if t_s is None else t_s
            try:
                delivered = self._send(msg, track, self._last_t) is not False
            except Exception as err:  # a vanished device: stop using this sink, keep the others going
                log.error("output %r failed (%s); it is switched off", self.name, err)
                self.failed = True
                return False
            if delivered:
                self._note_state(msg)
            return delivered

    def _note_state(self, msg: mido.Message) -> None:
        if msg.type not in ("note_on", "note_off"):
            return
        self._channels.add(msg.channel)
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            self._sounding.add(key)
        else:
            self._sounding.discard(key)

    @property
    def sounding(self) -> int:
        with self._lock:
            return len(self._sounding)

    def all_notes_off(self, t_s: float | None = None) -> None:
        """A note-off for every sounding note, then sustain off and all-notes-off on each channel used."""
        with self._lock:
            if self.closed:
                return
            t = self._last_t if t_s is None else max(t_s, self._last_t)
            msgs = panic_messages(self._sounding, self._channels)
            self._sounding.clear()
            for msg in msgs:
                try:
                    self._send(msg, MODEL, t)
                except Exception as err:
                    log.warning("all-notes-off on %r failed: %s", self.name, err)
                    break

    def close(self, t_s: float | None = None) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                if not self.failed:
                    self.all_notes_off(t_s)
            finally:
                self.closed = True
                self._close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; the engine closes explicitly
        with contextlib.suppress(Exception):
            self.close()

    # -- what only some sinks do (a no-op here) -------------------------------------------------------------
    def server_lost(self) -> None:
        """The MIDI server went away (a port stops taking notes)."""

    def reopen(self) -> None:
        """The MIDI server is back (a port opens again)."""

    def check(self) -> None:
        """A look at the device (a named port: vanished, or back)."""

    def open_tempo(self, bpm: float, lead_s: float) -> bool:
        """The first tempo of a tempo map kept here, from its start `lead_s` before the session's (the recorder
        keeps one); True: nothing here needs a correction."""
        return True

    def tempo_change(self, t_s: float, bpm: float, beat_s: float | None = None) -> None:
        """The session's tempo is `bpm` from `t_s` on (the recorder writes it)."""

    # -- for subclasses --------------------------------------------------------------------------------------
    def _send(self, msg: mido.Message, track: str, t_s: float) -> bool | None:
        """Deliver; return False when the message could not go anywhere (None or True: delivered)."""
        raise NotImplementedError

    def _close(self) -> None:
        pass


class MemorySink(Sink):
    """Keeps `(t_s, track, message)`: the fake port of the tests, and a null sink when nobody reads it."""

    def __init__(self, name: str = "memory", tracks: tuple[str, ...] = (MODEL, HUMAN), keep: bool = True) -> None:
        super().__init__(name, tracks)
        self.keep = keep
        self.messages: list[tuple[float, str, mido.Message]] = []

    def _send(self, msg: mido.Message, track: str, t_s: float) -> None:
        if self.keep:
            self.messages.append((t_s, track, msg))


class RecorderSink(Sink):
    """Records the session to a type-1 .mid, one track per source ("human", "tatumflow"), notes and pedals (CC 64,
    66, 67), and the tempo map from `tempo_change`.

    The file is there from the start and rewritten atomically every `flush_s` seconds by a thread of its own
    (recording.py): a session killed with kill -9 keeps all but its last `flush_s` seconds. `close` writes the rest.
    """

    def __init__(self, path: str | os.PathLike, tracks: tuple[str, ...] = (HUMAN, MODEL),
                 flush_s: float = FLUSH_S) -> None:
        super().__init__(f"recorder {path}", tracks)
        self.path = Path(path)
        self.midi = IncrementalMidi(tuple(tracks))
        self.flush_s = flush_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush()  # a bad path fails here, before the session plays
        self._stop_flushing = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="recorder-flush", daemon=True)
        self._flusher.start()

    def open_tempo(self, bpm: float, lead_s: float) -> bool:
        """The file's first tempo, from its start `lead_s` before the session's (recording.py); False when its map had
        opened already."""
        with self._lock:
            return self.midi.open_tempo(bpm, lead_s)

    def tempo_change(self, t_s: float, bpm: float, beat_s: float | None = None) -> None:
        """The session's tempo is `bpm` from `t_s` on (a set_tempo in the file). `beat_s`: a beat's time (kept for
        the caller's alignment; the file's beats follow the tempo map from time 0)."""
        with self._lock:
            self.midi.tempo_change(t_s, bpm)

    def _send(self, msg: mido.Message, track: str, t_s: float) -> None:
        if msg.type == "control_change":
            if msg.control == ALL_NOTES_OFF_CC:
                for tr in self.midi.tracks:
                    self.midi.end_channel(tr, t_s, msg.channel)
            elif msg.control in PEDAL_CCS:
                self.midi.control(track, t_s, msg.channel, msg.control, msg.value)
        elif msg.type in ("note_on", "note_off"):
            self.midi.note(track, t_s, msg.channel, msg.note, msg.velocity if msg.type == "note_on" else 0)

    def flush(self) -> None:
        """Write what was recorded so far (atomically; what sounds now ends now in the file)."""
        with self._lock:
            data = self.midi.to_bytes(self._last_t)
        write_atomic(self.path, data)

    def _flush_loop(self) -> None:
        written = -1
        while not self._stop_flushing.wait(self.flush_s):
            if self.midi.messages != written:
                written = self.midi.messages
                try:
                    self.flush()
                except OSError as err:
                    log.warning("recording to %s failed: %s (retrying)", self.path, err)

    def _close(self) -> None:
        self._stop_flushing.set()
        if self._flusher is not threading.current_thread():
            self._flusher.join(timeout=2)
        write_atomic(self.path, self.midi.to_bytes(self._last_t))
        log.info("recorded %d messages to %s", self.midi.messages, self.path)


class PortSink(Sink):
    """A MIDI output port: the virtual port `TatumFlow Out`, or an existing port by name (re-found if it vanishes)."""

    def __init__(self, name: str = VIRTUAL, api: str | None = None, tracks: tuple[str, ...] = (MODEL,)) -> None:
        super().__init__(OUT_PORT_NAME if name == VIRTUAL else name, tracks)
        self.requested = name
        self.backend = backend(api)
        if name == VIRTUAL:
            self.port = open_virtual(self.backend, OUT_PORT_NAME)
        else:
            self.name = resolve_port(name, self.backend.get_output_names(), "output")
            self.port = self.backend.open_output(self.name)
        self.connected = True

    is_output = True
    carries_clock = True

    def _send(self, msg: mido.Message, track: str, t_s: float) -> bool:
        if self.connected:
            self.port.send(msg)
        return self.connected

    def server_lost(self) -> None:
        """The MIDI server went away: nothing reaches this port any more; its dead client is left alone (closing a
        client of a dead server can hang), kept referenced so that no destructor closes it either."""
        with self._lock:
            if self.connected:
                keep_forever(self.port)
            self.connected = False
            self._sounding.clear()

    def reopen(self) -> None:
        """The server is back: open the port again (a named port: when it is there)."""
        with self._lock:
            if self.connected or self.closed:
                return
            if self.requested == VIRTUAL:
                self.port = open_virtual(self.backend, OUT_PORT_NAME)
            elif self.name in self.backend.get_output_names():
                self.port = self.backend.open_output(self.name)
            else:
                return
            self.connected = True
            log.warning("output %r is open again", self.name)

    def check(self) -> None:
        """For a named port: notice that it vanished (forget what sounded there) or came back (re-open, clean it)."""
        if self.requested == VIRTUAL or self.closed:
            return
        try:
            present = self.name in self.backend.get_output_names()
        except Exception:  # no server to ask (it went away): the session's watch handles that
            return
        with self._lock:
            if self.connected and not present:
                log.warning("output port %r vanished; notes to it are dropped until it returns", self.name)
                self.connected = False
                self._sounding.clear()
                self.port.close()
            elif not self.connected and present:
                self.port = self.backend.open_output(self.name)
                self.connected = True
                for msg in panic_messages((), self._channels):  # what it held when it went is unknown
                    self.port.send(msg)
                log.warning("output port %r is back", self.name)

    def _close(self) -> None:
        if not self.connected:
            return
        time.sleep(DRAIN_S)  # JACK/ALSA deliver from a buffer each cycle: let the final note-offs go out first
        self.port.close()

