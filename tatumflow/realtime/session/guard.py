"""What keeps a live session whole when the studio misbehaves: signals, a thread that dies, the MIDI server lost.

`SessionGuard` is made by the session around a running engine:

- A stop signal (Ctrl-C, SIGTERM, SIGHUP when the terminal closes or the SSH session drops, SIGQUIT, SIGUSR1/2, ...:
  `signals.STOP_SIGNALS`) sets the stop event: the session then stops the usual way (note-offs, report, recording).
  `stop_on_signals` holds the handlers from before the model loads until the report and the recording are written:
  a signal during the warm-up stops a session of no length, with its report; a second signal during the stop (an
  impatient Ctrl-C, a supervisor's SIGTERM after SIGHUP) is said once and changes nothing (the files still come).
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

from ...signals import STOP_SIGNALS, on_signals
from ..engine.report import write_report
from ..ports.outputs import Outputs
from ..ports.watchdog import JackWatch, NullWatch

log = logging.getLogger(__name__)

ON_SERVER_LOSS = ("wait", "exit")
REPORT_EVERY_S = 1.0
LOSS_NOTICE_S = 0.02  # libjack's shutdown notice comes this long after the death at most (measured ~15 ms)


class ServerLost(OSError):
    """The MIDI server went away and the session was asked to exit (`--on-server-loss exit`)."""


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[int]]:
    """Every stop signal sets `stop` while the block runs; yields the signals received, in order (main thread only).
    Keep the block around everything up to the last file written: a default handler back too early lets a second
    signal kill the teardown."""
    received: list[int] = []

    def handler(signum: int) -> None:
        received.append(signum)
        if len(received) == 2:
            log.warning("%s: already stopping; the note-offs, the report and the recording come first",
                        signal.Signals(signum).name)
        stop.set()

    with on_signals(handler, STOP_SIGNALS):
        yield received


class SessionGuard:
    def __init__(self, engine, outputs: Outputs | Sequence, midi_in, stop: threading.Event,
                 watch: JackWatch | NullWatch, on_server_loss: str = "wait", report_path: Path | None = None) -> None:
        assert on_server_loss in ON_SERVER_LOSS, on_server_loss  # checked with the session's options (jamconfig.py)
        self.engine, self.outputs, self.midi_in, self.stop = engine, Outputs.of(outputs), midi_in, stop
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
        """The thread excepthook, for the session's duration (the signals: `stop_on_signals`, held longer)."""
        previous_hook = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            previous_hook(args)
            self.fail(cast(BaseException, args.exc_value))  # set for an exception in a thread

        threading.excepthook = hook
        try:
            yield self
        finally:
            threading.excepthook = previous_hook

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
        self.outputs.server_lost()
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
            self.outputs.reopen()
            if self.midi_in is not None:
                self.midi_in.reopen()
        except Exception as err:  # the server came and went again: the next poll retries
            log.warning("re-opening the ports failed (%s); retrying", err)
            return
        self.server_lost = False
        log.warning("the JACK server is back; ports open again")
