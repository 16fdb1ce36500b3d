"""The generator in its own process (generate/process.py, serve.py, wire.py): the same notes and the same context as
the generator in this process, call for call (the real model, with and without a chart); its errors as one line;
a dead child as `GeneratorGone`; a closed caller ends the child; hostile frames stop at the protocol."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tatumflow.generate import wire
from tatumflow.generate.controls import Controls
from tatumflow.generate.mock import mock_generator
from tatumflow.generate.process import GeneratorGone, GeneratorProcess, RemoteState
from tatumflow.generate.serve import Server, serve
from tatumflow.generate.window import Window
from tatumflow.notes import Note
from tatumflow.tunes.chart import read_chart
from tatumflow.tunes.perform import place

CHARTS = Path(__file__).resolve().parents[2] / "tatumflow" / "tunes" / "charts"
PROMPT = [Note(0.11 * i, 0.25, 55 + (i * 7) % 19, 60 + i % 30) for i in range(60)]


def _session(gen, controls: Controls, window: Window) -> dict:
    """What the engine does to a generator, call for call: a prompt, windows, a human note folded in, a planned
    tail forgotten, a reply's notes put back (heard=False), a warm-up copy; the notes and contexts seen."""
    state = gen.init_state(PROMPT, controls, start_s=7.0)
    seen: dict = {"windows": [], "contexts": []}
    for i in range(5):
        if i == 2:
            gen.absorb(state, [Note(state.window_start_s - 0.3, 0.4, 64, 90)], controls)
        if i == 3:
            gen.truncate(state, state.window_start_s - 0.6)
            gen.absorb(state, [Note(state.window_start_s - 0.5, 0.2, 67, 70)], controls, heard=False)
        notes, state = gen.generate_chunk(state, [], controls, window)
        seen["windows"].append(notes)
        seen["contexts"].append((list(state.context), state.window_start_s))
    probe = state.copy()
    seen["copy"], _ = gen.generate_chunk(probe, [], controls, window)
    seen["after_copy"], _ = gen.generate_chunk(state, [], controls, window)  # the copy left the state alone
    return seen


@pytest.fixture(scope="module")
def remote():
    try:
        with GeneratorProcess(os.environ.get("TATUMFLOW_TEST_CHECKPOINT"), "cpu", 1) as gp:
            yield gp
    except FileNotFoundError as err:
        pytest.skip(f"no model to test with: {err}")


def test_the_process_plays_the_notes_the_generator_plays_here(real_generator, remote):
    controls = Controls(harmony_weight=0.5, repeat_penalty=0.3)
    window = Window(max_notes=22, seed=11)
    here, there = _session(real_generator, controls, window), _session(remote, controls, window)
    assert here == there
    assert sum(len(w) for w in here["windows"]) > 20 and here["copy"]
    assert remote.backend.step_path == real_generator.backend.step_path
    assert remote.backend.styles == real_generator.backend.styles


def test_over_a_chart_too(real_generator, remote):
    """A window with a beat grid and a tune's changes (sent once, named after) samples the same notes."""
    chart = read_chart(CHARTS / "tea-for-two.txt")
    changes = place(chart.form, chart.bpm, 2, start_s=7.0)
    controls = Controls(meter_weight=0.6, chart_weight=1.0, legato=0.2)
    window = Window(max_notes=22, beat_grid=changes.beat_grid(), changes=changes, seed=5)
    assert _session(real_generator, controls, window) == _session(remote, controls, window)


def test_values_cross_the_wire_unchanged():
    chart = read_chart(CHARTS / "sweet-georgia-brown.txt")
    changes = place(chart.form, chart.bpm, 3, start_s=1.25)
    assert wire.changes_in(wire.changes_out(changes)) == changes
    c = Controls(style={"Art Tatum": 0.7, "none": 0.3}, head_temperature=(1.0, 0.9, 1.3, 1.1), top_p=0.93)
    assert wire.controls_in(wire.controls_out(c)) == c
    w = Window(0.1 + 0.2, 2.7, 17, changes.beat_grid(), changes, 9)
    assert wire.window_in(wire.window_out(w, None), changes) == w
    notes = [Note(0.1 + 0.2, 1 / 3, 60, 64)]
    assert wire.notes_in(wire.notes_out(notes)) == notes  # floats bit for bit


