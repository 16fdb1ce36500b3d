"""The session's time: one tempo source (`--sync`), the grid every part reads, and what follows from it.

`TempoSource` keeps one `BeatGrid` per session from one of:

- `clock`: MIDI clock on the input (or on `--clock-in`), through `timing.midiclock.ClockFollower`; realtime
  messages go to it, never to the model. Start / Continue / Stop reach `on_transport` (the mode starts and stops
  playing; Stop silences at once).
- `human`: `timing.tracker.TempoTracker` over the human's onsets (in duet also the engine's own); "no tempo" when
  the playing is free.
- `fixed`: `--bpm`, beats from session time 0.
- `auto`: the clock while clock arrives, else the tracker.
- `off`: no grid (the engine as it was: replies at the silence threshold, no meter prior).

`--sync clock` with no clock arriving: after `clock_wait_s` one warning line says so; the engine plays on without a
tempo (replies at the threshold) and follows the clock as soon as it arrives. A clock that stops after the DAW's
Stop is not missing: nothing is said; one that stops while the transport runs gets one line.

`TimeKeeper` is what the engine holds: the source, the grid as of the last worker pass (`grid`, read by the modes,
the outbox and the report from any thread), the tempo log for the report, and the tempo map of the recording
(`timing.tempomap.BeatAligner` -> `Outputs`): the recorder's map opens at the first reliable tempo (a whole window of
clock, the tracker's estimate, `--bpm`) from its start, with the clock's bars on its bars (`Outputs.open_tempo`);
changes after that go out as `Outputs.tempo_change`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import mido

from ...timing.grid import MAX_BPM, MIN_BPM, BeatGrid
from ...timing.midiclock import TRANSPORT, ClockFollower, TransportEvent
from ...timing.tempomap import BeatAligner
from ...timing.tracker import TempoTracker
from .report import SessionStats

log = logging.getLogger(__name__)
SYNCS = ("auto", "clock", "human", "fixed", "off")
LOG_EVERY_S = 0.5


@dataclass(frozen=True)
class TempoConfig:
    """`sync` one of SYNCS; `bpm` the fixed tempo (sync "fixed"); the tracker is updated every `update_s`."""

    sync: str = "off"
    bpm: float | None = None
    update_s: float = 0.1
    clock_wait_s: float = 5.0
    clock_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if self.sync not in SYNCS:
            raise ValueError(f"unknown --sync {self.sync!r}; valid: auto, clock, human, off (and --bpm N)")
        if self.bpm is not None and not MIN_BPM <= self.bpm <= MAX_BPM:
            raise ValueError(f"--bpm must be in [{MIN_BPM:g}, {MAX_BPM:g}], got {self.bpm:g}")
        if self.sync == "fixed" and self.bpm is None:
            raise ValueError("sync 'fixed' needs a tempo: --bpm N")
        if self.update_s <= 0 or self.clock_wait_s <= 0 or self.clock_timeout_s <= 0:
            raise ValueError("update_s, clock_wait_s and clock_timeout_s must be > 0")

    @classmethod
    def from_options(cls, sync: str = "auto", bpm: float | None = None) -> TempoConfig:
        """The CLI's `--sync` and `--bpm`: a tempo with auto or off means a fixed tempo."""
        if bpm is not None:
            if sync not in ("auto", "off", "fixed"):
                raise ValueError(f"--bpm sets a fixed tempo; it does not go with --sync {sync}")
            sync = "fixed"
        return cls(sync=sync, bpm=bpm)


