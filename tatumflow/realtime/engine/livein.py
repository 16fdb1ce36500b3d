"""The human's playing, as it arrives: key and pedal state folded into notes, plus echo suppression.

`LiveInput.handle(msg, t_s)` is called from the MIDI callback with the message's session-time stamp. The sustain
pedal is folded into durations (a note sounds until key up or pedal up, whichever is later). The engine reads
finished notes with `take()`, still-sounding ones with `sounding_notes(now)` (duration so far), and the start of the
current silence with `silence_since()`: the last key release after which no key is down. A phrase ends when the
hands leave the keys, whether the pedal still holds the sound or not (a phrase that ends pedal-down is answered after
the silence threshold like any other).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import mido

from ...notes import Note, PedalFolder


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
        """Never for a note-off: the human's own release of a pitch we just released looks the same, and dropping it
        would hold the key down; an echoed note-off taken for the human's releases nothing that is down."""
        if len(data) == 3 and (data[0] & 0xF0 == 0x80 or (data[0] & 0xF0 == 0x90 and data[2] == 0)):
            return False
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
    """Thread-safe key/pedal state of the human player (one keyboard; channels are merged).

    Folding is `notes.PedalFolder`'s (the same rules as reading a file). Nothing is kept once taken: memory stays
    flat over a session of any length.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder = PedalFolder()
        self._onsets: list[float] = []
        self.last_onset_s: float | None = None
        self._silent_since: float | None = None  # None: something sounds (or nothing was ever played)

    def handle(self, msg: mido.Message, t_s: float) -> str | None:
        """Fold one message in. Returns "on" for a key press, "off" for the release of the last key down (the pedal
        may still hold the sound) or a pedal-up that ends sound, else None."""
        with self._lock:
            keys_were_down = bool(self._folder.held)
            kind = self._folder.handle(t_s, msg)
            if kind == "on":
                self._onsets.append(t_s)
                self.last_onset_s = t_s
                self._silent_since = None
            elif keys_were_down and not self._folder.held:
                self._silent_since = t_s
                kind = "off"
        return kind

    def release_all(self, t_s: float) -> None:
        """End every sounding note (the keyboard went away)."""
        with self._lock:
            self._folder.end_all(t_s)
            if self.last_onset_s is not None:
                self._silent_since = t_s

    def take(self) -> Taken:
        """Finished notes and new onsets since the last call."""
        with self._lock:
            taken = Taken(self._folder.take(), self._onsets)
            self._onsets = []
        return taken

    def sounding_notes(self, now_s: float) -> list[Note]:
        """Notes still sounding, with the duration they have had so far."""
        with self._lock:
            return self._folder.sounding(now_s)

    def silence_since(self) -> float | None:
        """When the hands left the keys (the last key release, pedal or not), or None while a key is down."""
        with self._lock:
            return self._silent_since

    @property
    def keys_down(self) -> int:
        with self._lock:
            return len(self._folder.held) + len(self._folder.sustained)
