"""Mode policies: when the engine plays and which windows it asks the generator for.

Every mode is a `Mode`: the worker thread calls `step(now_s, taken)` every few ms with what the human played since
the last step (it is the mode's job to hear it, `LiveContext.hear`); the MIDI callback calls `human_onset(t_s)` at
each key press. `replying` and `planned_until_s` are read from any thread (snapshots for the UI and the demo).

- `CallResponse`: after the human's silence threshold, answer for `reply_ratio` times the phrase (clamped). The
  reply's first chunk (a few notes) is generated just before the threshold and pulled to it; then one window ahead.
  A key press while replying is a barge-in: unsent notes are cancelled at once (from the callback) and the context
  forgets them at the next step.
- `Continue`: the same, but a reply never ends by itself, and a prompt is answered at once.
- `Duet`: from the human's first note on, one window ahead all the time, folding the human in every window.

Time (tempo.py). With a grid known, a reply starts on a beat: the first beat at or after the silence threshold
that the latency budget allows (the first chunk is generated just before that beat and pulled to it), a duet's
first window too, and every window is sampled with the grid in its controls (the meter prior leans onsets toward
it: a bias, never a quantiser). The DAW's transport (`transport`, from the MIDI callback): Stop silences at once
and pauses the mode; Start / Continue resume it (a duet starts playing on Start without waiting for the human).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...notes import Note
from ...timing.form import Changes
from ...timing.grid import BeatGrid
from ...timing.midiclock import TransportEvent
from .config import EngineConfig, Settings
from .context import LiveContext
from .livein import LiveInput, Taken
from .outbox import Outbox, ReplyTimes
from .planner import Planner
from .report import SessionStats
from .tempo import TimeKeeper

if TYPE_CHECKING:
    from .liveform import LiveForm

log = logging.getLogger(__name__)
UNBOUNDED_S = 1e9
DECIDE_SLACK_S = 0.01  # with a grid: decide at least this long before the first beat the first chunk can meet
FIRST_HORIZON_S = 30.0  # a reply's first notes are sampled wherever the model puts them, then pulled to the start


@dataclass(frozen=True)
class ModeParts:
    """What a mode works with: the human's input, the context (what the model heard and played), the planner
    (which windows, sampled against the latency budget), the outbox (playing), the stats."""

    settings: Settings  # the session's one engine configuration (read `current`, never copied)
    live: LiveInput
    context: LiveContext
    planner: Planner
    outbox: Outbox
    stats: SessionStats
    time: TimeKeeper | None = None
    form: LiveForm | None = None  # the tune's form in time (jam --changes)


class Mode:
    """The interface every mode implements (and the do-nothing defaults)."""

    name = ""

    def __init__(self, parts: ModeParts) -> None:
        self._settings, self.live, self.context, self.outbox = parts.settings, parts.live, parts.context, parts.outbox
        self.planner = parts.planner
        self.stats, self.time, self.form = parts.stats, parts.time, parts.form
        self.paused = False  # the DAW's transport is stopped

    @property
    def config(self) -> EngineConfig:
        """The engine configuration now (a live change is seen at the next read)."""
        return self._settings.current

    @property
    def grid(self) -> BeatGrid | None:
        """The session's beat grid as of this worker pass (None: no tempo)."""
        return None if self.time is None else self.time.grid

    @property
    def changes(self) -> Changes | None:
        """The tune's form in time as of this pass (None: no chart, or not placed yet)."""
        return None if self.form is None else self.form.changes

    def generate(self, plan) -> list[Note]:
        """Sample a window with the session's time: the chart's changes and beat grid when a form is placed, and
        the feel over a chart on top of the live controls (liveform.py; `chart_feel` off: the live controls); else
        the tempo's grid and the live controls."""
        changes = self.changes
        if changes is None or self.form is None:
            return self.planner.generate(plan, beat_grid=self.grid)
        felt = self.form.feel_controls(self.context.controls) if self.config.chart_feel else None
        return self.planner.generate(plan, beat_grid=changes.beat_grid(), changes=changes, controls=felt)

    def played(self, notes: list[Note], until_s: float) -> None:
        """Notes just committed to play, the music planned up to `until_s`: over a placed form with the feel on,
        into its duration steer (liveform.py says which notes count)."""
        if notes and self.form is not None and self.config.chart_feel:
            until = min(until_s, max(n.end_s for n in notes))  # a reply's first chunk: its next start may be far
            self.form.played(notes, until, self.context.controls.window_s)

    def on_beat(self, t_s: float) -> float:
        """The first beat at or after `t_s` (`t_s` itself without a grid)."""
        grid = self.grid
        return t_s if grid is None else grid.next_beat(t_s)

    def transport(self, ev: TransportEvent) -> None:
        """The DAW's Start / Continue / Stop (MIDI callback thread): Stop silences everything at once."""
        if ev.kind == "stop":
            self.paused = True
            self._stopped(ev.t_s)
            dropped = self.outbox.silence(ev.t_s)
            log.info("transport stop at %.3f s: %d planned notes dropped, all notes off", ev.t_s, dropped)
        elif ev.kind in ("start", "continue"):
            self.paused = False
            self._started(ev.t_s)

    def _stopped(self, t_s: float) -> None:
        """What the mode forgets on Stop (before the outputs go silent)."""

    def _started(self, t_s: float) -> None:
        """What the mode does on Start / Continue."""

    def human_onset(self, t_s: float) -> None:
        """A key press at `t_s` (MIDI callback thread)."""

    def step(self, now_s: float, taken: Taken) -> None:
        """One worker pass: hear `taken`, then plan and send whatever is due."""
        raise NotImplementedError

    @property
    def replying(self) -> bool:
        """Whether a reply is under way (always False in duet)."""
        return False

    @property
    def planned_until_s(self) -> float | None:
        """Where the next window starts (None before anything was planned)."""
        return None


