"""What the commands share, defined once: `fail` (a user error: one line, exit 2), the option types used by several
commands (device, checkpoint, MIDI API, soundfont), and `jam`'s time options, kept here so that cli.py stays a page
of commands."""

from __future__ import annotations

from typing import Annotated

import typer


def fail(message: str) -> None:
    """Print a user error and exit with status 2."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
CheckpointOpt = Annotated[str | None, typer.Option(
    "--checkpoint", help="Checkpoint folder (default: the embedded model).", show_default=False)]

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
ApiOpt = Annotated[str | None, typer.Option(
    "--api", help="MIDI API: auto, alsa, jack, coremidi, winmm (default: auto or $MIDO_BACKEND).", show_default=False)]
SoundfontOpt = Annotated[str | None, typer.Option(
    "--soundfont", help="General MIDI .sf2 (default: $TATUMFLOW_SOUNDFONT, else found in the system soundfont "
    "folders).", show_default=False)]
JackInputOpt = Annotated[str | None, typer.Option(
    "--jack-input", help="How a JACK input is read: dump (jack_midi_dump, outside Python) or callback (default: "
    "$TATUMFLOW_JACK_INPUT, else dump where installed).", show_default=False)]
DeadmanOpt = Annotated[bool | None, typer.Option(
    "--deadman/--no-deadman", help="A guard process that silences the port outputs if the session is killed "
    "(default: $TATUMFLOW_DEADMAN, else on).", show_default=False)]
