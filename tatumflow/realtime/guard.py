"""What keeps a live session whole when the studio misbehaves: signals, a thread that dies, the MIDI server lost.

`SessionGuard` is made by the session around a running engine:

- SIGINT, SIGTERM and SIGHUP (the terminal closed, the SSH session dropped) all set the stop event: the session then
  stops the usual way (note-offs, report, recording).
- An exception in any thread (worker, scheduler, the MIDI input callback, the recorder) is kept in `error` and
  stops the session the same way; the session then fails with it.
- The JACK server going away (watchdog.py notices within milliseconds) is said in one line; the outputs stop
  taking notes at once, so the report counts only what was really sent. `on_server_loss="exit"` stops the session
  (report and recording written, then `ServerLost`); `"wait"` keeps the session and re-opens the ports when the
  server returns.
- `poll()` also rewrites the report every `report_every_s` (atomically): a killed session leaves a recent one.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from .report import write_report
from .watchdog import JackWatch, NullWatch

log = logging.getLogger(__name__)

ON_SERVER_LOSS = ("wait", "exit")
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
REPORT_EVERY_S = 1.0
LOSS_NOTICE_S = 0.02  # libjack's shutdown notice comes this long after the death at most (measured ~15 ms)


class ServerLost(OSError):
    """The MIDI server went away and the session was asked to exit (`--on-server-loss exit`)."""


class SessionGuard:
    def __init__(self, engine, sinks: Sequence, midi_in, stop: threading.Event, watch: JackWatch | NullWatch,
                 on_server_loss: str = "wait", report_path: Path | None = None) -> None:
        if on_server_loss not in ON_SERVER_LOSS:
            raise ValueError(f"--on-server-loss must be one of {', '.join(ON_SERVER_LOSS)}, got {on_server_loss!r}")
        self.engine, self.sinks, self.midi_in, self.stop = engine, list(sinks), midi_in, stop
        self.watch, self.on_server_loss, self.report_path = watch, on_server_loss, report_path
        self.error: BaseException | None = None
        self.server_lost = False
        self._reported_at = time.monotonic()
        if midi_in is not None:
            midi_in.on_error = self.fail

    def fail(self, err: BaseException) -> None:
        """A thread failed: remember the first error and stop the session."""
        if self.error is None:
            self.error = err
        self.stop.set()

    @contextlib.contextmanager
    def installed(self):
        """Signals and the thread excepthook, for the session's duration (signals: main thread only)."""
        previous_hook = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            previous_hook(args)
            self.fail(cast(BaseException, args.exc_value))  # set for an exception in a thread

        threading.excepthook = hook
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.getsignal(s) for s in STOP_SIGNALS}
            for s in handlers:
                signal.signal(s, lambda signum, frame: self.stop.set())
        try:
            yield self
        finally:
            threading.excepthook = previous_hook
            for s, handler in handlers.items():
                signal.signal(s, handler)

    def poll(self) -> None:
        """From the session's loop, every ~0.1 s: the server, the running report."""
        if self.watch.lost.is_set() and not self.server_lost:
            self._lost()
        elif self.server_lost and self.watch.server_running():
            self._back()
        if self.report_path is not None and time.monotonic() - self._reported_at >= REPORT_EVERY_S:
            self._reported_at = time.monotonic()
            with contextlib.suppress(OSError):
                write_report(self.engine.report(), self.report_path)

    def _lost(self) -> None:
        self.server_lost = True
        self.engine.stats.server_losses += 1
        lost_at = getattr(self.watch, "lost_at", None) or time.monotonic()
        died_s = self.engine.clock.now() - (time.monotonic() - lost_at) - LOSS_NOTICE_S
        self.engine.send_stats.unsend_after(died_s)
        for sink in self.sinks:
            if hasattr(sink, "server_lost"):
                sink.server_lost()
        if self.midi_in is not None:
            self.midi_in.server_lost()
        what = "stopping" if self.on_server_loss == "exit" else "waiting for it to return (--on-server-loss exit stops)"
        log.error("the JACK server went away at %.1f s; %s", self.engine.clock.now(), what)
        if self.on_server_loss == "exit":
            self.error = ServerLost("the JACK server went away; report and recording written")
            self.stop.set()

    def _back(self) -> None:
        if not self.watch.rearm():
            return
        try:
            for sink in self.sinks:
                if hasattr(sink, "reopen"):
                    sink.reopen()
            if self.midi_in is not None:
                self.midi_in.reopen()
        except Exception as err:  # the server came and went again: the next poll retries
            log.warning("re-opening the ports failed (%s); retrying", err)
            return
        self.server_lost = False
        log.warning("the JACK server is back; ports open again")
