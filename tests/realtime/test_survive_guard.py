"""The session's guard: SIGHUP stops like SIGTERM, a failing thread or input callback stops the session with its
error, the server watch's loss is said once and switches the outputs off."""

from __future__ import annotations

import logging
import os
import signal
import threading

import mido
import pytest

from tatumflow.realtime.ports.midi_io import MidiInput
from tatumflow.realtime.ports.sinks import MODEL, MemorySink, PortSink
from tatumflow.realtime.session.guard import ServerLost, SessionGuard, stop_on_signals
from tatumflow.signals import STOP_SIGNALS

from .conftest import SimSession


class FakeWatch:
    def __init__(self) -> None:
        self.lost = threading.Event()
        self.running = False

    def server_running(self) -> bool:
        return self.running

    def rearm(self) -> bool:
        self.lost.clear()
        return True


def _guard(on_server_loss="wait", sinks=()):
    s = SimSession("duet")
    stop = threading.Event()
    return SessionGuard(s.engine, list(sinks), None, stop, FakeWatch(), on_server_loss), stop


@pytest.mark.parametrize("name", ["SIGHUP", "SIGUSR1", "SIGQUIT", "SIGUSR2"])
def test_stop_signals_set_stop_like_sigterm(name):
    sig = getattr(signal, name)
    assert sig in STOP_SIGNALS and signal.SIGTERM in STOP_SIGNALS and signal.SIGINT in STOP_SIGNALS
    before = signal.getsignal(sig)  # SIG_DFL, or SIG_IGN under nohup
    stop = threading.Event()
    with stop_on_signals(stop) as received:
        os.kill(os.getpid(), sig)
        assert stop.wait(2)
        os.kill(os.getpid(), signal.SIGINT)  # a second one, during the stop: nothing but a line in the log
        assert received == [sig, signal.SIGINT]
    assert signal.getsignal(sig) is before  # the handler that was there is back


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_thread_that_raises_stops_the_session_with_its_error():
    guard, stop = _guard()
    with guard.installed():
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
    assert stop.is_set() and isinstance(guard.error, ZeroDivisionError)


def test_an_input_callback_that_raises_reaches_the_guard():
    def boom(msg, t_s):
        raise RuntimeError("bad")

    midi_in = MidiInput.__new__(MidiInput)  # no port: only the callback path
    midi_in.on_message, midi_in.is_echo, midi_in.clock, midi_in.error = boom, None, SimSession().clock, None
    midi_in.on_thread = None
    errors = []
    midi_in.on_error = errors.append
    midi_in._callback(mido.Message("note_on", note=60))
    assert isinstance(errors[0], RuntimeError)


class FakePort(PortSink):
    def __init__(self) -> None:  # no backend: a port that counts what it was given
        from tatumflow.realtime.ports.sinks import Sink

        Sink.__init__(self, "fake")
        self.requested, self.connected, self.got = "fake", True, []
        self.port = self

    def _send(self, msg, track, t_s):
        if self.connected:
            self.got.append(msg)
        return self.connected


def test_server_loss_is_said_once_and_nothing_more_is_counted_as_sent(caplog, monkeypatch):
    monkeypatch.setattr("tatumflow.realtime.ports.sinks.keep_forever", lambda port: None)
    port, rec = FakePort(), MemorySink()
    guard, stop = _guard("exit", [port, rec])
    outputs = guard.outputs
    assert outputs.send(mido.Message("note_on", note=60, velocity=9), MODEL, 0.0)
    guard.watch.lost.set()
    with caplog.at_level(logging.ERROR):
        guard.poll()
        guard.poll()
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "JACK server went away" in caplog.records[0].message
    assert stop.is_set() and isinstance(guard.error, ServerLost)
    assert not outputs.send(mido.Message("note_on", note=62, velocity=9), MODEL, 0.1)
    assert len(rec.messages) == 1  # the recording holds what an output took


def test_wait_mode_reopens_when_the_server_returns(monkeypatch):
    monkeypatch.setattr("tatumflow.realtime.ports.sinks.keep_forever", lambda port: None)
    port = FakePort()
    reopened = []
    monkeypatch.setattr(FakePort, "reopen", lambda self: reopened.append(1) or setattr(self, "connected", True))
    guard, stop = _guard("wait", [port])
    guard.watch.lost.set()
    guard.poll()
    assert guard.server_lost and not stop.is_set() and not port.connected
    guard.watch.running = True
    guard.poll()
    assert not guard.server_lost and reopened and port.connected


def test_bad_on_server_loss_is_refused():
    from tatumflow.realtime.session.jamconfig import JamOptions

    with pytest.raises(ValueError, match="on-server-loss must be one of wait, exit"):
        JamOptions(on_server_loss="maybe")
