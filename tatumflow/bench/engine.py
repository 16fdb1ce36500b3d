"""Engine benchmarks, on the real-time code in `tatumflow.realtime` with the real model:

- `scheduler_jitter`: the scheduler thread sends a Tatum-dense stream while this thread generates windows back to
  back (the model runs all the time): lateness of every message.
- `engine_session`: the jam engine in call-response, fed phrases in process (no MIDI port), sinks in memory: its own
  report (generation per window, reply = trigger -> first note sent, send jitter).
- `jack_end_to_end`: a JACK dummy server; a phrase played into `TatumFlow In` by an outside client; time from the
  trigger (last release + silence threshold) to the first reply note received on `TatumFlow Out`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import mido
import torch

from ..generate.controls import Controls
from ..notes import Note
from .common import BenchModel, dense_prompt, percentiles

log = logging.getLogger(__name__)


def _phrase(i: int, n: int = 12, gap_s: float = 0.12) -> list[Note]:
    base = 60 + (i * 5) % 12
    return [Note(j * gap_s, 0.1, base + (j * 3) % 14, 80) for j in range(n)]


def _messages(notes: list[Note]) -> list[tuple[float, mido.Message]]:
    msgs = []
    for n in notes:
        msgs.append((n.onset_s, mido.Message("note_on", note=n.pitch, velocity=n.velocity)))
        msgs.append((n.end_s, mido.Message("note_off", note=n.pitch)))
    return sorted(msgs, key=lambda m: (m[0], m[1].type == "note_on"))


def scheduler_jitter(bm: BenchModel, device: str, controls: Controls, seconds: float = 6.0) -> dict:
    from ..realtime.clock import MonotonicClock, prepare_live_process
    from ..realtime.scheduler import Scheduler
    from ..realtime.sinks import MemorySink

    interval = sys.getswitchinterval()
    prepare_live_process(0)  # the short GIL slice the live engine uses; threads stay as the bench set them
    gen = bm.generator(device)
    c = replace(controls, max_notes_per_window=22, window_s=60.0)
    state = gen.init_state(dense_prompt(256), c)
    clock = MonotonicClock()
    sink = MemorySink(keep=False)
    sched = Scheduler([sink], clock).start()
    start = clock.now() + 0.2
    stream = [n.shifted(start) for n in dense_prompt(int(seconds * 11), seed=5)]
    sched.plan(stream)
    windows = 0
    try:
        while clock.now() < stream[-1].end_s + 0.05:
            if len(state.context) > bm.model.cfg.context_steps - 40:
                state = gen.init_state(dense_prompt(256), c)
            gen.generate_chunk(state, [], c)
            windows += 1
    finally:
        sched.stop()
        sink.close()
        sys.setswitchinterval(interval)
    lateness = [abs(x) for x in sched.stats.lateness_ms]
    return {"messages": len(lateness), "windows_generated_meanwhile": windows, "realtime_priority": sched.realtime,
            **percentiles(lateness, "send_jitter_ms", (50, 99)), "late_notes": sched.stats.late_notes,
            "dropped_notes": sched.stats.dropped_notes, "send_jitter_ms": [round(x, 4) for x in lateness]}


def _play(engine, clock, notes: list[Note]) -> float:
    """Play notes into the engine from now (as the MIDI callback would); returns the last release time."""
    t0 = clock.now() + 0.05
    for t, msg in _messages(notes):
        clock.sleep_until(t0 + t)
        engine.on_message(msg, clock.now())
    return clock.now()


def engine_session(bm: BenchModel, device: str, phrases: int = 4, preset: str = "tatum") -> dict:
    from ..presets import load_preset
    from ..realtime.config import EngineConfig
    from ..realtime.engine import JamEngine
    from ..realtime.sinks import MemorySink

    p = load_preset(preset)
    config = EngineConfig.from_preset(p.engine, mode="call-response")
    controls = replace(p.controls, style={bm.style: 1.0})
    sink = MemorySink(keep=False)
    engine = JamEngine(bm.generator(device), controls, config, [sink], prompt=[])
    interval, threads = sys.getswitchinterval(), torch.get_num_threads()
    engine.start()
    try:
        for i in range(phrases):
            _play(engine, engine.clock, _phrase(i))
            time.sleep(config.silence_threshold_s + config.min_reply_s + 1.2)  # the reply plays out
    finally:
        report = engine.stop()
        sink.close()
        sys.setswitchinterval(interval)
        torch.set_num_threads(threads)
    keys = ("windows", "generation_ms_p50", "generation_ms_p99", "realtime_factor", "replies", "reply_ms_p50",
            "reply_ms_p99", "send_jitter_ms_p50", "send_jitter_ms_p99", "notes_sent", "late_notes", "dropped_notes",
            "degraded_windows", "skipped_windows", "stuck_notes")
    return {k: report.get(k) for k in keys}


@contextlib.contextmanager
def _jack_server() -> Iterator[str]:
    """`jackd -d dummy` under a private server name (JACK_DEFAULT_SERVER set meanwhile)."""
    import rtmidi

    name = f"tatumflow-bench-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    log_file = tempfile.TemporaryFile()
    proc = subprocess.Popen([shutil.which("jackd"), "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000",
                             "-p", "128"], stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def client_ok() -> bool:
        try:
            rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="tf-probe").delete()
            return True
        except Exception:  # no server yet
            return False

    try:
        deadline = time.monotonic() + 8
        while proc.poll() is None and time.monotonic() < deadline and not client_ok():
            time.sleep(0.1)
        if proc.poll() is not None or not client_ok():
            raise RuntimeError("jackd -d dummy would not start")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _wait_port(b: mido.Backend, kind: str, fragment: str, timeout_s: float = 10.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        names = b.get_input_names() if kind == "input" else b.get_output_names()
        hits = [n for n in names if fragment in n]
        if hits:
            return hits[0]
        time.sleep(0.1)
    raise RuntimeError(f"no JACK {kind} port containing {fragment!r}")


def jack_end_to_end(bm: BenchModel, device: str, phrases: int = 4, preset: str = "tatum") -> dict:
    """Skipped (with the reason) when jackd or rtmidi's JACK API is missing."""
    if shutil.which("jackd") is None:
        return {"skipped": "jackd not installed (apt-get install --no-install-recommends jackd2)"}
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return {"skipped": "python-rtmidi was built without JACK"}
    from ..presets import load_preset
    from ..realtime.config import EngineConfig
    from ..realtime.engine import JamEngine
    from ..realtime.midi_io import IN_PORT_NAME, OUT_PORT_NAME, VIRTUAL, MidiInput, close_input
    from ..realtime.sinks import PortSink

    p = load_preset(preset)
    config = EngineConfig.from_preset(p.engine, mode="call-response")
    controls = replace(p.controls, style={bm.style: 1.0})
    received: list[float] = []
    lock = threading.Lock()
    interval, threads = sys.getswitchinterval(), torch.get_num_threads()
    try:
        with _jack_server(), contextlib.ExitStack() as stack:
            sink = stack.enter_context(PortSink(VIRTUAL, "UNIX_JACK"))
            engine = JamEngine(bm.generator(device), controls, config, [sink], prompt=[])
            stack.enter_context(MidiInput(VIRTUAL, engine.on_message, engine.clock, "UNIX_JACK", engine.echo,
                                          engine.on_disconnect))
            client = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)

            def on_reply(msg: mido.Message) -> None:
                if msg.type == "note_on" and msg.velocity > 0:
                    with lock:
                        received.append(time.monotonic())

            out = stack.enter_context(client.open_output(_wait_port(client, "output", IN_PORT_NAME)))
            listener = client.open_input(_wait_port(client, "input", OUT_PORT_NAME), callback=on_reply)
            stack.callback(close_input, listener)  # the final note-offs may still be arriving
            engine.start()
            replies = []
            try:
                for i in range(phrases):
                    released = _play_port(out, _phrase(i))
                    trigger = released + config.silence_threshold_s
                    time.sleep(config.silence_threshold_s + config.min_reply_s + 1.2)
                    with lock:
                        first = [t for t in received if t >= released]
                    if first:
                        replies.append((first[0] - trigger) * 1e3)
            finally:
                report = engine.stop()
    except RuntimeError as err:
        return {"skipped": f"JACK end to end did not run: {err}"}
    finally:
        sys.setswitchinterval(interval)
        torch.set_num_threads(threads)
    return {"phrases": phrases, "replies_received": len(replies), "reply_ms": [round(x, 3) for x in replies],
            **percentiles(replies, "reply_ms", (50, 99)), "engine_send_jitter_ms_p99": report.get("send_jitter_ms_p99")}


def _play_port(out, notes: list[Note]) -> float:
    """Play notes in real time into a port from now; returns the monotonic time of the last release."""
    t0 = time.monotonic() + 0.02
    for t, msg in _messages(notes):
        while time.monotonic() < t0 + t:
            time.sleep(min(0.0005, max(t0 + t - time.monotonic(), 0)))
        out.send(msg)
    return time.monotonic()
