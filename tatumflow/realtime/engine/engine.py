"""The jam engine: wiring, the worker loop, and the engine's public surface. `build_engine` makes one.

Threads: the MIDI callback calls `on_message` (stamps are already taken: the human's notes go to the monitor sinks,
into `LiveInput`, and a key press to the mode, which may cancel a reply at once); a worker thread calls `step(now)`
every few ms (or sooner, woken by input): it takes what the human played and hands it to the mode policy
(modes.py), which hears it into the context (context.py) and plans windows through the outbox (outbox.py); the
scheduler's thread sends. Offline tests drive `tick(now)` with a `SimClock` instead of `start()`.

What the engine's users get: `on_message`, `on_disconnect`, `is_echo` (for `MidiInput`), `controls` /
`set_controls`, `start`, `stop` (returns the report), `report`, `stats`, `snapshot`, `context_notes`, `failed` /
`error`, `clock`, `config`. Live switches (any thread, for the control surface, surface.py): `update_config` (engine
settings read at the next step: silence threshold, reply ratio), `switch(mode=, muted=)` and `panic()`: what is
planned stops at once, and the worker starts a fresh mode policy at its next step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import mido

from ...generate.controls import Controls
from ...generate.process import GeneratorGone
from ...notes import Note
from ...timing.form import Form
from ..ports.outputs import Outputs
from ..ports.sinks import Sink
from .clock import FIFO_PRIORITY, Clock, MonotonicClock, prepare_live_process, settle_heap, try_realtime_priority
from .config import EngineConfig, Settings
from .context import LiveContext
from .liveform import FormView, LiveForm
from .livein import EchoFilter, LiveInput, Taken
from .modes import Mode, ModeParts
from .outbox import Outbox
from .planner import Planner
from .report import SessionStats, build_report
from .tempo import TempoConfig, TempoSource, TimeKeeper
from .trade import make_mode

log = logging.getLogger(__name__)
WORKER_PRIORITY = FIFO_PRIORITY - 1  # when the generator has its own process (the sender's is higher)
MONITORED = ("note_on", "note_off", "control_change")  # the human's messages echoed to the sinks


@dataclass(frozen=True)
class EngineSnapshot:
    """What the engine is doing, read without blocking it (for a UI, the demo, tests)."""

    mode: str
    replying: bool
    planned_until_s: float | None
    context_notes: int
    keys_down: int
    human_notes: int
    replies: int
    muted: bool = False
    last_window_ms: float | None = None
    last_reply_ms: float | None = None
    late_notes: int = 0
    dropped_notes: int = 0
    tempo_bpm: float | None = None
    tempo_from: str | None = None  # the grid's source: clock, human, fixed (None without a grid)
    last_heard_ms: float | None = None  # the last reply: the human's last release -> its first note
    form: FormView | None = None  # where the tune's form is (jam --changes; None: no chart, or not placed yet)


class JamEngine:
    """Made by `build_engine`; the parts are passed in whole and stay private."""

    def __init__(self, settings: Settings, clock: Clock, outputs: Outputs, live: LiveInput, echo: EchoFilter,
                 context: LiveContext, planner: Planner, mode: Mode, outbox: Outbox, stats: SessionStats,
                 time: TimeKeeper | None = None, form: LiveForm | None = None) -> None:
        self._settings, self.clock = settings, clock
        self.outputs, self._live, self._echo = outputs, live, echo
        self._context, self._planner, self._mode, self._outbox, self._stats = context, planner, mode, outbox, stats
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._started_at = 0.0
        self.error: BaseException | None = None
        self.muted = False
        self._quiet = False  # after a panic: silent until the human plays again
        self._switch_lock = threading.Lock()
        self._switch_at: float | None = None  # a mode switch / mute / panic the worker has still to apply
        self.time = time or TimeKeeper(TempoSource(TempoConfig()), stats)  # the session's tempo (tempo.py)
        self.form = form  # the tune's form in time (liveform.py), read by the modes

    # -- any thread --------------------------------------------------------------------------------------------
    @property
    def config(self) -> EngineConfig:
        """The session's engine configuration now (the one every part reads)."""
        return self._settings.current

    @property
    def controls(self) -> Controls:
        return self._context.controls

    def set_controls(self, controls: Controls) -> None:
        """Takes effect from the next window."""
        self._context.set_controls(controls)

    @property
    def stats(self) -> SessionStats:
        return self._stats

    @property
    def send_stats(self):
        """The scheduler's counters (what was sent, dropped, undelivered)."""
        return self._outbox.send_stats

    @property
    def failed(self) -> bool:
        return self.error is not None

    def snapshot(self) -> EngineSnapshot:
        st, sent = self._stats, self._outbox.send_stats
        grid = getattr(self.time, "grid", None)
        return EngineSnapshot(self.config.mode, self._mode.replying, self._mode.planned_until_s,
                              len(self._context), self._live.keys_down, st.human_notes, st.replies, self.muted,
                              st.generation_ms[-1] if st.generation_ms else None,
                              st.reply_ms[-1] if st.reply_ms else None, sent.late_notes,
                              st.dropped_notes + sent.dropped_notes, getattr(grid, "bpm", None),
                              getattr(grid, "source", None),
                              st.phrase_to_reply_ms[-1] if st.phrase_to_reply_ms else None,
                              self.form.view(self.clock.now()) if self.form is not None else None)

    # -- live switches (any thread) ----------------------------------------------------------------------------
    def update_config(self, **changes) -> None:
        """Engine settings changed live (e.g. silence_threshold_s, reply_ratio): the one configuration is replaced;
        every part reads it from its next step."""
        self._settings.update(**changes)

    def switch(self, mode: str | None = None, muted: bool | None = None) -> None:
        """Another mode, or mute/unmute: what is planned stops now; a fresh mode policy from the next step."""
        if mode is not None:
            self.update_config(mode=mode)
        if muted is not None:
            self.muted = muted
        now = self.clock.now()
        self._outbox.cancel_from(now)
        with self._switch_lock:
            self._switch_at = now if self._switch_at is None else self._switch_at
        self._wake.set()

    def panic(self) -> None:
        """All notes off now (every model output); the reply under way ends, and TatumFlow waits for the human's
        next note."""
        self._quiet = True
        self._outbox.silence(self.clock.now())
        self.switch()

    def _apply_switch(self) -> None:
        with self._switch_lock:
            at, self._switch_at = self._switch_at, None
        if at is None:
            return
        self._outbox.cancel_from(at)  # a window committed while the switch was asked for
        self._context.forget_from(at)  # planned notes that never sounded
        paused = self._mode.paused
        self._mode = make_mode(ModeParts(self._settings, self._live, self._context, self._planner, self._outbox,
                                         self._stats, self.time, self.form))
        self._mode.paused = paused
        self.time.source.on_transport = self._mode.transport

    def context_notes(self) -> tuple[Note, ...]:
        """The notes the model's context holds now (human and model, in time order)."""
        return self._context.notes

    def is_echo(self, data: bytes, t_s: float) -> bool:
        """Whether an input message is our own output coming back (`MidiInput` asks before `on_message`)."""
        return self._echo.is_echo(data, t_s)

    # -- the MIDI callback -------------------------------------------------------------------------------------
    def on_message(self, msg: mido.Message, t_s: float) -> None:
        """A human message stamped at `t_s` (session time): monitor it, fold it in, tell the mode of a key press.
        MIDI clock and transport go to the tempo source only."""
        self._stats.input_messages += 1
        if self.time.feed(msg, t_s):
            return
        if msg.type in MONITORED:
            self.outputs.echo(msg.copy(channel=self.config.human_channel), t_s)
        kind = self._live.handle(msg, t_s)
        if kind == "on":
            self._stats.human_notes += 1
            self.time.hear(t_s, msg.velocity)
            self._mode.human_onset(t_s)
        if kind is not None:
            self._wake.set()

    def on_input_lost(self, n: int) -> None:
        """`n` input messages were lost before they reached `on_message` (counted by the input; any thread)."""
        self._stats.input_lost += n

    def on_disconnect(self, t_s: float) -> None:
        self._stats.keyboard_disconnects += 1
        self._live.release_all(t_s)
        self._wake.set()

    # -- the worker --------------------------------------------------------------------------------------------
    def step(self, now_s: float) -> None:
        """One pass of the worker: the tempo is updated, what the human played goes to the mode, which plans what
        is due."""
        self.time.update(now_s)
        self._apply_switch()
        taken = self._live.take()
        self._keep_form(now_s, taken)
        self._quiet = self._quiet and not taken.onsets
        if self.muted or self._quiet:
            self._context.hear(taken.notes)  # still listening
            return
        self._mode.step(now_s, taken)

    def _keep_form(self, now_s: float, taken: Taken) -> None:
        """The form placed on this pass's tempo (liveform.py); a count-in, when it starts, goes out now."""
        if self.form is None:
            return
        self.form.hear(taken.onsets)
        count_in = self.form.update(now_s, self.time.grid, self.time.source.origin_s(now_s))
        if count_in and not self.muted:
            self._outbox.send(count_in, None)

    def tick(self, now_s: float) -> None:
        """One worker pass and one send pass at `now_s` (the simulated-clock path: no threads)."""
        self.step(now_s)
        self._outbox.send_due(now_s)

    def _run(self) -> None:
        if self._context.own_process:  # the worker only plans and waits on the generator's process: it may run at
            try_realtime_priority(WORKER_PRIORITY)  # real-time priority, below the sender, never frozen by a quota
        try:
            while not self._stop.is_set():
                self._context.check()
                self.step(self.clock.now())
                self._wake.wait(self.config.poll_ms / 1e3)
                self._wake.clear()
        except GeneratorGone as err:  # the model's process died: said in one line, no traceback of ours
            log.error("engine worker stopped: %s", err)
            self.error = err
            self._stop.set()
        except BaseException as err:  # reported to the session, which stops everything cleanly
            log.exception("engine worker failed")
            self.error = err
            self._stop.set()

    # -- running -----------------------------------------------------------------------------------------------
    def start(self) -> JamEngine:
        """Live-thread settings, a warm-up window, then the scheduler and worker threads."""
        prepare_live_process(0 if self._context.own_process else self.config.torch_threads)  # 0: torch not loaded
        self._planner.warm_up()
        settle_heap()
        self._started_at = self.clock.now()
        self._outbox.start()
        self._worker = threading.Thread(target=self._run, name="tatumflow-worker", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> dict:
        """Stop generating and sending, silence every sink, and return the report."""
        self._stop.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=5)
        self._outbox.stop()
        self.outputs.panic(self.clock.now())
        self._stats.duration_s = self.clock.now() - self._started_at
        return self.report()

    def report(self) -> dict:
        """The session report so far (see report.py)."""
        self._stats.echoes_suppressed = self._echo.suppressed
        return build_report(self._stats, self._outbox.send_stats, stuck_notes=self.outputs.sounding)


