"""What the terminal UI of `jam --tui` shows, as text: mode, tempo and where it comes from, where the tune's form is
(section, bar, beat, the chord now and the next: `jam --changes`), the ports and whether
`TatumFlow Out` reaches anything, the preset, what the human and TatumFlow play, every control with its value and
CC, the reply timings a player hears, late/dropped notes, the last change and the keys.

It only reads: `engine.snapshot()`, the control surface's `rows()`, `register()` and `last`, a `RecentNotes` sink (a
note tap) and a `PortWatch` (asks JACK, on a thread of its own, where our output goes). Nothing here blocks the
real-time threads. The Textual app that lays it out and reads the keys is tui_app.py.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

import mido
from rich.text import Text

from ..ports.environment import is_jack
from ..ports.midi_io import OUT_PORT_NAME
from ..ports.sinks import HUMAN, MODEL, Sink
from .ccmap import PANIC, CcMap
from .knobs import note_name
from .surface import ControlSurface, Split

log = logging.getLogger(__name__)
SHOWN_NOTES = 16
TEMPO_FROM = {"clock": "MIDI clock", "human": "your playing", "fixed": "--bpm"}
PORTS_EVERY_S = 2.0
HELP = "↑↓ j/k control  ←→ h/l -/+ change  m mode  space mute  p panic  q/Esc quit"


class RecentNotes(Sink):
    """A note tap for the UI: the last note names each side played (nothing else is kept)."""

    NAME = "ui"

    def __init__(self) -> None:
        super().__init__(self.NAME, (HUMAN, MODEL))
        self.recent: dict[str, collections.deque[str]] = {HUMAN: collections.deque(maxlen=SHOWN_NOTES),
                                                          MODEL: collections.deque(maxlen=SHOWN_NOTES)}

    def _send(self, msg: mido.Message, track: str, t_s: float) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self.recent[track].append(note_name(msg.note))

    def names(self, track: str) -> list[str]:
        with self._lock:
            return list(self.recent[track])


@dataclass(frozen=True)
class TuiInfo:
    """What the session knows that the engine does not: the preset, the ports, the tempo option, the MIDI API."""

    preset: str = "-"
    inp: str = "-"
    outs: tuple[str, ...] = ()
    sync: str = "off"
    bpm: float | None = None
    api: str | None = None

    @classmethod
    def of(cls, options, midi_in, outputs, api: str | None) -> TuiInfo:
        """From a session's `JamOptions`, its open input and its `Outputs` (the UI's own note tap left out)."""
        outs = tuple(name for name in outputs.names if name != RecentNotes.NAME)
        return cls(str(options.preset), midi_in.name or options.inp, outs, options.sync, options.bpm, api)


class TempoHold:
    """The tempo shown: the grid's when there is one, else the last one, held, with its age (no flicker to `-` in
    `auto` when the tracker loses the beat for a moment); `-` only before any."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.last: tuple[float, str, float] | None = None  # (bpm, source, when)

    def describe(self, snap, sync: str) -> str:
        bpm, source = getattr(snap, "tempo_bpm", None), getattr(snap, "tempo_from", None)
        now = self.clock()
        if sync == "off":
            return "tempo off (--sync off)"
        if bpm:
            self.last = (bpm, source or "?", now)
            return f"tempo {bpm:.1f} bpm from {TEMPO_FROM.get(source or '', source)}"
        if self.last is not None:
            held, src, at = self.last
            age = now - at
            if age < 1.0:  # the source comes and goes between frames: nothing to tell
                return f"tempo {held:.1f} bpm from {TEMPO_FROM.get(src, src)}"
            ago = f"{age:.0f} s" if age < 120 else f"{age / 60:.0f} min"
            return f"tempo {held:.1f} bpm from {TEMPO_FROM.get(src, src)}, held {ago}"
        waiting = {"clock": "waiting for MIDI clock", "human": "listening for a beat"}.get(sync, "listening")
        return f"tempo - ({waiting}, --sync {sync})"


