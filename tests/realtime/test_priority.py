"""The live threads' priorities: the keyboard's reader thread is promoted once, a MIDI server's own real-time thread
is left as it is."""

from __future__ import annotations

import os
import threading

import pytest

from tatumflow.realtime.engine.clock import INPUT_PRIORITY, promote_input_thread, try_realtime_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getscheduler") or os.geteuid() != 0,
                                reason="SCHED_FIFO needs Linux and root")


def _in_thread(body):
    out: dict = {}

    def run():
        out.update(body())

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    return out


def test_an_ordinary_reader_thread_is_promoted_once():
    def body():
        first = promote_input_thread()
        policy, priority = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # as if something put it back
        return {"first": first, "policy": policy, "priority": priority, "again": promote_input_thread(),
                "after": os.sched_getscheduler(0)}

    got = _in_thread(body)
    assert got["first"] and got["policy"] == os.SCHED_FIFO and got["priority"] == INPUT_PRIORITY
    assert not got["again"] and got["after"] == os.SCHED_OTHER  # once per thread: one syscall, not one a message
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # only the calling thread, never the test's


def test_a_thread_already_real_time_keeps_its_priority():
    def body():
        assert try_realtime_priority(INPUT_PRIORITY + 10)  # a MIDI server's process thread, say
        return {"promoted": promote_input_thread(), "policy": os.sched_getscheduler(0),
                "priority": os.sched_getparam(0).sched_priority}

    got = _in_thread(body)
    assert not got["promoted"] and got["policy"] == os.SCHED_FIFO and got["priority"] == INPUT_PRIORITY + 10
