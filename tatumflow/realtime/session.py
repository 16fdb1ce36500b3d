"""A live session from options: open the generator, the input and the sinks, run until stopped, clean up.

Every stop path (duration over, Ctrl-C, SIGTERM, an engine error) goes through the same `finally`: the engine stops,
each sink sends note-offs for what sounds and all-notes-off, the input closes, the report is written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..notes import read_midi
from ..paths import check_input_file, check_output_file
from ..presets import load_preset
from .clockout import open_time_ports
from .config import EngineConfig
from .deadman import DeadMan
from .deadman import enabled as deadman_enabled
from .engine import JamEngine, build_engine
from .guard import ON_SERVER_LOSS, SessionGuard
from .live import LiveOptions, LiveRig
from .midi_io import VIRTUAL, MidiInput, detect_api
from .report import format_report, write_report
from .sinks import HUMAN, MODEL, PortSink, RecorderSink, Sink
from .tempo import TempoConfig
from .watchdog import watch_for

log = logging.getLogger(__name__)
SYNTH = "synth"
CHECK_PORTS_S = 1.0
POLL_S = 0.1  # the session loop: signals, the server watch, a thread's failure noticed this fast


@dataclass(frozen=True)
class JamOptions:
    inp: str = VIRTUAL
    outs: tuple[str, ...] = (VIRTUAL,)
    mode: str | None = None  # None: the preset's
    prompt: Path | None = None
    preset: str = "tatum"
    record: Path | None = None
    report: Path | None = None
    duration_s: float | None = None
    checkpoint: str | None = None
    device: str = "auto"
    api: str | None = None
    soundfont: str | None = None
    silence_threshold_s: float | None = None
    mock: bool = False
    sync: str = "off"  # the tempo source (tempo.py): auto, clock, human, off; `bpm` alone: fixed
    bpm: float | None = None
    clock_in: str | None = None
    clock_out: bool = False
    meter_weight: float | None = None  # None: the preset's
    live: LiveOptions = LiveOptions()  # controls, split, channels, thru, velocity curve, OSC, UI (live.py)
    on_server_loss: str = "wait"  # the JACK server went away: wait for it (ports re-opened), or exit (guard.py)

    def __post_init__(self) -> None:
        if not self.outs:
            raise ValueError("at least one output is needed: virtual, synth or a port name")
        if self.duration_s is not None and not 0 < self.duration_s < math.inf:  # nan fails too
            raise ValueError(f"--duration must be a finite number of seconds > 0, got {self.duration_s}")
        self._check_values()
        if self.on_server_loss not in ON_SERVER_LOSS:
            raise ValueError(f"--on-server-loss must be one of {', '.join(ON_SERVER_LOSS)}, "
                             f"got {self.on_server_loss!r}")
        TempoConfig.from_options(self.sync, self.bpm)  # a bad --sync / --bpm fails before anything opens


    def _check_values(self) -> None:
        """Paths and numbers checked before anything opens: a session never plays to find out at the end."""
        for value, option in ((self.record, "--record"), (self.report, "--report")):
            if value is not None:
                check_output_file(value, option)
        if self.prompt is not None:
            check_input_file(self.prompt, "--prompt")
        for number, option in ((self.silence_threshold_s, "--silence"), (self.bpm, "--bpm")):
            if number is not None and not 0 < number < math.inf:
                raise ValueError(f"{option} must be a finite number > 0, got {number}")
        if self.meter_weight is not None and not math.isfinite(self.meter_weight):
            raise ValueError(f"--meter must be a finite number, got {self.meter_weight}")


def load_jam_generator(checkpoint: str | None, device: str, mock: bool = False):
    """The real model (the embedded default when `checkpoint` is None), or the mock when asked (`--mock`)."""
    if mock:
        from ..generate.mock import mock_generator

        return mock_generator(), "mock"
    from ..generate.load import load_generator

    return load_generator(checkpoint, device=device), checkpoint or "default"


def open_sinks(outs: Sequence[str], api: str | None, soundfont: str | None, record: Path | None,
               stack: contextlib.ExitStack, thru: bool = True) -> list[Sink]:
    """The outputs; `thru`: the human's notes sound on the synth too (port outputs carry TatumFlow alone)."""
    sinks: list[Sink] = []
    for out in outs:
        if out == SYNTH:
            from .synth import FluidSynthSink

            sinks.append(stack.enter_context(FluidSynthSink(soundfont, tracks=(MODEL, HUMAN) if thru else (MODEL,))))
        else:
            sinks.append(stack.enter_context(PortSink(out, api)))
    if record is not None:
        sinks.append(stack.enter_context(RecorderSink(record)))
    return sinks


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT and SIGTERM set `stop` (main thread only) instead of raising mid-send."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_until_stopped(engine: JamEngine, sinks: Sequence[Sink], stop: threading.Event,
                      duration_s: float | None, guard: SessionGuard | None = None) -> None:
    """Wait for a stop: duration over, a signal, a thread or the engine failing, the server lost (`guard`).
    Checks named output ports meanwhile."""
    deadline = None if duration_s is None else engine.clock.now() + duration_s
    next_check = engine.clock.now() + CHECK_PORTS_S
    while not stop.is_set() and not engine.failed:
        left = POLL_S if deadline is None else min(POLL_S, deadline - engine.clock.now())
        if left <= 0:
            break
        stop.wait(left)
        if guard is not None:
            guard.poll()
        if engine.clock.now() >= next_check and not (guard and guard.server_lost):
            next_check = engine.clock.now() + CHECK_PORTS_S
            for sink in sinks:
                if isinstance(sink, PortSink):
                    sink.check()


