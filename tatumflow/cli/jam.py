"""The `jam` and `controls` commands: the live session's options, including its time (tempo source, clock in and
out, the meter prior), the controls a musician reaches (CC map, MIDI learn, UI, OSC), the accompany split and the
input/output conventions."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tatumflow.realtime.control.knobs import option_help

from .common import ApiOpt, CheckpointOpt, DeviceOpt, SoundfontOpt, fail

SyncOpt = Annotated[str, typer.Option(
    "--sync", help="Tempo source: auto (MIDI clock when it arrives, else follow the player), clock, human, off.")]
BpmOpt = Annotated[float | None, typer.Option(
    "--bpm", help="A fixed tempo (with --sync auto or off).", show_default=False)]
ClockInOpt = Annotated[str | None, typer.Option(
    "--clock-in", help="Read MIDI clock from this port (default: the --in port).", show_default=False)]
ClockOutOpt = Annotated[bool, typer.Option(
    "--clock-out", help="Send MIDI clock (Start/Stop, 24 ppqn) at the session tempo on the port outputs.")]
MeterOpt = Annotated[float | None, typer.Option(
    "--meter", help="Meter prior strength 0..4: onsets lean toward the beat grid (default: the preset's).",
    show_default=False)]
JackInputOpt = Annotated[str | None, typer.Option(
    "--jack-input", help="How a JACK input is read: dump (jack_midi_dump, outside Python) or callback (default: "
    "$TATUMFLOW_JACK_INPUT, else dump where installed).", show_default=False)]
DeadmanOpt = Annotated[bool | None, typer.Option(
    "--deadman/--no-deadman", help="A guard process that silences the port outputs if the session is killed "
    "(default: $TATUMFLOW_DEADMAN, else on).", show_default=False)]

ControlsOpt = Annotated[str | None, typer.Option(
    "--controls", help="MIDI CC map (TOML; default: the built-in map, see `tatumflow controls`). With --learn: the "
    "file written.", show_default=False)]
LearnOpt = Annotated[bool, typer.Option("--learn", help="MIDI learn: move a knob, choose its control; writes "
                                        "--controls FILE (default tatumflow-controls.toml) and exits.")]
MapOpt = Annotated[str | None, typer.Option(
    "--controls", help="MIDI CC map (TOML; default: the built-in map).", show_default=False)]
ControlInOpt = Annotated[str | None, typer.Option(
    "--control-in", help="Read the controller from this port (default: the --in port).", show_default=False)]
TuiOpt = Annotated[bool | None, typer.Option(
    "--tui/--no-tui", help="Terminal UI (default: on in a terminal; --tui refuses to start without one).",
    show_default=False)]
OscOpt = Annotated[int | None, typer.Option(
    "--osc", help="Listen for OSC on this UDP port (/tatumflow/<control> value).", show_default=False)]
OscHostOpt = Annotated[str, typer.Option("--osc-host", help="OSC address to listen on.")]
SplitOpt = Annotated[int | None, typer.Option(
    "--split", help="Accompany split (MIDI note): TatumFlow keeps to one side (default duet).", show_default=False)]
SideOpt = Annotated[bool, typer.Option(
    "--above/--below", help="With --split: TatumFlow plays above the split (pitches >= NOTE) or below it (< NOTE).")]
InChannelOpt = Annotated[int | None, typer.Option(
    "--in-channel", help="Listen to this MIDI channel only, 1..16 (default: all).", show_default=False)]
OutChannelOpt = Annotated[int | None, typer.Option(
    "--out-channel", help="TatumFlow's output channel, 1..16 (default 1).", show_default=False)]
ThruOpt = Annotated[bool, typer.Option(
    "--thru/--no-thru", help="Echo the human's notes to the synth output (port outputs carry TatumFlow alone).")]
VelocityOpt = Annotated[str, typer.Option(
    "--velocity-curve", help="The human's touch: soft, linear, hard, or an exponent (0.2..5).")]
StyleBOpt = Annotated[str | None, typer.Option(
    "--style-b", help="The second pianist of the style_mix crossfade (default: one from the checkpoint).",
    show_default=False)]

InOpt = Annotated[str, typer.Option(
    "--in", help="Input port name (substring ok) or 'virtual' (creates 'TatumFlow In').")]
OutOpt = Annotated[list[str] | None, typer.Option(
    "--out", help="'virtual' (creates 'TatumFlow Out'), 'synth', or a port name; repeatable.")]
ModeOpt = Annotated[str | None, typer.Option(
    "--mode", help="call-response, duet, continue or trade (with --changes) (default: the preset's; duet with "
    "--split; trade with --trade).", show_default=False)]
JamChangesOpt = Annotated[str | None, typer.Option(
    "--changes", help="A chord chart (README: Play a tune): the form in the jam, on the session's tempo (MIDI clock: "
    "the song position places the bar; --bpm: a bar of count-in first; else your first note is bar 1).",
    show_default=False)]
TradeOpt = Annotated[str | None, typer.Option(
    "--trade", help="Trade N bars (2, 4, 8) or 'chorus' with the form: you play N, TatumFlow answers the next N "
    "(--mode trade; default 4).", show_default=False)]
NoFeelOpt = Annotated[bool, typer.Option(
    "--no-feel", help="With --changes: sample with the live controls as they are, not the chart's feel on top.")]
PromptOpt = Annotated[str | None, typer.Option(
    "--prompt", help="MIDI file used as context (continue: what to continue).", show_default=False)]
RecordOpt = Annotated[str | None, typer.Option(
    "--record", help="Write the session (human + tatumflow tracks) to this .mid.", show_default=False)]
ReportOpt = Annotated[str | None, typer.Option(
    "--report", help="Write the latency report JSON here.", show_default=False)]
DurationOpt = Annotated[float | None, typer.Option(
    "--duration", help="Stop after this many seconds (default: Ctrl-C).", show_default=False)]
SilenceOpt = Annotated[float | None, typer.Option(
    "--silence", help=option_help("silence", with_range=False), show_default=False)]
ServerLossOpt = Annotated[str, typer.Option(
    "--on-server-loss", help="The JACK server went away: 'wait' for it and carry on, or 'exit' (report and recording "
    "are written either way).")]


def jam(
    inp: InOpt = "virtual",
    out: OutOpt = None,
    mode: ModeOpt = None,
    prompt: PromptOpt = None,
    preset: Annotated[str, typer.Option("--preset", help="Preset name or .toml path.")] = "tatum",
    record: RecordOpt = None,
    report: ReportOpt = None,
    duration: DurationOpt = None,
    silence: SilenceOpt = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
    api: ApiOpt = None,
    soundfont: SoundfontOpt = None,
    mock: Annotated[bool, typer.Option("--mock", help="Use the mock generator (no model).")] = False,
    sync: SyncOpt = "auto", bpm: BpmOpt = None, clock_in: ClockInOpt = None, clock_out: ClockOutOpt = False,
    meter: MeterOpt = None,
    on_server_loss: ServerLossOpt = "wait",
    controls: ControlsOpt = None, learn: LearnOpt = False, control_in: ControlInOpt = None, tui: TuiOpt = None,
    osc: OscOpt = None, osc_host: OscHostOpt = "127.0.0.1", split: SplitOpt = None, above: SideOpt = False,
    in_channel: InChannelOpt = None, out_channel: OutChannelOpt = None, thru: ThruOpt = True,
    velocity_curve: VelocityOpt = "linear", style_b: StyleBOpt = None,
    jack_input: JackInputOpt = None, deadman: DeadmanOpt = None,
    changes: JamChangesOpt = None, trade: TradeOpt = None, no_feel: NoFeelOpt = False,
) -> None:
    """Jam live: listen on a MIDI input and answer on the outputs until Ctrl-C (or --duration)."""
    from pathlib import Path

    from tatumflow.realtime.control.live import LiveOptions
    from tatumflow.realtime.engine.report import format_report
    from tatumflow.realtime.session.session import JamOptions, configure

    if learn:
        return _learn(inp, api, Path(controls or "tatumflow-controls.toml"))
    terminal = all(_is_terminal(stream) for stream in (sys.stdin, sys.stdout, sys.stderr))
    if tui and not terminal:
        fail("--tui needs a terminal on stdin, stdout and stderr (one is piped or redirected here); "
             "run without --tui, or with --no-tui for the plain log")
    show_tui = terminal if tui is None else tui
    try:
        live = LiveOptions(controls_file=Path(controls) if controls else None, control_in=control_in, split=split,
                           split_side="above" if above else "below", in_channel=in_channel, out_channel=out_channel,
                           thru=thru, velocity_curve=velocity_curve, style_b=style_b, osc_port=osc,
                           osc_host=osc_host, tui=show_tui)
        options = JamOptions(inp=inp, outs=tuple(out or ["virtual"]), mode=mode,
                             prompt=Path(prompt) if prompt else None, preset=preset,
                             record=Path(record) if record else None,
                             report=Path(report) if report else None, duration_s=duration, checkpoint=checkpoint,
                             device=device, api=api, soundfont=soundfont, silence_threshold_s=silence, mock=mock,
                             sync=sync, bpm=bpm, clock_in=clock_in, clock_out=clock_out, meter_weight=meter,
                             on_server_loss=on_server_loss, live=live, jack_input=jack_input, deadman=deadman,
                             changes=Path(changes) if changes else None, trade=trade, feel=not no_feel)
        config = configure(options)  # every option checked, before the model loads or anything opens
        result = _play(config, None if show_tui else
                       f"TatumFlow jam: in {inp}, out {', '.join(options.outs)}; Ctrl-C to stop")
    except (ValueError, FileNotFoundError, OSError) as err:
        fail(str(err))
    typer.echo(format_report(result))


def _play(config, line: str | None) -> dict:
    """The session, stop signals held from before `line` (Ctrl-C stops it) is printed: a signal then is a stop,
    with its report and recording, not a kill."""
    import threading

    from tatumflow.realtime.session.guard import stop_on_signals
    from tatumflow.realtime.session.session import SessionFailed, run_session

    stop = threading.Event()
    with stop_on_signals(stop):
        if line is not None:
            typer.echo(line, err=True)
        try:
            return run_session(config, stop)
        except SessionFailed as err:  # not the user's input (exit 2): the session failed after saving what it had
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def _learn(inp: str, api: str | None, path) -> None:
    from tatumflow.realtime.control.learn import run_learn
    from tatumflow.realtime.ports.midi_io import detect_api

    try:
        run_learn(inp, detect_api(api), path)
    except (ValueError, OSError) as err:
        fail(str(err))


def controls(
    controls_file: MapOpt = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="A JSON list of objects (name, cc, min, max, default, ...).")] = False,
    as_toml: Annotated[bool, typer.Option(
        "--toml", help="The CC map as a file to edit and pass to `jam --controls FILE`.")] = False,
) -> None:
    """The live controls: name, range, default and CC (a CC value 0..127 maps linearly onto min..max)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from tatumflow.realtime.control.ccmap import PANIC, load_map, map_toml
    from tatumflow.realtime.control.knobs import KNOBS

    try:
        ccmap = load_map(controls_file)
    except ValueError as err:
        fail(str(err))
    if as_toml:
        typer.echo(map_toml(ccmap), nl=False)
        return
    rows = [k.describe(ccmap.cc_of(name)) for name, k in KNOBS.items()]
    rows.append({"name": PANIC, "cc": ccmap.cc_of(PANIC), "min": 0, "max": 127, "default": 0, "kind": "trigger",
                 "applies_to": "engine.panic", "help": "all notes off now (any value > 0)"})
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(title="TatumFlow live controls (CC value 0..127 -> min..max)")
    for col in ("name", "cc", "min", "max", "default", "help"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str("-" if r[c] is None else r[c]) for c in ("name", "cc", "min", "max", "default", "help")))
    Console(width=140).print(table)
