"""A jam session's configuration, parsed once, before anything opens.

`JamOptions` is what was asked for (the `jam` command's options, or a test's); `configure(options)` turns it into
one frozen `SessionConfig`: the preset loaded, the engine configuration and the controls built from it, the tempo
source, the prompt read, the chord chart read (`--changes`, with `--mode trade` and `--trade`), the CC map read,
the MIDI API chosen, every port name checked against the ports there
are, the soundfont found, the environment's switches read (environment.py). A mistyped `--in`, `--out`,
`--preset` or `--mode` is a one-line `ValueError` here, before the model loads and before any port, process or
file is opened. The session (session.py) then reads this configuration and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from ...generate.controls import Controls
from ...notes import Note, read_midi
from ...paths import check_input_file, check_output_file
from ...presets import load_preset
from ...timing.form import Form
from ...tunes.chart import read_chart
from ..control.ccmap import CcMap
from ..control.live import LiveOptions
from ..engine.config import MODES, EngineConfig
from ..engine.tempo import TempoConfig
from ..engine.trade import parse_trade
from ..ports import environment
from ..ports.midi_io import VIRTUAL, backend, detect_api, jack_reader, resolve_port
from .guard import ON_SERVER_LOSS

SYNTH = "synth"


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
    api: str | None = None  # None: MIDO_BACKEND, else found by itself
    soundfont: str | None = None  # None: TATUMFLOW_SOUNDFONT, else the system's
    silence_threshold_s: float | None = None
    mock: bool = False
    sync: str = "off"  # the tempo source (tempo.py): auto, clock, human, off; `bpm` alone: fixed
    bpm: float | None = None
    clock_in: str | None = None
    clock_out: bool = False
    meter_weight: float | None = None  # None: the preset's
    live: LiveOptions = LiveOptions()  # controls, split, channels, thru, velocity curve, OSC, UI (live.py)
    on_server_loss: str = "wait"  # the JACK server went away: wait for it (ports re-opened), or exit (guard.py)
    jack_input: str | None = None  # how a JACK input is read: dump or callback (None: TATUMFLOW_JACK_INPUT, else best)
    deadman: bool | None = None  # the dead man's switch for port outputs (None: TATUMFLOW_DEADMAN, else on)
    changes: Path | None = None  # a chord chart: the form in the jam (liveform.py)
    trade: str | None = None  # bars a turn in `trade` ("2", "4", "8", "chorus"); None: 4
    feel: bool = True  # over a chart, the feel on top of the live controls (liveform.py); False: jam --no-feel

    def __post_init__(self) -> None:
        if not self.outs:
            raise ValueError("at least one output is needed: virtual, synth or a port name")
        if self.duration_s is not None and not 0 < self.duration_s < math.inf:  # nan fails too
            raise ValueError(f"--duration must be a finite number of seconds > 0, got {self.duration_s}")
        self._check_values()
        if self.on_server_loss not in ON_SERVER_LOSS:
            raise ValueError(f"--on-server-loss must be one of {', '.join(ON_SERVER_LOSS)}, "
                             f"got {self.on_server_loss!r}")

    def _check_values(self) -> None:
        """Paths and numbers checked before anything opens: a session never plays to find out at the end."""
        for value, option in ((self.record, "--record"), (self.report, "--report")):
            if value is not None:
                check_output_file(value, option)
        for path, option in ((self.prompt, "--prompt"), (self.changes, "--changes")):
            if path is not None:
                check_input_file(path, option)
        for number, option in ((self.silence_threshold_s, "--silence"), (self.bpm, "--bpm")):
            if number is not None and not 0 < number < math.inf:
                raise ValueError(f"{option} must be a finite number > 0, got {number}")
        if self.meter_weight is not None and not math.isfinite(self.meter_weight):
            raise ValueError(f"--meter must be a finite number, got {self.meter_weight}")
        if self.checkpoint is not None and not self.mock and not Path(self.checkpoint).is_dir():
            raise ValueError(f"--checkpoint folder not found: {self.checkpoint}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"--device must be auto, cpu or cuda, got {self.device!r}")


@dataclass(frozen=True)
class SessionConfig:
    """Everything a session reads, checked. `options` is kept for what needs no parsing (paths, duration, live
    options); `inp`, `outs`, `clock_in` are the names as asked (a named port is re-found by them after an unplug),
    each known to match one port when the session was configured."""

    options: JamOptions
    api: str | None
    engine: EngineConfig
    controls: Controls
    tempo: TempoConfig
    prompt: tuple[Note, ...]
    ccmap: CcMap
    soundfont: Path | None  # the built-in synth's (None: no synth output)
    jack_input: str  # "dump" or "callback"
    deadman: bool
    form: Form | None = None  # the chart's form (--changes)
    count_in: bool = False  # a bar of notes before bar 1 (a chart at a fixed --bpm)

    @property
    def port_outputs(self) -> tuple[str, ...]:
        """The outputs that are MIDI ports (virtual or named), not the built-in synth."""
        return tuple(o for o in self.options.outs if o != SYNTH)


def _engine_config(options: JamOptions, preset_name: str, table: dict) -> EngineConfig:
    """The preset's `[engine]` table, checked, with the options that override it."""
    if options.mode is not None and options.mode not in MODES:
        raise ValueError(f"unknown --mode {options.mode!r}; valid modes: {', '.join(MODES)}")
    config = EngineConfig.from_table(table, f"preset {preset_name!r} [engine]")
    mode = options.mode if options.mode is not None or options.trade is None else "trade"  # --trade N: trade
    if options.trade is not None and mode != "trade":
        raise ValueError(f"--trade goes with --mode trade, not --mode {mode}")
    if mode == "trade" and options.changes is None:
        raise ValueError("--mode trade needs a chord chart: --changes tune.txt (the bars to trade on)")
    overrides = {"mode": mode, "silence_threshold_s": options.silence_threshold_s,
                 "trade_bars": parse_trade(options.trade) if options.trade is not None else None,
                 "chart_feel": None if options.feel else False,
                 **options.live.engine_overrides(mode)}  # a split plays in duet; the output channel
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _check_ports(options: JamOptions, api: str | None) -> None:
    """Every port named by an option is there, and is one port (a substring may name it). Each list is read only
    when a name needs it (on JACK a listing is a client opened and closed: ~0.25 s)."""
    named_ins = [(n, o) for n, o in ((options.inp, "--in"), (options.clock_in, "--clock-in"),
                                     (options.live.control_in, "--control-in")) if n is not None and n != VIRTUAL]
    named_outs = [n for n in options.outs if n not in (VIRTUAL, SYNTH)]
    backend_ = backend(api) if named_ins or named_outs else None
    if backend_ is not None and named_ins:
        ins = list(backend_.get_input_names())
        for name, option in named_ins:
            _resolve(name, ins, "input", option)
    if backend_ is not None and named_outs:
        outs = list(backend_.get_output_names())
        for name in named_outs:
            _resolve(name, outs, "output", "--out")
    if options.clock_out and all(o == SYNTH for o in options.outs):
        raise ValueError("--clock-out needs a MIDI port output (--out virtual or a port name)")