class PortWatch:
    """Where `TatumFlow Out` goes, asked of JACK every `PORTS_EVERY_S` on a thread of its own (other APIs cannot
    be asked: "connections unknown")."""

    def __init__(self, api: str | None, virtual_out: bool) -> None:
        self.jack = is_jack(api) and virtual_out
        self.state = "connections unknown" if not self.jack else "asking JACK"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PortWatch:
        if self.jack:
            self._thread = threading.Thread(target=self._run, name="tatumflow-ui-ports", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.state = self.ask()
            self._stop.wait(PORTS_EVERY_S)

    @staticmethod
    def ask() -> str:
        from ..ports.deadman import is_session_out
        from ..ports.watchdog import JackQuery

        try:
            with JackQuery("TatumFlow-ui") as q:
                ours = [n for n in q.midi_ports() if is_session_out(n)]
                dests = sorted({d for n in ours for d in (q.connections(n) or [])})
        except OSError as err:
            return f"JACK: {err}"
        if not dests:
            return "connected to nothing: connect it to a synth or a DAW"
        return "-> " + ", ".join(dests)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def header_text(snap, tempo: str, split: Split | None) -> Text:
    text = Text("mode ", style="bold")
    text.append(snap.mode, style="bold cyan")
    text.append(f"   {tempo}")
    if getattr(snap, "muted", False):
        text.append("   MUTED", style="bold red")
    elif snap.replying:
        text.append("   replying", style="green")
    form = getattr(snap, "form", None)
    if form is not None:  # jam --changes: section, bar, beat, the chord now and the next
        text.append(f"\nform {form.describe()}", style="bold yellow")
    if split is not None:
        text.append(f"\nsplit: {split.describe()}", style="magenta")
    return text


def ports_text(info: TuiInfo, ports: PortWatch | None) -> Text:
    outs = ", ".join(info.outs) or "-"
    text = Text(f"preset {info.preset}   in {info.inp}   out {outs}")
    if OUT_PORT_NAME in info.outs:
        state = ports.state if ports is not None else "connections unknown"
        text.append(f"\n{OUT_PORT_NAME} {state}", style="yellow" if "nothing" in state else "dim")
    return text


def notes_text(recent: RecentNotes | None) -> Text:
    human = " ".join(recent.names(HUMAN)) if recent is not None else ""
    model = " ".join(recent.names(MODEL)) if recent is not None else ""
    return Text(f"human     {human or '-'}\ntatumflow {model or '-'}")


def control_rows(surface: ControlSurface, ccmap: CcMap | None, selected: int = 0) -> list[tuple[str, str, str, str]]:
    """(control, value, CC, range) for every knob (`selected` marked `>`), then the register and the panic."""
    rows = []
    for i, (k, value) in enumerate(surface.rows()):
        cc = ccmap.cc_of(k.name) if ccmap is not None else None
        span = "/".join(k.choices) if k.choices else ("off/on" if k.kind == "toggle" else f"{k.min:g}..{k.max:g}")
        rows.append((("> " if i == selected else "  ") + k.name, value, "-" if cc is None else str(cc), span))
    low, high = surface.register()
    rows.append(("  register", f"{low}..{high} {note_name(low)}..{note_name(high)}", "", "knobs and split"))
    panic = ccmap.cc_of(PANIC) if ccmap is not None else None
    rows.append(("  panic", "all notes off", "-" if panic is None else str(panic), "p"))
    return rows


def stats_text(snap) -> Text:
    heard = getattr(snap, "last_heard_ms", None)
    return Text(f"reply heard {_ms(heard)} after your phrase   window {_ms(snap.last_window_ms)}   "
                f"replies {snap.replies}\nlate {snap.late_notes}   dropped {snap.dropped_notes}   "
                f"human notes {snap.human_notes}   keys down {snap.keys_down}")


def change_text(surface: ControlSurface) -> Text:
    last = surface.last
    return Text(f"last change: {last[0]} = {last[1]} ({last[2]})" if last else "last change: -", style="dim")
