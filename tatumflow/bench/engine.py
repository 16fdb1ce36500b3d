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
import shutil
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import mido
import torch

from ..generate.controls import Controls
from ..generate.window import Window
from ..notes import Note
from ..stats import percentiles
from .common import BenchModel, dense_prompt

log = logging.getLogger(__name__)
ENGINE_KEYS = ("windows", "generation_ms_p50", "generation_ms_p99", "realtime_factor", "replies", "reply_ms_p50",
               "reply_ms_p99", "send_jitter_ms_p50", "send_jitter_ms_p99", "notes_sent", "late_notes", "dropped_notes",
               "degraded_windows", "skipped_windows", "stuck_notes")


def _phrase(i: int, n: int = 12, gap_s: float = 0.12) -> list[Note]:
    base = 60 + (i * 5) % 12
    return [Note(j * gap_s, 0.1, base + (j * 3) % 14, 80) for j in range(n)]


def scheduler_jitter(bm: BenchModel, device: str, controls: Controls, seconds: float = 6.0) -> dict:
    from ..realtime.engine.clock import MonotonicClock, prepare_live_process
    from ..realtime.engine.scheduler import Scheduler
    from ..realtime.ports.sinks import MemorySink

    interval = sys.getswitchinterval()
    prepare_live_process(0)  # the short GIL slice the live engine uses; threads stay as the bench set them
    gen = bm.generator(device)
    c = replace(controls, window_s=60.0)
    window = Window(max_notes=22)
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
            gen.generate_chunk(state, [], c, window)
            windows += 1
    finally:
        sched.stop()
        sink.close()
        sys.setswitchinterval(interval)
    lateness = [abs(x) for x in sched.stats.lateness_ms]
    return {"messages": len(lateness), "windows_generated_meanwhile": windows, "realtime_priority": sched.realtime,
            **percentiles(lateness, "send_jitter_ms", (50, 99)), "late_notes": sched.stats.late_notes,
            "dropped_notes": sched.stats.dropped_notes, "send_jitter_ms": [round(x, 4) for x in lateness]}


def _engine(bm: BenchModel, device: str, preset: str, sinks: list, generator: Any = None):
    """The jam engine as `tatumflow jam` builds it (call-response), on the bench's model and style (`generator`:
    another generator of that model, e.g. in its own process, as `jam` runs it)."""
    from ..presets import load_preset
    from ..realtime.engine.config import EngineConfig
    from ..realtime.engine.engine import build_engine

    p = load_preset(preset)
    config = EngineConfig.from_preset(p.engine, mode="call-response")
    controls = replace(p.controls, style={bm.style: 1.0})
    return build_engine(generator or bm.generator(device), sinks, config=config, controls=controls)


def engine_session(bm: BenchModel, device: str, phrases: int = 4, preset: str = "tatum") -> dict:
    from ..realtime.ports.sinks import MemorySink
    from ..realtime.session.demo import play_as_human

    sink = MemorySink(keep=False)
    engine = _engine(bm, device, preset, [sink])
    config = engine.config
    interval, threads = sys.getswitchinterval(), torch.get_num_threads()
    engine.start()
    try:
        for i in range(phrases):
            play_as_human(engine, _phrase(i), engine.clock)
            time.sleep(config.silence_threshold_s + config.min_reply_s + 1.2)  # the reply plays out
    finally:
        report = engine.stop()
        sink.close()
        sys.setswitchinterval(interval)
        torch.set_num_threads(threads)
    return {k: report.get(k) for k in ENGINE_KEYS}


def jack_end_to_end(bm: BenchModel, device: str, phrases: int = 4, preset: str = "tatum") -> dict:
    """Skipped (with the reason) when jackd or rtmidi's JACK API is missing."""
    if shutil.which("jackd") is None:
        return {"skipped": "jackd not installed (apt-get install --no-install-recommends jackd2)"}
    import rtmidi

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return {"skipped": "python-rtmidi was built without JACK"}
    from .jackd import jack_dummy_server

    interval, threads = sys.getswitchinterval(), torch.get_num_threads()
    try:
        with jack_dummy_server(try_realtime=False, prefix="tatumflow-bench"):
            replies, report = _jack_phrases(bm, device, phrases, preset)
    except (RuntimeError, TimeoutError) as err:
        return {"skipped": f"JACK end to end did not run: {err}"}
    finally:
        sys.setswitchinterval(interval)
        torch.set_num_threads(threads)
    return {"phrases": phrases, "generator": "own process" if bm.checkpoint is not None else "in process",
            "replies_received": len(replies), "reply_ms": [round(x, 3) for x in replies],
            **percentiles(replies, "reply_ms", (50, 99)), "engine_send_jitter_ms_p99": report.get("send_jitter_ms_p99")}


def _jack_phrases(bm: BenchModel, device: str, phrases: int, preset: str) -> tuple[list[float], dict]:
    """Phrases played by an outside client into `TatumFlow In`: trigger -> first reply note on `TatumFlow Out`."""
    from ..realtime.engine.clock import promote_input_thread
    from ..realtime.ports.midi_io import IN_PORT_NAME, OUT_PORT_NAME, VIRTUAL, MidiInput, close_input, open_input
    from ..realtime.ports.sinks import PortSink
    from .jackd import JACK_API, play_into_port, wait_for_port

    received: list[float] = []
    lock = threading.Lock()

    def on_reply(msg: mido.Message) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            with lock:
                received.append(time.monotonic())

    with contextlib.ExitStack() as stack:
        generator = None
        if bm.checkpoint is not None:  # as `jam` runs it: the model in its own process (random weights: in this one)
            from ..generate.process import GeneratorProcess

            generator = stack.enter_context(GeneratorProcess(str(bm.checkpoint), device, torch.get_num_threads()))
        sink = stack.enter_context(PortSink(VIRTUAL, JACK_API))
        engine = _engine(bm, device, preset, [sink], generator)
        config = engine.config
        stack.enter_context(MidiInput(VIRTUAL, engine.on_message, engine.clock, JACK_API, engine.is_echo,
                                      engine.on_disconnect, on_thread=promote_input_thread))  # as `jam` reads it
        client = mido.Backend(f"mido.backends.rtmidi/{JACK_API}", load=True)
        out = stack.enter_context(client.open_output(wait_for_port("output", IN_PORT_NAME, timeout_s=10.0)))
        listener = open_input(client, wait_for_port("input", OUT_PORT_NAME, timeout_s=10.0), on_reply)
        stack.callback(close_input, listener)  # the final note-offs may still be arriving
        engine.start()
        replies = []
        try:
            for i in range(phrases):
                released = play_into_port(out, _phrase(i))
                trigger = released + config.silence_threshold_s
                time.sleep(config.silence_threshold_s + config.min_reply_s + 1.2)
                with lock:
                    first = [t for t in received if t >= released]
                if first:
                    replies.append((first[0] - trigger) * 1e3)
        finally:
            report = engine.stop()
    return replies, report
