"""Stop signals as a request to stop, written once (tatumflow/signals.py): the session's guard and training use it."""

import os
import signal
import threading

from tatumflow.signals import STOP_SIGNALS, on_signals


def test_handlers_run_in_the_block_and_the_previous_ones_come_back():
    before = signal.getsignal(signal.SIGUSR1)
    got = []
    with on_signals(got.append, (signal.SIGUSR1, signal.SIGTERM)):
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
    assert got == [signal.SIGUSR1, signal.SIGTERM]
    assert signal.getsignal(signal.SIGUSR1) is before


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def worker() -> None:
        with on_signals(seen.append):
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before]


def test_every_signal_that_would_end_the_session_silently_is_a_stop_signal():
    names = {s.name for s in STOP_SIGNALS}
    assert {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"} <= names
    assert "SIGKILL" not in names and "SIGSTOP" not in names  # cannot be caught


def test_training_saves_on_sigterm_through_the_same_handler():
    from tatumflow.train.loop import _stop_on_signals

    with _stop_on_signals() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag["stop"]
