"""Signals turned into a request to stop, in one place (the live session and the training loop).

A process asked to stop by a signal finishes what it is doing the usual way (the session: note-offs, report,
recording; training: save `last`) instead of dying mid-write. `on_signals(handler)` installs `handler(signum)` for
the given signals while its block runs and puts the previous handlers back after; outside the main thread (where
Python cannot take signals) it installs nothing. `wait_or_kill(proc, timeout_s)`: a child process asked to stop (its
stdin closed, a signal) is given that long to leave, then killed.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator

# Every catchable signal whose default would end the process without a word: a terminal closing (SIGHUP), Ctrl-C,
# Ctrl-\ (SIGQUIT), kill's default (SIGTERM), the user signals, a timer (SIGALRM) and a CPU limit (SIGXCPU).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGXCPU")
    if hasattr(signal, n))


@contextlib.contextmanager
def on_signals(handler: Callable[[int], None], signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """`handler(signum)` for `signals` while the block runs (main thread only); the previous handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda signum, frame: handler(signum)) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def wait_or_kill(proc: subprocess.Popen, timeout_s: float) -> int:
    """Wait up to `timeout_s` for `proc`, already asked to stop, to leave; kill it past that. Its exit code."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