def build_engine(generator, sinks: Outputs | Sequence[Sink], *, config: EngineConfig | None = None,
                 controls: Controls | None = None, prompt: Sequence[Note] = (), clock: Clock | None = None,
                 model_name: str = "mock", tempo: TempoConfig | None = None, form: Form | None = None,
                 count_in: bool = False) -> JamEngine:
    """The one way to make an engine: `generator` (a `ChunkedGenerator`, real or mock) answering on `sinks`.

    `prompt` goes into the context before the session (in `continue` it is answered at once); `clock` defaults to a
    `MonotonicClock` (tests pass a `SimClock` and drive `tick`); `model_name` goes into the report; `tempo` is the
    session's tempo source (tempo.py; default off); `form` a tune's chart (jam --changes), placed on that tempo
    (liveform.py; `count_in`: one bar of notes before bar 1, for a fixed tempo).
    """
    outputs = Outputs.of(sinks)
    settings = Settings(config or EngineConfig())
    config = settings.current
    clock = clock or MonotonicClock()
    stats = SessionStats(mode=config.mode, model=model_name)
    echo = EchoFilter(config.echo_window_ms / 1e3)
    time = TimeKeeper(TempoSource(tempo or TempoConfig()), stats, outputs)
    outbox = Outbox(outputs, clock, settings, stats, on_sent=lambda msg, t_s: echo.sent(bytes(msg.bytes()), t_s),
                    time=time)
    context = LiveContext(generator, controls or Controls(), clock, prompt)
    planner = Planner(context, settings, stats)
    live = LiveInput()
    live_form = LiveForm(form, count_in) if form is not None else None
    mode = make_mode(ModeParts(settings, live, context, planner, outbox, stats, time, live_form),
                     has_prompt=bool(prompt))
    time.source.on_transport = mode.transport
    return JamEngine(settings, clock, outputs, live, echo, context, planner, mode, outbox, stats, time, live_form)