@dataclass
class Reply:
    group: int
    trigger_s: float  # when the silence threshold was reached
    end_s: float  # the reply's planned end (UNBOUNDED_S in `continue`)
    planned_until_s: float  # the next window starts here
    decided_s: float = 0.0  # when the engine decided to answer
    last_end_s: float = 0.0  # end of the last planned note


class CallResponse(Mode):
    name = "call-response"

    def __init__(self, parts: ModeParts) -> None:
        super().__init__(parts)
        self._lock = threading.Lock()  # the reply and a pending barge-in: the callback and the worker both touch them
        self._reply: Reply | None = None
        self._barge_at: float | None = None
        self._stop_at: float | None = None  # the DAW stopped: the reply ends, its notes leave the context
        self._phrase_start: float | None = None
        self._prompt_pending = False

    @property
    def replying(self) -> bool:
        return self._reply is not None

    @property
    def planned_until_s(self) -> float | None:
        reply = self._reply
        return None if reply is None else reply.planned_until_s

    def reply_length_s(self, phrase_s: float) -> float:
        c = self.config
        return min(max(phrase_s * c.reply_ratio, c.min_reply_s), c.max_reply_s)

    def human_onset(self, t_s: float) -> None:
        """The human barges in: cancel what is not sent yet, at once."""
        with self._lock:
            if self._reply is not None and self._barge_at is None:
                self._barge_at = t_s
                dropped = self.outbox.cancel_from(t_s)
                log.debug("human barged in at %.3f s: %d planned notes dropped", t_s, dropped)

    def step(self, now_s: float, taken: Taken) -> None:
        self._settle_barge()  # before hearing `taken`: the barge-in's truncation would drop those notes
        if taken.onsets and self._phrase_start is None:
            self._phrase_start = min(taken.onsets)
        self.context.hear(taken.notes)
        if self.paused:
            return
        if self._reply is None:
            self._maybe_reply(now_s)
        else:
            self._extend_reply(now_s)

    def _stopped(self, t_s: float) -> None:
        with self._lock:  # also when no reply is set yet: one being decided right now must not sound either
            self._stop_at = t_s

    def _settle_barge(self) -> None:
        with self._lock:
            barge_at, self._barge_at = self._barge_at, None
            stop_at, self._stop_at = self._stop_at, None
            if barge_at is None and stop_at is None:
                return
            self._reply = None
        if barge_at is None:  # the transport stopped: not a barge-in
            assert stop_at is not None  # both None returned above
            self.context.forget_from(stop_at)
            self._phrase_start = None
            return
        self.context.forget_from(barge_at)  # planned notes that never sounded leave the context
        self.stats.barge_ins += 1
        self._phrase_start = barge_at

    def _trigger_time(self, now_s: float) -> float | None:
        if self._prompt_pending:
            return now_s
        if self._phrase_start is None:
            return None
        silent = self.live.silence_since()
        if silent is not None:
            return silent + self.config.silence_threshold_s
        last = self.live.last_onset_s
        if last is not None and now_s - last >= self.config.silence_threshold_s + self.config.hold_grace_s:
            return now_s  # keys held a long time without playing: answer anyway
        return None

    def _lead_s(self) -> float:
        """How long before the trigger the first window is generated (its expected cost, with margin)."""
        return min(2 * self.planner.first_cost_s() + 0.02, 0.9 * self.config.silence_threshold_s)

    def _maybe_reply(self, now_s: float) -> None:
        trigger = self._trigger_time(now_s)
        if trigger is None:
            return
        cost = self.planner.first_cost_s()
        start = self.on_beat(max(trigger, now_s + cost))
        if now_s < start - max(self._lead_s(), cost + DECIDE_SLACK_S):  # a slow first chunk: still a beat it meets
            return
        self.context.hear_sounding(self.live.sounding_notes(now_s))  # keys still down: the duration so far
        released = self.live.silence_since()
        silent = now_s if released is None else released
        phrase_s = max(silent - (self._phrase_start if self._phrase_start is not None else silent), 0.0)
        # the prompt's continuation answers nobody: no reply latency to record
        ended = released if released is not None else self.live.last_onset_s  # keys still held: the last note
        times = ReplyTimes(min(trigger if ended is None else ended, trigger), trigger, self.on_beat(trigger))
        group = self.outbox.new_group(None if self._prompt_pending else times)
        self._phrase_start, self._prompt_pending = None, False
        reply = Reply(group, trigger, start + self.reply_length_s(phrase_s), start, decided_s=now_s)
        with self._lock:
            self._reply = reply
        self.stats.replies += 1
        self._first_window(now_s, reply)

    def _extend_reply(self, now_s: float) -> None:
        reply = self._reply
        assert reply is not None
        if reply.planned_until_s >= reply.end_s:
            if now_s >= max(reply.last_end_s, reply.end_s):
                with self._lock:
                    self._reply = None
            return
        window_s = self.context.controls.window_s
        if reply.planned_until_s < now_s + window_s:
            start = reply.planned_until_s
            plan = self.planner.plan(now_s, start, min(start + window_s, reply.end_s))
            if plan is None:
                reply.planned_until_s = min(now_s + self.planner.first_cost_s(), reply.end_s)
                return
            self._commit(self.generate(plan), reply, plan.end_s)

    def _first_window(self, now_s: float, reply: Reply) -> None:
        """The first few notes wherever the model puts them, then pulled to the reply's start (a beat, with a grid)."""
        start = reply.planned_until_s
        plan = self.planner.plan_first(now_s, start, start + FIRST_HORIZON_S)
        notes = self.generate(plan)
        next_start = plan.end_s
        if notes:
            full = len(notes) >= plan.max_notes
            if notes[0].onset_s > start:
                notes = self.context.pull_to(notes, start)
            notes = self.context.keep_before(notes, reply.end_s)
            next_start = notes[-1].onset_s if full and notes else reply.end_s
        self._commit(notes, reply, next_start)

    def _commit(self, notes: list[Note], reply: Reply, next_start_s: float) -> None:
        with self._lock:
            if self._reply is not reply or self._barge_at is not None or self._stop_at is not None or self.paused:
                return  # the human came back (or the DAW stopped) meanwhile: these notes never sound
            barge = self._played_meanwhile(reply)
            if barge is not None:
                self._barge_at = barge
                return
            reply.planned_until_s = next_start_s
            if notes:
                reply.last_end_s = max(reply.last_end_s, max(n.end_s for n in notes))
            self.outbox.send(notes, reply.group)
        self.played(notes, next_start_s)


    def _played_meanwhile(self, reply: Reply) -> float | None:
        """A key pressed while the reply was being decided: where the barge-in is (None: nobody played)."""
        last_onset = self.live.last_onset_s
        if last_onset is not None and last_onset >= reply.decided_s:
            return min(last_onset, reply.planned_until_s)
        return None


