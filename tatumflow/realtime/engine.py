"""The jam engine: listens to the human, decides when and what to play, and keeps generation ahead of time.

Threads: the MIDI callback calls `on_message` (stamps are already taken); a worker thread runs `step(now)` every few
ms and owns the generator state; the scheduler thread sends. The worker absorbs each finished human note as it comes
(so a reply needs only a few decode steps), generates a reply's first short window just before the silence
threshold is reached, then keeps one window ahead. The human barging in cancels unsent notes at once (from the
callback) and the worker forgets them from the context (`truncate`). Offline tests drive `step` and
`scheduler.run_due` with a `SimClock`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import mido

from ..generate.controls import Controls
from ..notes import Note
from .clock import MonotonicClock, prepare_live_process
from .config import EngineConfig
from .livein import EchoFilter, LiveInput
from .planner import WindowPlan, plan_first_chunk, plan_window
from .report import SessionStats, build_report
from .scheduler import Scheduler
from .sinks import HUMAN, Sink

log = logging.getLogger(__name__)
UNBOUNDED_S = 1e9
FIRST_HORIZON_S = 30.0  # a reply's first notes are sampled wherever the model puts them, then pulled to the start


@dataclass
class Reply:
    group: int
    trigger_s: float  # when the silence threshold was reached
    end_s: float  # the reply's planned end (UNBOUNDED_S in `continue`)
    planned_until_s: float  # the next window starts here
    decided_s: float = 0.0  # when the engine decided to answer
    last_end_s: float = 0.0  # end of the last planned note


class JamEngine:
    def __init__(self, generator, controls: Controls, config: EngineConfig, sinks: Sequence[Sink], clock=None,
                 prompt: Sequence[Note] = ()) -> None:
        self.gen, self.config, self.sinks = generator, config, list(sinks)
        self.clock = clock or MonotonicClock()
        self._controls = controls
        self.live = LiveInput()
        self.echo = EchoFilter(config.echo_window_ms / 1e3)
        self.stats = SessionStats(mode=config.mode)
        self.scheduler = Scheduler(self.sinks, self.clock, config.channel, config.drop_tolerance_ms / 1e3,
                                   config.late_threshold_ms / 1e3, self.echo, self._on_group_start)
        self.state = generator.init_state(self._place_prompt(prompt), controls, start_s=0.0)
        self.reply: Reply | None = None
        self._duet_until: float | None = None
        self._phrase_start: float | None = prompt[0].onset_s if prompt and config.mode == "continue" else None
        self._prompt_pending = bool(prompt) and config.mode == "continue"
        self._absorbed: set[tuple[float, int]] = set()
        self._triggers: dict[int, float] = {}
        self._groups = itertools.count()
        self._lock = threading.Lock()
        self._barge_at: float | None = None
        self.ms_per_note = 5.0  # running estimates, refined after each window
        self.notes_per_s = 10.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.error: BaseException | None = None
        self._started_at = 0.0

    def _place_prompt(self, prompt: Sequence[Note]) -> list[Note]:
        """The prompt moved into the past, so that it ends just before the session starts."""
        if not prompt:
            return []
        offset = self.clock.now() - 0.05 - max(n.onset_s for n in prompt)
        return [n.shifted(offset) for n in prompt]

    # -- controls and input (any thread) ---------------------------------------------------------------------
    @property
    def controls(self) -> Controls:
        return self._controls

    def set_controls(self, controls: Controls) -> None:
        """Takes effect from the next window."""
        self._controls = controls

    def on_message(self, msg: mido.Message, t_s: float) -> None:
        """A human message stamped at `t_s` (session time): monitor it, fold it in, barge in if we are playing."""
        if msg.type in ("note_on", "note_off", "control_change"):
            for sink in self.sinks:
                sink.send(msg.copy(channel=self.config.human_channel), HUMAN, t_s)
        kind = self.live.handle(msg, t_s)
        if kind == "on":
            self.stats.human_notes += 1
            if self.config.mode != "duet":
                self._barge_in(t_s)
        if kind is not None:
            self._wake.set()

    def _barge_in(self, t_s: float) -> None:
        with self._lock:
            if self.reply is not None and self._barge_at is None:
                self._barge_at = t_s
                dropped = self.scheduler.cancel_from(t_s)
                log.debug("human barged in at %.3f s: %d planned notes dropped", t_s, dropped)

    def on_disconnect(self, t_s: float) -> None:
        self.stats.keyboard_disconnects += 1
        self.live.release_all(t_s)
        self._wake.set()

    # -- the worker's step -----------------------------------------------------------------------------------
    def step(self, now: float) -> None:
        """One pass of the worker: absorb what the human played, then plan what is due."""
        self._handle_barge()
        taken = self.live.take()
        if taken.onsets and self._phrase_start is None:
            self._phrase_start = min(taken.onsets)
        self._absorb(taken.notes)
        if self.config.mode == "duet":
            self._duet_step(now)
        elif self.reply is None:
            self._maybe_reply(now)
        else:
            self._extend_reply(now)

    def _absorb(self, notes: Sequence[Note]) -> None:
        fresh = [n for n in notes if (n.onset_s, n.pitch) not in self._absorbed]
        if fresh:
            self._absorbed.update((n.onset_s, n.pitch) for n in fresh)
            self.gen.absorb(self.state, fresh, self._controls)

    def _handle_barge(self) -> None:
        with self._lock:
            barge_at, self._barge_at = self._barge_at, None
            if barge_at is None:
                return
            self.reply = None
        self.gen.truncate(self.state, barge_at)  # planned notes that never sounded leave the context
        self.stats.barge_ins += 1
        self._phrase_start = barge_at

    # -- call-response and continue --------------------------------------------------------------------------
    def _trigger_time(self, now: float) -> float | None:
        if self._prompt_pending:
            return now
        if self._phrase_start is None:
            return None
        silent = self.live.silence_since()
        if silent is not None:
            return silent + self.config.silence_threshold_s
        last = self.live.last_onset_s
        if last is not None and now - last >= self.config.silence_threshold_s + self.config.hold_grace_s:
            return now  # keys held a long time without playing: answer anyway
        return None

    def _lead_s(self) -> float:
        """How long before the trigger the first window is generated (its expected cost, with margin)."""
        return min(2 * self._first_cost_s() + 0.02, 0.9 * self.config.silence_threshold_s)

    def _maybe_reply(self, now: float) -> None:
        trigger = self._trigger_time(now)
        if trigger is None or now < trigger - self._lead_s():
            return
        self._absorb(self.live.sounding_notes(now))  # keys still down enter with the duration held so far
        silent = self.live.silence_since() or now
        phrase_s = max(silent - (self._phrase_start if self._phrase_start is not None else silent), 0.0)
        if self.config.mode == "continue":
            length = UNBOUNDED_S
        else:
            length = min(max(phrase_s * self.config.reply_ratio, self.config.min_reply_s), self.config.max_reply_s)
        group = next(self._groups)
        if not self._prompt_pending:  # the prompt's continuation answers nobody: no reply latency to record
            self._triggers[group] = trigger
        self._phrase_start, self._prompt_pending = None, False
        start = max(trigger, now + self._first_cost_s())
        with self._lock:
            self.reply = Reply(group, trigger, start + length, start, decided_s=now)
        self.stats.replies += 1
        self._reply_window(now, first=True)

    def _first_cost_s(self) -> float:
        return self.ms_per_note / 1e3 * self.config.first_notes + self.config.safety_margin_s

    def _extend_reply(self, now: float) -> None:
        reply = self.reply
        if reply.planned_until_s >= reply.end_s:
            if now >= max(reply.last_end_s, reply.end_s):
                with self._lock:
                    self.reply = None
            return
        if reply.planned_until_s < now + self._controls.window_s:
            self._reply_window(now, first=False)

    def _reply_window(self, now: float, first: bool) -> None:
        reply = self.reply
        start = reply.planned_until_s
        if first:  # the first few notes wherever the model puts them, then pulled to the start
            plan = plan_first_chunk(now, start, start + FIRST_HORIZON_S, self.ms_per_note, self.config)
        else:
            plan = self._plan(now, start, min(start + self._controls.window_s, reply.end_s))
        if plan is None:
            reply.planned_until_s = min(now + self._first_cost_s(), reply.end_s)
            return
        notes = self._generate(plan)
        next_start = plan.end_s
        if first and notes:
            full = len(notes) >= plan.max_notes
            notes = self._within(self._pull_to(notes, start) if notes[0].onset_s > start else notes, reply.end_s)
            next_start = notes[-1].onset_s if full and notes else reply.end_s
        self._commit(notes, reply, next_start)

    def _within(self, notes: list[Note], end_s: float) -> list[Note]:
        """The notes before `end_s`; later ones leave the context too."""
        keep = [n for n in notes if n.onset_s < end_s]
        if len(keep) < len(notes):
            self.gen.truncate(self.state, notes[len(keep)].onset_s)
        return keep

    def _pull_to(self, notes: list[Note], start: float) -> list[Note]:
        """Shift a freshly generated window earlier so that its first onset is `start` (context updated too)."""
        offset = notes[0].onset_s - start
        self.gen.truncate(self.state, notes[0].onset_s)
        shifted = [n.shifted(-offset) for n in notes]
        self.gen.absorb(self.state, shifted, self._controls, heard=False)  # its own notes: not for the harmony prior
        return shifted

    def _commit(self, notes: list[Note], reply: Reply, next_start_s: float) -> None:
        with self._lock:
            if self.reply is not reply or self._barge_at is not None:
                return  # the human came back meanwhile: these notes never sound (truncated with the barge)
            last_onset = self.live.last_onset_s
            if last_onset is not None and last_onset >= reply.decided_s:
                self._barge_at = min(last_onset, reply.planned_until_s)  # played while we decided: a barge-in
                return
            reply.planned_until_s = next_start_s
            if notes:
                reply.last_end_s = max(reply.last_end_s, max(n.end_s for n in notes))
            self._send_plan(notes, reply.group)

    # -- duet -------------------------------------------------------------------------------------------------
    def _duet_step(self, now: float) -> None:
        if self._duet_until is None:
            if self.live.last_onset_s is None and not self._prompt_pending:
                return  # the duet starts with the human's first note
            self._duet_until = now + self._first_cost_s()
        if self._duet_until >= now + self._controls.window_s:
            return
        self._absorb(self.live.sounding_notes(now))
        start = max(self._duet_until, now + self.config.safety_margin_s)
        plan = self._plan(now, start, start + self._controls.window_s)
        if plan is None:
            self._duet_until = start + self._controls.window_s
            return
        notes = self._generate(plan)
        self._duet_until = plan.end_s
        with self._lock:
            self._send_plan(notes, None)

    # -- generation -------------------------------------------------------------------------------------------
    def _plan(self, now: float, start: float, end: float) -> WindowPlan | None:
        plan = plan_window(now, start, end, self.ms_per_note, self.notes_per_s, self.config)
        if plan is None:
            self.stats.skipped_windows += 1
            log.debug("window %.2f-%.2f skipped: no time to generate it", start, end)
        elif plan.degraded:
            self.stats.degraded_windows += 1
        return plan

    def _generate(self, plan: WindowPlan) -> list[Note]:
        controls = self._controls
        if plan.max_notes < controls.max_notes_per_window:
            controls = replace(controls, max_notes_per_window=plan.max_notes)
        t0 = self.clock.now()
        notes, self.state = self.gen.generate_chunk(self.state, [], controls, start_s=plan.start_s, end_s=plan.end_s)
        spent_ms = (self.clock.now() - t0) * 1e3
        self.stats.generation_ms.append(spent_ms)
        if notes:
            self.ms_per_note = 0.7 * self.ms_per_note + 0.3 * spent_ms / len(notes)
        if plan.end_s - plan.start_s >= FIRST_HORIZON_S:  # a reply's first notes: music up to the last onset
            self.stats.window_music_s.append(notes[-1].onset_s - plan.start_s if notes else 0.0)
            return notes
        self.stats.window_music_s.append(plan.end_s - plan.start_s)
        self.notes_per_s = 0.7 * self.notes_per_s + 0.3 * max(len(notes) / (plan.end_s - plan.start_s), 2.0)
        return notes

    def _send_plan(self, notes: list[Note], group: int | None) -> None:
        """Queue notes; onsets that can no longer be sent on time are dropped and counted, never sent late."""
        horizon = self.clock.now() + 0.0005
        ok = [n for n in notes if n.onset_s >= horizon]
        self.stats.dropped_notes += len(notes) - len(ok)
        self.scheduler.plan(ok, group)

    def _on_group_start(self, group: int, sent_s: float) -> None:
        trigger = self._triggers.pop(group, None)
        if trigger is not None:
            self.stats.reply_ms.append((sent_s - trigger) * 1e3)

    # -- running ----------------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """One throw-away window on a copy of the state: loads caches/kernels and seeds the cost estimate."""
        probe = self.state.copy()
        t0 = self.clock.now()
        controls = replace(self._controls, max_notes_per_window=self.config.first_notes)
        notes, _ = self.gen.generate_chunk(probe, [], controls, start_s=probe.window_start_s,
                                           end_s=probe.window_start_s + self._controls.window_s)
        if notes:
            self.ms_per_note = (self.clock.now() - t0) * 1e3 / len(notes)

    def start(self) -> JamEngine:
        prepare_live_process(self.config.torch_threads)
        self.warm_up()
        self._started_at = self.clock.now()
        self.scheduler.start()
        self._worker = threading.Thread(target=self._run, name="tatumflow-worker", daemon=True)
        self._worker.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.step(self.clock.now())
                self._wake.wait(self.config.poll_ms / 1e3)
                self._wake.clear()
        except BaseException as err:  # reported to the session, which stops everything cleanly
            log.exception("engine worker failed")
            self.error = err
            self._stop.set()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def stop(self) -> dict:
        """Stop generating and sending, silence every sink, and return the report."""
        self._stop.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=5)
        self.scheduler.stop()
        for sink in self.sinks:
            sink.all_notes_off(self.clock.now())
        self.stats.duration_s = self.clock.now() - self._started_at
        self.stats.echoes_suppressed = self.echo.suppressed
        return build_report(self.stats, self.scheduler.stats, stuck_notes=sum(s.sounding for s in self.sinks))
