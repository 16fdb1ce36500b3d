"""The terminal UI of `jam --tui` (rich.live): mode, tempo, what the human and TatumFlow play, every control with
its value and CC, window generation time, reply latency, late/dropped notes, and the keyboard shortcuts.

It only reads: `engine.snapshot()`, the surface's values and a `RecentNotes` sink (a note tap); a refresh never
blocks the real-time threads. Keys go through the same `ControlSurface` as CCs and OSC. `render(...)` builds the
screen (tests render it to text headless); `JamTui` runs it live, with a key reader on the terminal.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import sys
import threading
from typing import Any

import mido
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .ccmap import PANIC, CcMap
from .knobs import KNOBS, note_name
from .sinks import HUMAN, MODEL, Sink
from .surface import ControlSurface, Split

log = logging.getLogger(__name__)
REFRESH_HZ = 8
SHOWN_NOTES = 16
NAMES = list(KNOBS)
KEYS = {"\x1b[A": ("select", -1), "k": ("select", -1), "\x1b[B": ("select", 1), "j": ("select", 1),
        "\x1b[C": ("nudge", 1), "l": ("nudge", 1), "+": ("nudge", 1), "=": ("nudge", 1),
        "\x1b[D": ("nudge", -1), "h": ("nudge", -1), "-": ("nudge", -1),
        "m": ("mode", 1), " ": ("mute", 0), "p": ("panic", 0), "!": ("panic", 0)}
HELP = "up/down (k/j): choose a control   left/right (h/l, -/+): change it   m: mode   space: mute   p: panic   " \
       "Ctrl-C: stop"


class RecentNotes(Sink):
    """A note tap for the UI: the last note names each side played (nothing else is kept)."""

    def __init__(self) -> None:
        super().__init__("ui", (HUMAN, MODEL))
        self.recent: dict[str, collections.deque[str]] = {HUMAN: collections.deque(maxlen=SHOWN_NOTES),
                                                          MODEL: collections.deque(maxlen=SHOWN_NOTES)}

    def _send(self, msg: mido.Message, track: str, t_s: float) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self.recent[track].append(note_name(msg.note))

    def names(self, track: str) -> list[str]:
        with self._lock:
            return list(self.recent[track])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _header(snap, split: Split | None) -> Text:
    text = Text("TatumFlow  ", style="bold")
    text.append(f"mode {snap.mode}", style="cyan")
    tempo = getattr(snap, "tempo_bpm", None)
    text.append(f"   tempo {tempo:.1f} bpm" if tempo else "   tempo -")
    if getattr(snap, "muted", False):
        text.append("   MUTED", style="bold red")
    elif snap.replying:
        text.append("   replying", style="green")
    if split is not None:
        text.append(f"   split: {split.describe()}", style="magenta")
    return text


def _controls_table(surface: ControlSurface, ccmap: CcMap | None, selected: int) -> Table:
    table = Table(show_header=True, header_style="bold", expand=False, box=None, padding=(0, 2))
    for col in ("control", "value", "CC", "range"):
        table.add_column(col)
    for i, (k, value) in enumerate(surface.rows()):
        cc = ccmap.cc_of(k.name) if ccmap is not None else None
        span = "/".join(k.choices) if k.choices else ("off/on" if k.kind == "toggle" else f"{k.min:g}..{k.max:g}")
        table.add_row(("> " if i == selected else "  ") + k.name, value, "-" if cc is None else str(cc), span,
                      style="reverse" if i == selected else None)
    low, high = surface.register()
    table.add_row("  register", f"{low}..{high} {note_name(low)}..{note_name(high)}", "", "the knobs and the split")
    panic = ccmap.cc_of(PANIC) if ccmap is not None else None
    table.add_row("  panic", "all notes off", "-" if panic is None else str(panic), "p")
    return table


def _stats(snap) -> Text:
    return Text(f"window {_ms(snap.last_window_ms)}   reply latency {_ms(snap.last_reply_ms)}   "
                f"late {snap.late_notes}   dropped {snap.dropped_notes}   replies {snap.replies}   "
                f"human notes {snap.human_notes}   keys down {snap.keys_down}")


def render(snap, surface: ControlSurface, ccmap: CcMap | None, recent: RecentNotes | None = None,
           selected: int = 0, split: Split | None = None) -> Panel:
    """One frame of the UI."""
    human = " ".join(recent.names(HUMAN)) if recent is not None else ""
    model = " ".join(recent.names(MODEL)) if recent is not None else ""
    notes = Text(f"human     {human or '-'}\ntatumflow {model or '-'}")
    last = surface.last
    change = Text(f"last change: {last[0]} = {last[1]} ({last[2]})" if last else "last change: -", style="dim")
    body = Group(_header(snap, split), Text(""), notes, Text(""), _controls_table(surface, ccmap, selected),
                 Text(""), _stats(snap), change, Text(HELP, style="dim"))
    return Panel(body, title="tatumflow jam", border_style="blue")


def render_text(snap, surface: ControlSurface, ccmap: CcMap | None, recent: RecentNotes | None = None,
                selected: int = 0, split: Split | None = None, width: int = 120) -> str:
    """The frame as plain text (headless tests, logs)."""
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    console.print(render(snap, surface, ccmap, recent, selected, split))
    return console.export_text()


class JamTui:
    """The live UI: a rich.live refresh thread and a key reader (cbreak mode, restored on close)."""

    def __init__(self, engine, surface: ControlSurface, ccmap: CcMap | None, recent: RecentNotes | None = None,
                 split: Split | None = None, console: Console | None = None) -> None:
        self.engine, self.surface, self.ccmap, self.recent, self.split = engine, surface, ccmap, recent, split
        self.selected = 0
        self.console = console or Console()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._keys: threading.Thread | None = None
        self._saved_tty: tuple[int, list[Any]] | None = None  # (fd, termios attributes) while in cbreak mode

    def frame(self) -> Panel:
        return render(self.engine.snapshot(), self.surface, self.ccmap, self.recent, self.selected, self.split)

    def handle_key(self, key: str) -> None:
        """One key press (an escape sequence for the arrows)."""
        action, arg = KEYS.get(key, (None, 0))
        try:
            if action == "select":
                self.selected = (self.selected + arg) % len(NAMES)
            elif action == "nudge":
                self.surface.nudge(NAMES[self.selected], arg)
            elif action == "mode":
                self.surface.nudge("mode", 1)
            elif action == "mute":
                self.surface.nudge("mute", 1)
            elif action == "panic":
                self.surface.panic("key")
        except ValueError as err:
            log.warning("%s", err)

    def _read_keys(self) -> None:
        fd = sys.stdin.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(fd, 16).decode(errors="ignore")
            if not data:
                return
            for key in _split_keys(data):
                self.handle_key(key)

    def _cbreak(self) -> None:
        try:
            import termios
            import tty

            fd = sys.stdin.fileno()
            self._saved_tty = (fd, termios.tcgetattr(fd))
            tty.setcbreak(fd)
        except (ImportError, OSError, ValueError):  # not a terminal: no keys
            self._saved_tty = None

    def open(self) -> JamTui:
        self._live = Live(get_renderable=self.frame, console=self.console, refresh_per_second=REFRESH_HZ,
                          screen=False, redirect_stderr=False)
        self._live.start()
        self._cbreak()
        if self._saved_tty is not None:
            self._keys = threading.Thread(target=self._read_keys, name="tatumflow-keys", daemon=True)
            self._keys.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._keys is not None:
            self._keys.join(timeout=1)
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(self._saved_tty[0], termios.TCSADRAIN, self._saved_tty[1])
        if self._live is not None:
            self._live.stop()

    def __enter__(self) -> JamTui:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _split_keys(data: str) -> list[str]:
    """Keys from what one read returned: arrow escape sequences kept whole."""
    keys, i = [], 0
    while i < len(data):
        if data.startswith("\x1b[", i) and i + 2 < len(data):
            keys.append(data[i:i + 3])
            i += 3
        else:
            keys.append(data[i])
            i += 1
    return keys
