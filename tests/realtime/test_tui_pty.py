"""The terminal UI on a real terminal (a pseudo-terminal of 80x24): `run_with_tui` runs the Textual app in the main
thread and the session's wait beside it; `q` ends both, the engine then stops the normal way; a warning logged
meanwhile never reaches the terminal while the UI is up, and is said again after."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import logging, sys, threading
from tatumflow.generate.mock import mock_generator
from tatumflow.realtime.engine.engine import build_engine
from tatumflow.realtime.ports.sinks import MemorySink
from tatumflow.realtime.control.surface import ControlSurface
from tatumflow.realtime.control.tui import TuiInfo
from tatumflow.realtime.control.tui_app import run_with_tui

logging.basicConfig(level=logging.WARNING)
engine = build_engine(mock_generator(), [MemorySink()]).start()
stop = threading.Event()

def wait():
    logging.getLogger("tatumflow.test").warning("a warning while the UI runs")
    stop.wait()
    try:
        print("WAIT-ENDED", flush=True)
    except OSError:  # the terminal went away (the second test)
        pass

if len(sys.argv) > 1:  # a terminal that goes away: the session is stopped 3 s in, with nothing to draw on
    threading.Timer(3.0, stop.set).start()
run_with_tui(wait, stop, {"engine": engine, "surface": ControlSurface(engine), "ccmap": None,
                          "info": TuiInfo(preset="tatum", inp="TatumFlow In", outs=("TatumFlow Out",))})
report = engine.stop()
if len(sys.argv) > 1:  # nothing to print on
    open(sys.argv[1], "w").write(f"stuck {report['stuck_notes']}")
else:
    print("STOPPED stuck", report["stuck_notes"], flush=True)
"""


def _read(fd: int, until: bytes, timeout_s: float) -> bytes:
    out, deadline = b"", time.monotonic() + timeout_s
    while until not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
def test_q_on_a_real_terminal_stops_the_session_and_the_log_stays_off_the_screen():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=slave, stdout=slave, stderr=slave, env=env,
                            cwd=REPO, start_new_session=True)
    os.close(slave)
    try:
        screen = _read(master, b"q/Esc quit", 60)
        assert b"q/Esc quit" in screen, screen[-2000:]
        time.sleep(0.5)
        os.write(master, b"q")
        after = _read(master, b"STOPPED stuck 0", 30)  # the whole line (a read may end inside it)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"a warning while the UI runs" not in screen  # not written over the screen while it was up
    tail = after.split(b"WAIT-ENDED")[-1]
    assert b"WARNING a warning while the UI runs" in tail  # said again once the UI is gone
    assert b"STOPPED stuck 0" in after


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal")
def test_a_terminal_that_goes_away_does_not_keep_the_session(tmp_path):
    """Its window closed or an SSH drop: writes to the hung-up terminal fail (EIO). That killed Textual's writer
    thread and closing the app then waited for it forever: no note-offs, no final report, the process kept."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}
    done = tmp_path / "done.txt"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(done)], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=REPO, start_new_session=True)
    os.close(slave)
    try:
        assert b"q/Esc quit" in _read(master, b"q/Esc quit", 60)
        os.close(master)  # the terminal goes away
        master = -1
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if master >= 0:
            os.close(master)
    assert done.read_text() == "stuck 0"