class TempoSource:
    """The grid from the configured source. `feed` (MIDI thread), `hear` (any thread), `grid` (the worker)."""

    def __init__(self, config: TempoConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.on_transport: Callable[[TransportEvent], None] | None = None
        self.follower = ClockFollower(on_transport=self._transport, timeout_s=config.clock_timeout_s)
        self.tracker = TempoTracker()
        self._fixed = BeatGrid(config.bpm, 0.0, "fixed") if config.bpm is not None else None
        self._tracked: BeatGrid | None = None
        self._tracked_at = float("-inf")

    def _transport(self, ev: TransportEvent) -> None:
        if self.config.sync in ("clock", "auto") and self.on_transport is not None:
            self.on_transport(ev)

    def feed(self, msg: mido.Message, t_s: float) -> None:
        """A realtime message (clock, start, stop, continue, songpos) stamped `t_s`."""
        with self._lock:
            self.follower.feed(msg.type, t_s, getattr(msg, "pos", None))

    def hear(self, t_s: float, velocity: int) -> None:
        """An onset the tracker should hear (the human's; in duet also the engine's)."""
        if self.config.sync in ("human", "auto"):
            with self._lock:
                self.tracker.add(t_s, velocity)

    def clock_alive(self, now_s: float) -> bool:
        return self.follower.alive(now_s)

    def grid(self, now_s: float) -> BeatGrid | None:
        sync = self.config.sync
        if sync == "off":
            return None
        if sync == "fixed":
            return self._fixed
        if sync == "clock" or (sync == "auto" and self.follower.alive(now_s)):
            return self.follower.grid if self.follower.alive(now_s) else None
        if now_s - self._tracked_at >= self.config.update_s:
            with self._lock:
                self._tracked = self.tracker.update(now_s)
            self._tracked_at = now_s
        return self._tracked

    def steady(self, grid: BeatGrid) -> bool:
        """Whether `grid` is an estimate to write down: a clock's from a whole window of ticks; others as they come
        (the tracker gives none below its confidence; a fixed tempo is exact)."""
        return grid.source != "clock" or self.follower.steady

    def bar_s(self, now_s: float) -> float | None:
        """A bar's first beat when the source knows bars (a running clock), else None."""
        return self.follower.bar_s() if self.follower.alive(now_s) else None

    def origin_s(self, now_s: float) -> float | None:
        """The time of the clock's song position 0 when a running clock knows it (the form's bar 1), else None."""
        if not self.follower.alive(now_s):
            return None
        with self._lock:
            return self.follower.origin_s()


class TimeKeeper:
    """The engine's time: `update(now)` once a worker pass; `grid` is the grid of the last pass."""

    def __init__(self, source: TempoSource, stats: SessionStats | None = None, outputs=None) -> None:
        self.source = source
        self.stats = stats or SessionStats()
        self.stats.tempo_source = source.config.sync
        self.grid: BeatGrid | None = None
        self.used: set[str] = set()
        self._aligner = BeatAligner()
        self._outputs = outputs  # the session's `Outputs`: the recorder writes the tempo map
        self._opened = False  # the recording's map opened (or found opened) at a reliable tempo
        self._started_s: float | None = None
        self._warned = False  # "no clock arriving" said
        self._lost_warned = False  # "the clock stopped without a Stop" said, for this stop
        self._logged_s = float("-inf")

    @property
    def sync(self) -> str:
        return self.source.config.sync

    @property
    def active(self) -> bool:
        return self.sync != "off"

    def feed(self, msg: mido.Message, t_s: float) -> bool:
        """Routes a realtime message to the clock follower; True when `msg` was one (it goes nowhere else)."""
        if msg.type not in TRANSPORT:
            return False
        self.source.feed(msg, t_s)
        return True

    def hear(self, t_s: float, velocity: int) -> None:
        self.source.hear(t_s, velocity)

    def update(self, now_s: float) -> BeatGrid | None:
        if not self.active:
            return None
        grid = self.source.grid(now_s)
        if grid is not None and grid is not self.grid:
            if now_s - self._logged_s >= LOG_EVERY_S:  # the tempo over the session, for the report's median
                self._logged_s = now_s
                self.stats.tempo_bpm.append(grid.bpm)
            self.used.add(grid.source)
            self.stats.tempo_source = self.source_name()
            self._write_tempo(now_s, grid)
        self.grid = grid
        self._check_clock(now_s)
        return grid

    def _write_tempo(self, now_s: float, grid: BeatGrid) -> None:
        if self._outputs is None:
            return
        bar = self.source.bar_s(now_s)
        if not self._opened:
            if not self.source.steady(grid):
                return  # the file waits for a tempo worth writing from its start
            lead = self._aligner.open(grid, *((bar, 4) if bar is not None else (grid.beat_s, 1)))
            self._opened = True
            if self._outputs.open_tempo(grid.bpm, lead):
                return
            self._aligner = BeatAligner()  # a map had opened at 120 bpm already: corrections from there
        for t_s, bpm in self._aligner.update(now_s, grid, bar):
            self._outputs.tempo_change(t_s, bpm, grid.next_beat(t_s))

    def _check_clock(self, now_s: float) -> None:
        """`--sync clock`: one warning when no clock has come `clock_wait_s` into the session, one each time a running
        clock stops arriving without a Stop; none after a Stop (the DAW stopped its clock: nothing is missing)."""
        if self._started_s is None:
            self._started_s = now_s
        if self.sync != "clock":
            return
        follower = self.source.follower
        if self.source.clock_alive(now_s):
            self._lost_warned = False
        elif follower.last_clock_s is None:
            if not self._warned and now_s - self._started_s >= self.source.config.clock_wait_s:
                self._warned = True
                log.warning("--sync clock: no MIDI clock arriving after %.0f s; playing without a tempo until it "
                            "does", self.source.config.clock_wait_s)
        elif follower.running and not self._lost_warned:
            self._lost_warned = True
            log.warning("--sync clock: the MIDI clock stopped without a Stop; playing without a tempo until it "
                        "returns")

    def source_name(self) -> str:
        """"auto (clock, human)", "clock", "off", ...: the option and the sources actually followed."""
        if self.sync in ("auto",) and self.used:
            return f"auto ({', '.join(sorted(self.used))})"
        return self.sync


    def beat_offset_ms(self, t_s: float) -> None:
        """A reply's first note went out at `t_s`: its offset from the nearest beat, into the stats."""
        if self.grid is not None:
            self.stats.reply_beat_offset_ms.append(self.grid.offset_to_beat_s(t_s) * 1e3)

    def onset_sent(self, t_s: float, velocity: int, own_heard: bool) -> None:
        """A model onset went out at `t_s`: its distance to the grid, into the stats (and to the tracker in duet)."""
        grid = self.grid
        if grid is not None:
            d = float(grid.subdivision_distance_beats(t_s))
            self.stats.beat_alignment_beats.append(d)
            self.stats.beat_alignment_ms.append(d * grid.period_s * 1e3)
        if own_heard:
            self.hear(t_s, velocity)

