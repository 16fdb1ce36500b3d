"""The scheduler: sends each planned message at its time, to the session's outputs (outputs.py).

A thread sleeps until ~1 ms before the next message, then spins (SCHED_FIFO when the OS allows it). Each message's
lateness is recorded. A note-on later than the tolerance is dropped with its note-off and counted; a note is never
planned with an onset already in the past. Every planned note-on has its note-off; `cancel_from(t)` (the human barges
in) drops notes not yet begun and ends sounding ones now.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mido

from ...notes import Note
from ..ports.outputs import Outputs
from ..ports.sinks import MODEL, Sink
from .clock import SPIN_S, Clock, try_realtime_priority
from .reservoir import Reservoir

log = logging.getLogger(__name__)

RESTRIKE_GAP_S = 0.002  # a re-struck pitch ends the previous note this long before the new onset


@dataclass(order=True)
class _Event:
    t_s: float
    seq: int
    msg: mido.Message = field(compare=False)
    note_id: int = field(compare=False)
    is_on: bool = field(compare=False)
    group: int | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)


@dataclass
class SendStats:
    lateness_ms: list[float] = field(default_factory=lambda: Reservoir())  # bounded: flat memory
    sent_notes: int = 0
    late_notes: int = 0
    dropped_notes: int = 0
    undelivered_notes: int = 0  # note-ons no output took (the MIDI server was gone)
    recent_on_s: collections.deque = field(default_factory=lambda: collections.deque(maxlen=256))  # send times

    def unsend_after(self, t_s: float) -> int:
        """Note-ons sent after `t_s` never arrived (the server was already gone): counted undelivered instead."""
        n = sum(1 for t in self.recent_on_s if t > t_s)
        self.sent_notes -= n
        self.undelivered_notes += n
        self.recent_on_s.clear()
        return n


class Scheduler:
    """Sends planned notes to the sinks at their times. Two optional callbacks, both called from the sending thread:
    `on_sent(msg, t_s)` after each message (the engine's echo filter listens), `on_group_start(group, t_s)` when the
    first note of a group (a reply) goes out."""

    def __init__(self, sinks: Outputs | Sequence[Sink], clock: Clock, channel: int = 0, drop_tolerance_s: float = 0.02,
                 late_threshold_s: float = 0.002, on_sent: Callable[[mido.Message, float], None] | None = None,
                 on_group_start: Callable[[int, float], None] | None = None) -> None:
        if drop_tolerance_s < late_threshold_s:
            raise ValueError(f"drop tolerance {drop_tolerance_s} s must be >= the late threshold {late_threshold_s} s")
        self.outputs, self.clock, self.channel = Outputs.of(sinks), clock, channel
        self.drop_tolerance_s, self.late_threshold_s = drop_tolerance_s, late_threshold_s
        self.on_sent, self.on_group_start = on_sent, on_group_start
        self.stats = SendStats()
        self._heap: list[_Event] = []
        self._offs: dict[int, _Event] = {}  # note id -> its pending note-off
        self._last_by_pitch: dict[int, int] = {}  # pitch -> id of the last note planned on it
        self._on_time: dict[int, float] = {}  # note id -> planned onset
        self._started_groups: set[int] = set()
        self._ids = itertools.count()
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.realtime = False

    # -- planning (any thread) -------------------------------------------------------------------------------
    def plan(self, notes: Sequence[Note], group: int | None = None) -> int:
        """Queue notes; returns how many were queued (onsets already past are dropped and counted)."""
        now = self.clock.now()
        queued = 0
        with self._cond:
            for n in sorted(notes):
                if n.onset_s < now:
                    self.stats.dropped_notes += 1
                    continue
                queued += self._plan_note(n, group)
            self._cond.notify()
        return queued

    def _plan_note(self, n: Note, group: int | None) -> bool:
        prev_id = self._last_by_pitch.get(n.pitch, -1)
        prev = self._offs.get(prev_id)
        if prev is not None and not prev.cancelled and prev.t_s > n.onset_s - RESTRIKE_GAP_S:
            if n.onset_s - self._on_time[prev_id] < 2 * RESTRIKE_GAP_S:
                return False  # the same pitch struck twice at once: keep the first
            prev.cancelled = True  # the earlier note of this pitch ends just before the new one starts
            self._push(n.onset_s - RESTRIKE_GAP_S, prev.msg, prev.note_id, False, None)
        nid = next(self._ids)
        on = mido.Message("note_on", channel=self.channel, note=n.pitch, velocity=min(max(n.velocity, 1), 127))
        off = mido.Message("note_off", channel=self.channel, note=n.pitch)
        self._push(n.onset_s, on, nid, True, group)
        self._push(max(n.end_s, n.onset_s + 0.001), off, nid, False, None)
        self._on_time[nid] = n.onset_s
        self._last_by_pitch[n.pitch] = nid
        return True

    def _push(self, t_s: float, msg: mido.Message, nid: int, is_on: bool, group: int | None) -> _Event:
        ev = _Event(t_s, next(self._seq), msg, nid, is_on, group)
        heapq.heappush(self._heap, ev)
        if not is_on:
            self._offs[nid] = ev
        return ev

    def cancel_from(self, t_s: float) -> int:
        """Drop notes with onset >= t_s; notes sounding past now end now. Returns the number of notes dropped."""
        now = self.clock.now()
        dropped = 0
        with self._cond:
            for ev in self._heap:
                if ev.is_on and not ev.cancelled and ev.t_s >= t_s:
                    ev.cancelled = True
                    self._offs.pop(ev.note_id).cancelled = True
                    self._on_time.pop(ev.note_id, None)
                    dropped += 1
            waiting = {ev.note_id for ev in self._heap if ev.is_on and not ev.cancelled}
            for nid, off in list(self._offs.items()):
                if nid not in waiting and not off.cancelled and off.t_s > now:  # sounding: end it now
                    off.cancelled = True
                    self._push(now, off.msg, nid, False, None)
            self._cond.notify()
        return dropped

    # -- sending ---------------------------------------------------------------------------------------------
    def _pop_due(self, now: float) -> list[_Event]:
        due = []
        while self._heap and self._heap[0].t_s <= now:
            ev = heapq.heappop(self._heap)
            if not ev.cancelled:
                due.append(ev)
        return due

    def _send(self, ev: _Event, now: float) -> None:
        lateness = now - ev.t_s
        if ev.is_on and lateness > self.drop_tolerance_s:
            with self._cond:
                off = self._offs.pop(ev.note_id, None)
                self._on_time.pop(ev.note_id, None)
                if off is not None:
                    off.cancelled = True
            self.stats.dropped_notes += 1
            log.debug("dropped a note %.1f ms late", lateness * 1e3)
            return
        if not ev.is_on:
            with self._cond:
                if self._offs.get(ev.note_id) is ev:
                    del self._offs[ev.note_id]
                    self._on_time.pop(ev.note_id, None)
        if not self.outputs.send(ev.msg, MODEL, now):  # no output took it (the server is gone): not sent
            self.stats.undelivered_notes += ev.is_on
            return
        if self.on_sent is not None:
            self.on_sent(ev.msg, now)
        self.stats.lateness_ms.append(lateness * 1e3)
        if ev.is_on:
            self.stats.sent_notes += 1
            self.stats.recent_on_s.append(now)
            self.stats.late_notes += lateness > self.late_threshold_s
            if ev.group is not None and ev.group not in self._started_groups:
                self._started_groups.add(ev.group)
                if self.on_group_start:
                    self.on_group_start(ev.group, now)

    def run_due(self, now: float | None = None) -> int:
        """Send everything due at `now` (the simulated-clock path and the thread's inner step)."""
        now = self.clock.now() if now is None else now
        with self._cond:
            due = self._pop_due(now)
        for ev in due:
            self._send(ev, self.clock.now())
        return len(due)

    def _loop(self) -> None:
        self.realtime = try_realtime_priority()
        while not self._stop.is_set():
            with self._cond:
                if not self._heap:
                    self._cond.wait(0.05)
                    continue
                left = self._heap[0].t_s - self.clock.now()
                if left > SPIN_S:
                    self._cond.wait(left - SPIN_S)
                    continue  # re-check: an earlier message may have been planned meanwhile
                target = self._heap[0].t_s
            while self.clock.now() < target:
                pass  # spin the last millisecond
            self.run_due()

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="tatumflow-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; pending notes are dropped (the sinks' close sends the note-offs for what sounds)."""
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._cond:
            self._heap.clear()
            self._offs.clear()
            self._on_time.clear()
