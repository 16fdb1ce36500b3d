"""Where the modes put the notes they want played: a thin owner of the scheduler.

Notes whose onset can no longer be sent on time are dropped and counted here, never sent late; the rest go to the
`Scheduler`. Each reply is a *group*: the scheduler reports the first note of a group it sends, and the outbox turns
that into the reply's timings in the session stats (`ReplyTimes`: what the player hears after the phrase, the
wait for the beat, the engine's own latency). With a `TimeKeeper`, every onset
sent is measured against the grid and each reply's first note against its beat (`time.onset_sent`,
`time.beat_offset_ms`); in duet the engine's own onsets are heard by the tempo tracker too. `silence(t)` is the
DAW's Stop: nothing planned sounds any more, and every output gets all-notes-off at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mido

from ...notes import Note
from ..ports.outputs import Outputs
from ..ports.sinks import Sink
from .clock import Clock
from .config import EngineConfig, Settings
from .report import SessionStats
from .scheduler import Scheduler, SendStats

if TYPE_CHECKING:
    from .tempo import TimeKeeper

SEND_HORIZON_S = 0.0005  # an onset closer than this to now cannot be planned in time


@dataclass(frozen=True)
class ReplyTimes:
    """When a reply was due: `phrase_end_s` the human's last release, `trigger_s` the silence threshold reached,
    `beat_s` the first beat at or after the trigger (the trigger itself without a grid): the engine owes its first
    note then; later is its latency (a slow first window pushed to a later beat counts there too)."""

    phrase_end_s: float
    trigger_s: float
    beat_s: float

    def record(self, stats: SessionStats, sent_s: float) -> None:
        """The first note went out at `sent_s`: the three measures, and the old trigger -> first note."""
        stats.reply_ms.append((sent_s - self.trigger_s) * 1e3)
        stats.beat_wait_ms.append((self.beat_s - self.trigger_s) * 1e3)
        stats.engine_latency_ms.append((sent_s - self.beat_s) * 1e3)
        stats.phrase_to_reply_ms.append((sent_s - self.phrase_end_s) * 1e3)


class Outbox:
    def __init__(self, sinks: Outputs | Sequence[Sink], clock: Clock, config: EngineConfig | Settings,
                 stats: SessionStats, on_sent: Callable[[mido.Message, float], None] | None = None,
                 time: TimeKeeper | None = None) -> None:
        self._clock, self._stats, self._outputs = clock, stats, Outputs.of(sinks)
        self._on_sent, self._time = on_sent, time
        self._settings = Settings.of(config)
        config = self._settings.current  # the channel and the tolerances are fixed for the session
        self._scheduler = Scheduler(self._outputs, clock, config.channel, config.drop_tolerance_ms / 1e3,
                                    config.late_threshold_ms / 1e3, on_sent=self._sent,
                                    on_group_start=self._first_note_sent)
        self._groups = itertools.count()
        self._triggers: dict[int, ReplyTimes] = {}  # group -> when its reply was due and planned

    def new_group(self, times: ReplyTimes | None) -> int:
        """A new reply; `times` None: nobody waits for it (a prompt's continuation), no latency recorded."""
        group = next(self._groups)
        if times is not None:
            self._triggers[group] = times
        return group

    def send(self, notes: Sequence[Note], group: int | None) -> None:
        """Queue notes; onsets that can no longer be sent on time are dropped and counted, never sent late."""
        horizon = self._clock.now() + SEND_HORIZON_S
        ok = [n for n in notes if n.onset_s >= horizon]
        self._stats.dropped_notes += len(notes) - len(ok)
        self._scheduler.plan(ok, group)

    def cancel_from(self, t_s: float) -> int:
        """The human barged in: drop notes from `t_s` on, end sounding ones now. Returns the number dropped."""
        return self._scheduler.cancel_from(t_s)

    def silence(self, t_s: float) -> int:
        """Stop everything at once: planned notes dropped, sounding ones ended, all-notes-off on every output that
        only plays the model (the recorder keeps the human's notes as played). Returns the notes dropped."""
        dropped = self._scheduler.cancel_from(t_s)  # the scheduler's thread sends the note-offs it queued now
        self._outputs.panic(t_s, model_only=True)
        return dropped

    def send_due(self, now_s: float | None = None) -> int:
        """Send what is due (the simulated-clock path; live, the scheduler's thread does this)."""
        return self._scheduler.run_due(now_s)

    def _sent(self, msg: mido.Message, t_s: float) -> None:
        if self._on_sent is not None:
            self._on_sent(msg, t_s)
        if self._time is not None and msg.type == "note_on" and msg.velocity > 0:
            self._time.onset_sent(t_s, msg.velocity, self._settings.current.mode == "duet")

    def _first_note_sent(self, group: int, sent_s: float) -> None:
        if self._time is not None:
            self._time.beat_offset_ms(sent_s)
        times = self._triggers.pop(group, None)
        if times is not None:
            times.record(self._stats, sent_s)

    @property
    def send_stats(self) -> SendStats:
        return self._scheduler.stats

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._scheduler.stop()
