"""`tatumflow demo`: a built-in phrase is played into the live engine as the human, in real time; TatumFlow answers
(call-response) through the synth while the session is recorded. Writes demo.mid, demo.wav, demo.png and
demo_report.json (demo.png only with matplotlib, an optional extra: without it the demo says so in one line)."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ...notes import Note, note_messages, read_midi_tracks
from ...presets import load_preset
from ..engine.clock import Clock
from ..engine.config import EngineConfig
from ..engine.engine import JamEngine, build_engine
from ..engine.report import write_report
from ..ports.sinks import RecorderSink

log = logging.getLogger(__name__)

SWING_S = (0.26, 0.14)  # long-short eighths at ~150 bpm


def _line(start_s: float, pitches: list[int], velocity: int = 84) -> list[Note]:
    notes, t = [], start_s
    for i, p in enumerate(pitches):
        step = SWING_S[i % 2]
        notes.append(Note(round(t, 3), round(step * 0.9, 3), p, velocity - 8 * (i % 2)))
        t += step
    return notes


def _chord(t_s: float, pitches: list[int], duration_s: float, velocity: int = 62) -> list[Note]:
    return [Note(t_s, duration_s, p, velocity) for p in pitches]


def builtin_phrases() -> list[list[Note]]:
    """Two ii-V-I phrases in C and F, right-hand bebop line over left-hand shell voicings (self-made)."""
    first = (_line(0.0, [62, 65, 69, 72, 71, 67, 65, 62, 64, 67, 71, 74], 86) + [Note(2.4, 0.6, 72, 90)]
             + _chord(0.0, [50, 53, 60], 0.75) + _chord(0.8, [43, 53, 59], 0.75) + _chord(1.6, [48, 52, 59], 1.2))
    second = (_line(0.0, [67, 70, 74, 77, 76, 72, 70, 67, 69, 72, 76, 79], 82) + [Note(2.4, 0.7, 77, 88)]
              + _chord(0.0, [55, 58, 65], 0.75) + _chord(0.8, [48, 58, 64], 0.75) + _chord(1.6, [53, 57, 64], 1.3))
    return [sorted(first), sorted(second)]


@dataclass(frozen=True)
class DemoOutputs:
    midi: Path
    wav: Path | None
    png: Path | None  # None without matplotlib
    report_path: Path
    report: dict


def play_as_human(engine: JamEngine, notes: list[Note], clock: Clock) -> float:
    """Send a phrase into the engine in real time, stamped like a keyboard would be; returns the last release. The
    player sleeps between notes, never spins (clock.py: a keyboard's messages come from the MIDI server's thread,
    which holds no lock of the engine's while it waits)."""
    t0 = clock.now() + 0.05
    for t, msg in note_messages(notes):
        clock.sleep_until(t0 + t, spin=False)
        engine.on_message(msg, clock.now())
    return clock.now()


def wait_for_reply(engine: JamEngine, replies_before: int, timeout_s: float) -> None:
    clock = engine.clock
    deadline = clock.now() + timeout_s
    while clock.now() < deadline and not engine.failed:
        if engine.stats.replies > replies_before and not engine.snapshot().replying:
            return
        clock.sleep_until(clock.now() + 0.05)
    if engine.failed:
        raise RuntimeError(f"the engine stopped on an error: {engine.error}") from engine.error


def _live_synth(soundfont: str | None, audio: bool, stack: contextlib.ExitStack):
    try:
        from ..ports.synth import FluidSynthSink

        return stack.enter_context(FluidSynthSink(soundfont, audio=audio))
    except (ImportError, OSError) as err:
        log.warning("no live synth (%s); the demo still records and renders", err)
        return None


def run_demo(out_dir: str | os.PathLike, generator, model_name: str = "mock", preset: str = "tatum",
             soundfont: str | None = None, audio: bool = True, phrases: int = 2) -> DemoOutputs:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = load_preset(preset)
    config = replace(EngineConfig.from_preset(p.engine), mode="call-response", max_reply_s=6.0)
    with contextlib.ExitStack() as stack:
        sinks = [s for s in (_live_synth(soundfont, audio, stack),) if s is not None]
        sinks.append(stack.enter_context(RecorderSink(out / "demo.mid")))
        engine = build_engine(generator, sinks, config=config, controls=p.controls, model_name=model_name)
        engine.start()
        try:
            for phrase in builtin_phrases()[:phrases]:
                before = engine.stats.replies
                play_as_human(engine, phrase, engine.clock)
                wait_for_reply(engine, before, config.silence_threshold_s + config.max_reply_s + 4.0)
        finally:
            report = engine.stop()
    return write_demo_files(out, report, soundfont)


def _piano_roll(tracks: dict[str, list[Note]], path: Path) -> Path | None:
    try:
        from ...plots import plot_piano_roll

        return plot_piano_roll(tracks, path, "TatumFlow demo: human (blue), TatumFlow (orange)")
    except ImportError:
        log.warning("no %s: matplotlib is not installed (pip install 'tatumflow[plot]')", path.name)
        return None


def write_demo_files(out: Path, report: dict, soundfont: str | None) -> DemoOutputs:
    """From the recorded `out/demo.mid`: the piano roll (with matplotlib), the WAV (with FluidSynth), the report."""
    tracks = read_midi_tracks(out / "demo.mid")
    tracks.pop("track0", None)
    png = _piano_roll(tracks, out / "demo.png")
    wav = None
    try:
        from ..ports.synth import render_tracks

        wav = render_tracks(tracks, out / "demo.wav", soundfont)
    except (ImportError, OSError, ValueError) as err:
        log.warning("could not render demo.wav: %s", err)
    report_path = write_report(report, out / "demo_report.json")
    return DemoOutputs(out / "demo.mid", wav, png, report_path, report)
