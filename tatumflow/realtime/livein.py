"""The human's playing, as it arrives: key and pedal state folded into notes, plus echo suppression.

`LiveInput.handle(msg, t_s)` is called from the MIDI callback with the message's session-time stamp. The sustain
pedal is folded into durations (a note sounds until key up or pedal up, whichever is later). The engine reads
finished notes with `take()`, still-sounding ones with `sounding_notes(now)` (duration so far), and the start of the
current silence with `silence_since()`.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import mido

from ..notes import MIN_DURATION_S, SUSTAIN_CC, Note


class EchoFilter:
    """Remembers what we sent; an input message identical to one sent within `window_s` is our own echo."""

    def __init__(self, window_s: float = 0.01) -> None:
        if window_s < 0:
            raise ValueError(f"echo window must be >= 0 s, got {window_s}")
        self.window_s = window_s
        self._sent: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=512)
        self._lock = threading.Lock()
        self.suppressed = 0

    def sent(self, data: bytes, t_s: float) -> None:
        with self._lock:
            self._sent.append((t_s, data))

    def is_echo(self, data: bytes, t_s: float) -> bool:
        with self._lock:
            while self._sent and self._sent[0][0] < t_s - self.window_s:
                self._sent.popleft()
            for i, (sent_t, sent) in enumerate(self._sent):
                if sent == data and abs(t_s - sent_t) <= self.window_s:
                    del self._sent[i]
                    self.suppressed += 1
                    return True
        return False


@dataclass
class Taken:
    """What happened since the last `take()`: finished notes and the onsets of new key presses."""

    notes: list[Note] = field(default_factory=list)
    onsets: list[float] = field(default_factory=list)


class LiveInput:
    """Thread-safe key/pedal state of the human player (one keyboard; channels are merged)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, tuple[float, int]] = {}  # pitch -> (onset, velocity): key down
        self._sustained: dict[int, tuple[float, int]] = {}  # key up, pedal down
        self._pedal = False
        self._pending = Taken()
        self.notes: list[Note] = []  # every finished note of the session
        self.last_onset_s: float | None = None
        self._silent_since: float | None = None  # None: something sounds (or nothing was ever played)

    def handle(self, msg: mido.Message, t_s: float) -> str | None:
        """Fold one message in. Returns "on" for a key press, "off" for a release that ends sound, else None."""
        with self._lock:
            if msg.type == "note_on" and msg.velocity > 0:
                self._press(msg.note, msg.velocity, t_s)
                return "on"
            if msg.type in ("note_off", "note_on"):
                return self._release(msg.note, t_s)
            if msg.type == "control_change" and msg.control == SUSTAIN_CC:
                return self._pedal_change(msg.value >= 64, t_s)
        return None

    def _finish(self, pitch: int, onset_s: float, velocity: int, end_s: float) -> None:
        note = Note(onset_s, max(end_s - onset_s, MIN_DURATION_S), pitch, velocity)
        self._pending.notes.append(note)
        self.notes.append(note)

    def _press(self, pitch: int, velocity: int, t_s: float) -> None:
        for pool in (self._held, self._sustained):  # a re-struck pitch ends what of it still sounds
            if pitch in pool:
                onset, vel = pool.pop(pitch)
                self._finish(pitch, onset, vel, t_s)
        self._held[pitch] = (t_s, velocity)
        self._pending.onsets.append(t_s)
        self.last_onset_s = t_s
        self._silent_since = None

    def _release(self, pitch: int, t_s: float) -> str | None:
        if pitch not in self._held:
            return None
        onset, vel = self._held.pop(pitch)
        if self._pedal:
            self._sustained[pitch] = (onset, vel)
            return None
        self._finish(pitch, onset, vel, t_s)
        return self._maybe_silent(t_s)

    def _pedal_change(self, down: bool, t_s: float) -> str | None:
        was_down, self._pedal = self._pedal, down
        if was_down and not down and self._sustained:
            for pitch, (onset, vel) in self._sustained.items():
                self._finish(pitch, onset, vel, t_s)
            self._sustained.clear()
            return self._maybe_silent(t_s)
        return None

    def _maybe_silent(self, t_s: float) -> str | None:
        if not self._held and not self._sustained:
            self._silent_since = t_s
            return "off"
        return None

    def release_all(self, t_s: float) -> None:
        """End every sounding note (the keyboard went away)."""
        with self._lock:
            for pool in (self._held, self._sustained):
                for pitch, (onset, vel) in pool.items():
                    self._finish(pitch, onset, vel, t_s)
                pool.clear()
            self._pedal = False
            if self.last_onset_s is not None:
                self._silent_since = t_s

    def take(self) -> Taken:
        """Finished notes and new onsets since the last call."""
        with self._lock:
            taken, self._pending = self._pending, Taken()
        return taken

    def sounding_notes(self, now_s: float) -> list[Note]:
        """Notes still sounding, with the duration they have had so far."""
        with self._lock:
            pools = list(self._held.items()) + list(self._sustained.items())
        return [Note(on, max(now_s - on, MIN_DURATION_S), p, v) for p, (on, v) in pools]

    def silence_since(self) -> float | None:
        """When the current silence began (last key/pedal release), or None while anything sounds."""
        with self._lock:
            return self._silent_since

    @property
    def keys_down(self) -> int:
        with self._lock:
            return len(self._held) + len(self._sustained)