def test_a_bad_checkpoint_is_one_line_and_the_child_is_gone(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON") as err:
        GeneratorProcess(str(tmp_path), "cpu", 1)
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        GeneratorProcess(str(tmp_path / "nowhere"), "cpu", 1)


def test_a_dead_child_is_a_clear_error_and_close_ends_a_live_one():
    gp = GeneratorProcess(mock=True)
    state = gp.init_state(PROMPT[:10], Controls(), start_s=2.0)
    notes, state = gp.generate_chunk(state, [], Controls(), Window(max_notes=8))
    tail = state.context[-len(notes):]
    assert notes and [(n.onset_s, n.pitch) for n in tail] == [(n.onset_s, n.pitch) for n in notes]
    gp.check()  # alive: nothing to say
    os.kill(gp.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not gp._eof.is_set():  # noticed between calls too (check, every pass)
        time.sleep(0.01)
    with pytest.raises(GeneratorGone, match="exit code -9"):
        gp.check()
    with pytest.raises(GeneratorGone, match="gone"):
        gp.generate_chunk(state, [], Controls(), Window(max_notes=8))
    gp.close()
    with GeneratorProcess(mock=True) as live:
        proc = live._proc
    assert proc.returncode == 0  # stdin closed: it left by itself


def test_a_value_refused_there_comes_back_as_that_error_and_a_protocol_slip_ends_the_child():
    bad = {**wire.controls_out(Controls()), "temperature": -1.0}
    frames = io.BytesIO()
    for m in ({"op": "init", "state": 0, "notes": [], "start_s": 0.0, "controls": {"id": 0, "value": bad}},
              {"op": "exit"}):
        wire.write_frame(frames, m)
    frames.seek(0)
    out = io.BytesIO()
    assert serve(Server(mock_generator()), frames, out) == 0
    reply = wire.read_frame(io.BytesIO(out.getvalue()))
    assert reply is not None and reply["kind"] == "ValueError" and "temperature" in reply["error"]
    with GeneratorProcess(mock=True) as gp:
        state = gp.init_state([], Controls(), start_s=0.0)
        with pytest.raises(GeneratorGone, match="gone"):
            gp._call(state, {"op": "truncate", "state": 999, "t_s": 0.0})  # no such state: the protocol broken
        assert gp._proc.wait(timeout=10) == 2


def test_the_server_frees_copies_the_caller_dropped():
    server = Server(mock_generator())
    ref = {"id": 0, "value": wire.controls_out(Controls())}
    server.answer({"op": "init", "state": 0, "notes": wire.notes_out(PROMPT[:5]), "start_s": 1.0, "controls": ref})
    server.answer({"op": "copy", "state": 0, "new": 1})
    assert set(server.states) == {0, 1}
    server.answer({"op": "truncate", "state": 0, "t_s": 0.2, "free": [1]})
    assert set(server.states) == {0}


@pytest.mark.parametrize("stream, why", [
    (struct.pack(">I", wire.MAX_FRAME_BYTES + 1), "over the"),
    (struct.pack(">I", 5) + b"[1,2]", "JSON object"),
    (struct.pack(">I", 4) + b"no j", "not JSON"),
    (struct.pack(">I", 10) + b"short", "ended inside"),
    (b"\x00\x00", "length"),
])
def test_a_hostile_stream_stops_the_server_with_exit_2(stream, why, caplog):
    out = io.BytesIO()
    assert serve(Server(mock_generator()), io.BytesIO(stream), out) == 2
    assert out.getvalue() == b"" and why in caplog.text


def test_the_session_side_never_loads_torch_when_the_generator_has_its_own_process():
    """The model's memory (~350 MB with torch) is the child's alone: the engine started and stopped over a
    generator process leaves torch unimported in its own process (a fresh interpreter: pytest's has torch)."""
    script = (
        "import sys\n"
        "from tatumflow.generate.process import GeneratorProcess\n"
        "from tatumflow.realtime.engine.engine import build_engine\n"
        "from tatumflow.realtime.ports.sinks import MemorySink\n"
        "with GeneratorProcess(mock=True) as gp:\n"
        "    engine = build_engine(gp, [MemorySink()])\n"
        "    engine.start()\n"
        "    report = engine.stop()\n"
        "print(report['stuck_notes'], 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.split() == ["0", "False"]


def test_a_caller_killed_with_sigkill_leaves_no_generator_behind():
    """Its own session keeps a terminal's signals off the child; a caller that dies however it dies (kill -9)
    closes the child's stdin with it, and the child leaves."""
    script = ("import sys, time\n"
              "from tatumflow.generate.process import GeneratorProcess\n"
              "gp = GeneratorProcess(mock=True)\n"
              "print(gp.pid, flush=True)\n"
              "time.sleep(60)\n")
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(caller.stdout.readline())  # type: ignore[union-attr]
        assert os.getsid(child) == child  # a session of its own
        caller.kill()
        caller.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{child}").exists() and _state(child) != "Z":
            time.sleep(0.05)
        assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"  # gone (or a zombie of init's)
    finally:
        if caller.poll() is None:
            caller.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_copies_the_caller_drops_are_freed_in_the_child_at_the_next_call():
    import gc

    with GeneratorProcess(mock=True) as gp:
        state = gp.init_state(PROMPT[:10], Controls(), start_s=2.0)
        probes = [state.copy() for _ in range(3)]
        handles = [p.handle for p in probes]
        del probes
        gc.collect()
        assert sorted(gp._forgotten) == handles
        gp.truncate(state, 1.0)  # carries them as "free"
        assert not gp._forgotten
        with pytest.raises(GeneratorGone):  # the child no longer knows them: naming one breaks the protocol
            gp._call(RemoteState(handles[0], gp), {"op": "truncate", "t_s": 0.0})
