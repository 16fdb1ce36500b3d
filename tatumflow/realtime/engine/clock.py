"""One clock for the whole real-time path, precise waiting, and live-thread set-up.

Session time is seconds since the session started, read from `time.monotonic_ns`. Every input stamp, every planned
onset and every send time uses it. `SimClock` is a manual clock for offline tests of the engine logic.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

SPIN_S = 0.001  # the last millisecond before a deadline is spun, not slept
FIFO_PRIORITY = 20  # the sender's; the worker's is one below (engine.py), an input reader's two below
INPUT_PRIORITY = FIFO_PRIORITY - 2
_input_thread = threading.local()  # whether this thread was already seen by `promote_input_thread`


class Clock(Protocol):
    """What the real-time path needs of a clock: session time, and waiting for a moment of it."""

    def now(self) -> float: ...

    def sleep_until(self, t_s: float, stop: threading.Event | None = None, spin: bool = True) -> None: ...


class MonotonicClock:
    """Seconds since construction, from `time.monotonic_ns`."""

    def __init__(self) -> None:
        self.origin_ns = time.monotonic_ns()

    def now(self) -> float:
        return (time.monotonic_ns() - self.origin_ns) * 1e-9

    def sleep_until(self, t_s: float, stop: threading.Event | None = None, spin: bool = True) -> None:
        """Sleep, then spin the last `SPIN_S`, until session time `t_s` (returns early if `stop` is set). `spin`
        False: sleep all the way (~0.1 ms late), for a thread that stands for something outside the engine, such as
        a simulated player: a spin holds the interpreter lock, and in the bench's quota duet the player's thread,
        frozen by the quota while spinning, is the likely holder the sender waited 3-8 ms for (by the evidence:
        the late notes came while the engine's own threads were waiting on the generator's pipe)."""
        while True:
            left = t_s - self.now()
            if left <= 0:
                return
            nap = left - SPIN_S if spin else left
            if nap > 0:
                if stop is not None:
                    if stop.wait(nap):
                        return
                else:
                    time.sleep(nap)
            # spin: a busy wait keeps the wake-up precise where the OS timer would be ~0.1-1 ms late


class SimClock:
    """A manual clock for tests: `advance(dt)` moves time; waiting returns at once."""

    def __init__(self, start_s: float = 0.0) -> None:
        self.t = start_s

    def now(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> None:
        self.t += dt_s

    def sleep_until(self, t_s: float, stop: threading.Event | None = None, spin: bool = True) -> None:
        self.t = max(self.t, t_s)


def try_realtime_priority(priority: int = FIFO_PRIORITY) -> bool:
    """Put the calling thread under SCHED_FIFO when the OS allows it; silently stay as is otherwise."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0 = the calling thread on Linux
    except (OSError, PermissionError, ValueError):
        return False
    log.debug("thread %s runs under SCHED_FIFO %d", threading.current_thread().name, priority)
    return True


def promote_input_thread(priority: int = INPUT_PRIORITY) -> bool:
    """Put the calling thread, one that hands the player's messages to the engine (a MIDI library's reader), under
    SCHED_FIFO `priority`, once per thread, when it runs under the ordinary policy; a thread the MIDI server already
    runs real-time (JACK's process thread) is left as it is. Every Python thread holds the interpreter lock while it
    runs, so an ordinary one that the OS stops mid-message (a CPU quota's throttling, a busy core) keeps the sender
    waiting until it runs again (seen in the CPU-quota duet: benchmarks/decode/2026-12-07d/); a real-time one is not
    throttled by a CFS quota. True when it was promoted now."""
    if getattr(_input_thread, "seen", False):
        return False
    _input_thread.seen = True
    if not hasattr(os, "sched_getscheduler") or os.sched_getscheduler(0) != os.SCHED_OTHER:
        return False
    return try_realtime_priority(priority)


def prepare_live_process(torch_threads: int = 1) -> None:
    """Live-path settings: few torch threads (the scheduler and the input need a core) and a short GIL slice so a
    waking scheduler thread gets the interpreter within ~1 ms."""
    sys.setswitchinterval(0.0005)
    if torch_threads > 0:
        import torch

        torch.set_num_threads(torch_threads)


def settle_heap() -> None:
    """Collect once, then move everything alive into the collector's permanent generation (`gc.freeze`). A full
    collection otherwise walks every object the imports made (torch, Textual, the model): 20-93 ms in the CPU-quota
    duet, holding the interpreter lock, so the sender waited that long (notes 40-68 ms late). After this, it walks
    only what the session allocated since (a second call: ~0.1 ms). Called once the generator is loaded (session.py,
    before the ports open) and once the engine is warmed up (`JamEngine.start`)."""
    gc.collect()
    gc.freeze()
