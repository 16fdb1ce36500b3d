"""The dead man's switch (realtime/ports/deadman.py): what it sends, when it sends it (a pipe closed without `bye`), and
its switch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tatumflow.realtime.ports import deadman


def test_the_panic_is_every_key_off_first_then_the_controllers_on_every_channel():
    msgs = deadman.panic_messages([0, 0, 3])
    offs = [m for m in msgs if m.type == "note_off"]
    assert [(m.channel, m.note) for m in offs] == [(c, k) for c in (0, 3) for k in range(128)]
    assert msgs[: len(offs)] == offs  # the keys first: a synth that ignores the controllers still hears them
    ccs = {(m.channel, m.control, m.value) for m in msgs if m.type == "control_change"}
    assert ccs == {(c, cc, 0) for c in range(16) for cc in (64, 120, 123)}


def test_the_switch_is_on_unless_turned_off(monkeypatch):
    from tatumflow.realtime.ports import environment

    monkeypatch.delenv(environment.DEADMAN, raising=False)
    assert environment.deadman()
    monkeypatch.setenv(environment.DEADMAN, "off")
    assert not environment.deadman()
    monkeypatch.setenv(environment.DEADMAN, "maybe")
    with pytest.raises(ValueError, match="TATUMFLOW_DEADMAN='maybe': expected on or off"):
        environment.deadman()


def _guard(*outs: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "tatumflow.realtime.ports.deadman", "--parent", "1", "--api", "LINUX_ALSA"]
    for out in outs:
        args += ["--out", out]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)


def test_bye_ends_the_guard_without_a_word_and_a_closed_pipe_sets_it_off():
    quiet = _guard()
    _, err = quiet.communicate(deadman.BYE, timeout=20)
    assert quiet.returncode == 0 and b"died" not in err
    # no bye: the session died. With an output it cannot open (no such port here) it says so, in one line each.
    fired = _guard("No Such Synth")
    _, err = fired.communicate(b"", timeout=20)
    text = err.decode(errors="replace")
    assert fired.returncode == 0, text
    assert "cannot silence 'No Such Synth'" in text and "died; all notes off sent to 0 output(s)" in text
    assert "Traceback" not in text