class Continue(CallResponse):
    name = "continue"

    def __init__(self, parts: ModeParts, has_prompt: bool = False) -> None:
        super().__init__(parts)
        if has_prompt:  # the prompt is the phrase to continue: answered at once
            self._prompt_pending = True
            self._phrase_start = 0.0

    def reply_length_s(self, phrase_s: float) -> float:
        return UNBOUNDED_S  # plays on until the human plays again


class Duet(Mode):
    name = "duet"

    def __init__(self, parts: ModeParts) -> None:
        super().__init__(parts)
        self._until: float | None = None
        self._lock = threading.Lock()
        self._started_by_daw = False
        self._stop_at: float | None = None

    @property
    def planned_until_s(self) -> float | None:
        return self._until

    def _stopped(self, t_s: float) -> None:
        with self._lock:
            self._stop_at, self._started_by_daw = t_s, False

    def _started(self, t_s: float) -> None:
        self._started_by_daw = True

    def step(self, now_s: float, taken: Taken) -> None:
        with self._lock:
            stop_at, self._stop_at = self._stop_at, None
        if stop_at is not None:
            self.context.forget_from(stop_at)
            self._until = None
        self.context.hear(taken.notes)
        if self.paused:
            return
        if self._until is None:
            if self.live.last_onset_s is None and not self._started_by_daw:
                return  # the duet starts with the human's first note, or the DAW's Start
            self._until = self.on_beat(now_s + self.planner.first_cost_s())
        window_s = self.context.controls.window_s
        if self._until >= now_s + window_s:
            return
        self.context.hear_sounding(self.live.sounding_notes(now_s))
        start = max(self._until, now_s + self.config.safety_margin_s)
        plan = self.planner.plan(now_s, start, start + window_s)
        if plan is None:
            self._until = start + window_s
            return
        notes = self.generate(plan)
        with self._lock:  # Stop waits for a send under way, then silences it
            if self._stop_at is not None or self.paused:
                return  # stopped while generating: these never sound (forgotten at the next step)
            self._until = plan.end_s
            self.outbox.send(notes, None)
        self.played(notes, plan.end_s)


def make_mode(parts: ModeParts, has_prompt: bool = False) -> Mode:
    """The policy for the configured mode."""
    mode = parts.settings.current.mode
    if mode == Duet.name:
        return Duet(parts)
    if mode == Continue.name:
        return Continue(parts, has_prompt)
    assert mode == CallResponse.name, f"unknown mode {mode!r}"  # EngineConfig validated it
    return CallResponse(parts)