def _resolve(name: str, available: list[str], kind: str, option: str) -> str:
    try:
        return resolve_port(name, available, kind)
    except ValueError as err:
        raise ValueError(f"{option}: {err}") from None


def configure(options: JamOptions) -> SessionConfig:
    """The session's one configuration, every value checked; opens nothing (the port lists are only read)."""
    preset = load_preset(options.preset)
    engine = _engine_config(options, preset.name, preset.engine)
    controls = preset.controls
    if options.meter_weight is not None:
        controls = replace(controls, meter_weight=options.meter_weight)
    tempo = TempoConfig.from_options(options.sync, options.bpm)
    if options.changes is not None and tempo.sync == "off":
        raise ValueError("--changes needs a tempo to place the form on: --sync auto, clock or human, or --bpm N")
    ccmap = options.live.ccmap()
    prompt = tuple(read_midi(options.prompt)) if options.prompt is not None else ()
    form = read_chart(options.changes).form if options.changes is not None else None
    api = detect_api(options.api)
    reader = jack_reader(api, options.jack_input)
    _check_ports(options, api)
    soundfont = None
    if SYNTH in options.outs:
        from ..ports.synth import find_soundfont

        soundfont = find_soundfont(options.soundfont)
    deadman = environment.deadman() if options.deadman is None else options.deadman
    return SessionConfig(options, api, engine, controls, tempo, prompt, ccmap, soundfont, reader, deadman, form,
                         form is not None and tempo.sync == "fixed")