@contextlib.contextmanager
def _closing(watch):
    try:
        yield watch
    finally:
        watch.close()


def engine_for(options: JamOptions, generator, sinks: Sequence[Sink], model_name: str = "mock") -> JamEngine:
    preset = load_preset(options.preset)
    overrides = {"mode": options.mode, "silence_threshold_s": options.silence_threshold_s,
                 **options.live.engine_overrides(options.mode)}  # a split plays in duet; the output channel
    config = EngineConfig.from_preset(preset.engine, **overrides)
    prompt = read_midi(options.prompt) if options.prompt is not None else []
    if config.mode == "continue" and not prompt:
        log.info("continue mode without --prompt: the human's first phrase is the prompt")
    controls = preset.controls
    if options.meter_weight is not None:
        controls = replace(controls, meter_weight=options.meter_weight)
    return build_engine(generator, sinks, config=config, controls=controls, prompt=prompt,
                        model_name=model_name, tempo=TempoConfig.from_options(options.sync, options.bpm))


def _ui_info(options: JamOptions, midi_in, sinks, api):
    if not options.live.tui:
        return None
    from .tui import TuiInfo

    return TuiInfo.of(options, midi_in, sinks, api)


def run_jam(options: JamOptions, stop: threading.Event | None = None) -> dict:
    """Run a live session; returns the report (also printed to the log and written to `options.report`)."""
    stop = stop or threading.Event()
    api = detect_api(options.api)
    generator, model_name = load_jam_generator(options.checkpoint, options.device, options.mock)
    with contextlib.ExitStack() as stack:
        ccmap = options.live.ccmap()  # a bad controls file fails before any port opens
        ports = [o for o in options.outs if o != SYNTH]
        deadman = None
        if ports and deadman_enabled():  # closed after the outputs (a kill -9 meanwhile is still covered)
            channel = options.live.engine_overrides(options.mode).get("channel", EngineConfig().channel)
            deadman = stack.enter_context(DeadMan(ports, api, [channel]))
        sinks = open_sinks(options.outs, api, options.soundfont, options.record, stack, options.live.thru)
        if deadman is not None:
            deadman.outputs_opened()
        recent = None
        if options.live.tui:
            from .tui import RecentNotes

            recent = RecentNotes()
            sinks.append(recent)
        engine = engine_for(options, generator, sinks, model_name)
        rig = LiveRig(engine, options.live, generator, api, ccmap)
        midi_in = MidiInput(options.inp, rig.on_message, engine.clock, api, engine.is_echo, engine.on_disconnect,
                            on_lost=engine.on_input_lost)
        stack.enter_context(midi_in)
        stack.callback(rig.close)
        rig.open(recent)
        open_time_ports(engine, sinks, api, options.clock_in, options.clock_out, stack)
        report = None
        try:
            guard = SessionGuard(engine, sinks, midi_in, stop, stack.enter_context(_closing(watch_for(api))),
                                 options.on_server_loss, options.report)
            with guard.installed():
                engine.start()
                log.info("jamming: %s -> %s, mode %s", midi_in.name, ", ".join(s.name for s in sinks),
                         engine.config.mode)
                rig.run(lambda: run_until_stopped(engine, sinks, stop, options.duration_s, guard), stop,
                        _ui_info(options, midi_in, sinks, api))
        finally:
            midi_in.close()  # no input while stopping; a JACK input's count of what it lost comes now
            report = engine.stop()
            if options.report is not None:
                write_report(report, options.report)
        log.info("%s", format_report(report))
        if engine.error is not None:
            raise RuntimeError(f"the engine stopped on an error: {engine.error}") from engine.error
        if guard.error is not None:
            if isinstance(guard.error, OSError):
                raise guard.error
            raise RuntimeError(f"the session stopped on an error: {guard.error!r}") from guard.error
    return report
