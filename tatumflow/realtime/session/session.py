"""A live session from its configuration: open the generator, the input and the outputs, run until stopped, clean up.

`run_jam(options)` = `run_session(configure(options))`: the configuration is parsed and checked whole first
(jamconfig.py), so a mistyped option is refused before the model loads or anything opens. From before the model
loads until the report and the recording are on disk, stop signals only ask the session to stop (guard.py,
`stop_on_signals`). Every stop path (duration over, a signal, an engine or thread error, the server lost with
`--on-server-loss exit`) goes through the same `finally`: the input closes, the engine stops and every output gets
note-offs for what sounds and all-notes-off, the report is written; the outputs close (the recording written) with
the session's stack.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading

from ..control.live import LiveRig
from ..engine.clock import promote_input_thread, settle_heap
from ..engine.engine import JamEngine, build_engine
from ..engine.report import format_report, write_report
from ..ports.deadman import DeadMan
from ..ports.midi_io import MidiInput
from ..ports.outputs import Outputs
from ..ports.sinks import HUMAN, MODEL, PortSink, RecorderSink
from ..ports.watchdog import watch_for
from .clockout import open_time_ports
from .guard import SessionGuard, stop_on_signals
from .jamconfig import SYNTH, JamOptions, SessionConfig, configure

__all__ = ["JamOptions", "SessionConfig", "SessionFailed", "configure", "run_jam", "run_session",
           "load_jam_generator"]
log = logging.getLogger(__name__)
CHECK_PORTS_S = 1.0
POLL_S = 0.1  # the session loop: signals, the server watch, a thread's failure noticed this fast


class SessionFailed(RuntimeError):
    """The session stopped on an error of its own (the engine's worker, the guard), after its note-offs, report and
    recording: the CLI says it in one line."""


def load_jam_generator(checkpoint: str | None, device: str, mock: bool = False, own_process: bool = False,
                       threads: int = 1):
    """The real model (the embedded default when `checkpoint` is None), or the mock when asked (`--mock`);
    `own_process`: in a child process (generate/process.py: the live session's threads never wait on its
    interpreter lock), which the caller closes."""
    if own_process:
        from ...generate.process import GeneratorProcess

        return GeneratorProcess(checkpoint, device, threads, mock), "mock" if mock else checkpoint or "default"
    if mock:
        from ...generate.mock import mock_generator

        return mock_generator(), "mock"
    from ...generate.load import load_generator

    return load_generator(checkpoint, device=device), checkpoint or "default"


def open_outputs(config: SessionConfig, stack: contextlib.ExitStack) -> Outputs:
    """The outputs, in the order asked, then the recorder; `thru`: the human's notes sound on the synth too (port
    outputs carry TatumFlow alone)."""
    options = config.options
    outputs = Outputs()
    for out in options.outs:
        if out == SYNTH:
            from ..ports.synth import FluidSynthSink

            tracks = (MODEL, HUMAN) if options.live.thru else (MODEL,)
            outputs.add(stack.enter_context(FluidSynthSink(config.soundfont, tracks=tracks)))
        else:
            outputs.add(stack.enter_context(PortSink(out, config.api)))
    if options.record is not None:
        outputs.add(stack.enter_context(RecorderSink(options.record)))
    return outputs


def run_until_stopped(engine: JamEngine, stop: threading.Event, duration_s: float | None,
                      guard: SessionGuard | None = None) -> None:
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
            engine.outputs.check()


@contextlib.contextmanager
def _closing(watch):
    try:
        yield watch
    finally:
        watch.close()


def _ui_info(config: SessionConfig, midi_in, outputs) -> object:
    """What the terminal UI shows of the session (None without one)."""
    if not config.options.live.tui:
        return None
    from ..control.tui import TuiInfo

    return TuiInfo.of(config.options, midi_in, outputs, config.api)


def run_jam(options: JamOptions, stop: threading.Event | None = None) -> dict:
    """Configure (every option checked), then run the session; returns the report."""
    return run_session(configure(options), stop)


def run_session(config: SessionConfig, stop: threading.Event | None = None) -> dict:
    """Run a live session; returns the report (also logged and written to `--report`). Stop signals are held from
    here until the files are written."""
    stop = stop or threading.Event()
    with stop_on_signals(stop):
        generator, model_name = load_jam_generator(config.options.checkpoint, config.options.device,
                                                   config.options.mock, own_process=True,
                                                   threads=config.engine.torch_threads)
        settle_heap()  # the ~90 ms full collection now, before the ports open (the engine's own call is then short)
        with contextlib.ExitStack() as stack:
            stack.callback(generator.close)  # last: after the engine has stopped calling it
            engine, guard, rig = _open(config, generator, model_name, stop, stack)
            report = _play(config, engine, guard, rig, stop)
        log.info("%s", format_report(report))
    if engine.error is not None:
        raise SessionFailed(f"the engine stopped on an error: {str(engine.error)[:300]}") from engine.error
    if guard.error is not None:
        if isinstance(guard.error, OSError):
            raise guard.error
        raise SessionFailed(f"the session stopped on an error: {guard.error!r:.300}") from guard.error
    return report


def _open(config: SessionConfig, generator, model_name: str, stop: threading.Event,
          stack: contextlib.ExitStack) -> tuple[JamEngine, SessionGuard, LiveRig]:
    """The dead man's switch, the outputs, the engine, the input and the controls (the rig), closed by `stack` in
    reverse."""
    options = config.options
    deadman = None
    if config.port_outputs and config.deadman:  # closed after the outputs (a kill -9 meanwhile is still covered)
        deadman = stack.enter_context(DeadMan(config.port_outputs, config.api, [config.engine.channel]))
    outputs = open_outputs(config, stack)
    if deadman is not None:
        deadman.outputs_opened()
    recent = None
    if options.live.tui:
        from ..control.tui import RecentNotes

        recent = outputs.add(RecentNotes())
    engine = build_engine(generator, outputs, config=config.engine, controls=config.controls, prompt=config.prompt,
                          model_name=model_name, tempo=config.tempo, form=config.form, count_in=config.count_in)
    if config.engine.mode == "continue" and not config.prompt:
        log.info("continue mode without --prompt: the human's first phrase is the prompt")
    rig = LiveRig(engine, options.live, generator, config.api, config.ccmap, config.jack_input)
    midi_in = MidiInput(options.inp, rig.on_message, engine.clock, config.api, engine.is_echo, engine.on_disconnect,
                        on_lost=engine.on_input_lost, reader=config.jack_input, on_thread=promote_input_thread)
    stack.enter_context(midi_in)
    stack.callback(rig.close)
    rig.open(recent)
    open_time_ports(engine, config.api, options.clock_in, options.clock_out, stack, config.jack_input)
    watch = stack.enter_context(_closing(watch_for(config.api)))
    return engine, SessionGuard(engine, outputs, midi_in, stop, watch, options.on_server_loss, options.report), rig


def _play(config: SessionConfig, engine: JamEngine, guard: SessionGuard, rig: LiveRig, stop: threading.Event) -> dict:
    """Start, run until stopped (inside the terminal UI where there is one), stop: the input closes first, the
    engine silences every output, the report."""
    try:
        with guard.installed():
            engine.start()
            log.info("jamming: %s -> %s, mode %s", guard.midi_in.name, ", ".join(engine.outputs.names),
                     engine.config.mode)
            wait = functools.partial(run_until_stopped, engine, stop, config.options.duration_s, guard)
            rig.run(wait, stop, _ui_info(config, guard.midi_in, engine.outputs))
    finally:
        guard.midi_in.close()  # no input while stopping; a JACK input's count of what it lost comes now
        report = engine.stop()
        if config.options.report is not None:
            write_report(report, config.options.report)
    return report
