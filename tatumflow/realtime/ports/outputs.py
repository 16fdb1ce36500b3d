"""The session's outputs, owned in one place (mido's multi-port over its base port).

`Outputs` holds the sinks (ports, the synth, the recorder, the UI's note tap) and alone acts on them: `send` (the
model's notes: the outputs first, the recorders only what an output took), `echo` (the human's notes, to every sink
of the human's track), `panic` (all notes off), `server_lost` and `reopen` (the JACK server went and came back),
`check` (a named port vanished or returned), `tempo_change` (the recording's tempo map) and `clock` (MIDI clock and
transport, to the outputs that carry it). Nobody asks a sink what it is: what differs between sinks is a method of
the base `Sink` that each kind fills or leaves a no-op (sinks.py). Every part of the engine that sends (the
scheduler, the outbox, the engine's monitor, the tempo map, `--clock-out`) and the session's guard share one
`Outputs`; a sink added later (the UI's note tap) reaches them all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import mido

from .sinks import HUMAN, Sink


class Outputs:
    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self._sinks: list[Sink] = list(sinks)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, sinks: Outputs | Sequence[Sink]) -> Outputs:
        """`sinks` as the one `Outputs` (a plain list, from a test or a benchmark, becomes one)."""
        return sinks if isinstance(sinks, Outputs) else cls(sinks)

    def add(self, sink: Sink) -> Sink:
        with self._lock:
            self._sinks = [*self._sinks, sink]  # copy on write: a send under way keeps the list it began with
        return sink

    def __iter__(self) -> Iterator[Sink]:
        return iter(self._sinks)

    def __len__(self) -> int:
        return len(self._sinks)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._sinks]

    @property
    def carry_clock(self) -> bool:
        """Whether any output takes MIDI clock (a port; the synth and the recorder have no use for it)."""
        return any(s.carries_clock for s in self._sinks)

    # -- sending -------------------------------------------------------------------------------------------------
    def send(self, msg: mido.Message, track: str, t_s: float) -> bool:
        """To the outputs first, then to the rest (recorders) only if an output took it or there is none: the
        recording holds what a listener could hear. Returns whether the message was sent."""
        sinks = self._sinks
        outputs = [s for s in sinks if s.is_output and track in s.tracks]
        heard = [s.send(msg, track, t_s) for s in outputs]
        if outputs and not any(heard):
            return False
        for s in sinks:
            if not s.is_output:
                s.send(msg, track, t_s)
        return True

    def echo(self, msg: mido.Message, t_s: float, track: str = HUMAN) -> None:
        """The human's message, to every sink of the human's track (the synth's thru, the recorder, the UI)."""
        for s in self._sinks:
            s.send(msg, track, t_s)

    def clock(self, kind: str, t_s: float) -> None:
        """A MIDI clock or transport message ("clock", "start", "stop") to the outputs that carry clock."""
        for s in self._sinks:
            if s.carries_clock:
                s.send(mido.Message(kind), s.clock_track, t_s)

    def open_tempo(self, bpm: float, lead_s: float) -> bool:
        """Every tempo map's first tempo, `bpm` from its start `lead_s` before the session's; False when a map had
        opened already (then the caller writes changes instead)."""
        return all([s.open_tempo(bpm, lead_s) for s in self._sinks])

    def tempo_change(self, t_s: float, bpm: float, beat_s: float | None = None) -> None:
        for s in self._sinks:
            s.tempo_change(t_s, bpm, beat_s)

    # -- stopping ------------------------------------------------------------------------------------------------
    def panic(self, t_s: float | None = None, model_only: bool = False) -> None:
        """All notes off now: a note-off for what sounds, sustain off and all-notes-off on every channel used
        (`model_only`: not on sinks that also take the human's notes, whose recording keeps them as played)."""
        for s in self._sinks:
            if not (model_only and HUMAN in s.tracks):
                s.all_notes_off(t_s)

    @property
    def sounding(self) -> int:
        """Notes sounding on all sinks now (after a stop: the stuck notes, 0)."""
        return sum(s.sounding for s in self._sinks)

    # -- the MIDI server and the ports ---------------------------------------------------------------------------
    def server_lost(self) -> None:
        for s in self._sinks:
            s.server_lost()

    def reopen(self) -> None:
        """The server is back: each port opens again (raises if the server went again meanwhile)."""
        for s in self._sinks:
            s.reopen()

    def check(self) -> None:
        """A named port that vanished is forgotten, one that came back is re-opened and cleaned."""
        for s in self._sinks:
            s.check()

    def close(self, t_s: float | None = None) -> None:
        for s in self._sinks:
            s.close(t_s)
