"""What the commands share, defined once: `fail` (a user error: one line, exit 2) and the options several commands
take (device, checkpoint, MIDI API, soundfont, harmony)."""

from __future__ import annotations

from typing import Annotated

import typer

from tatumflow.realtime.control.knobs import option_help


def fail(message: str) -> None:
    """Print a user error and exit with status 2."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
CheckpointOpt = Annotated[str | None, typer.Option(
    "--checkpoint", help="Checkpoint folder (default: the embedded model).", show_default=False)]
ApiOpt = Annotated[str | None, typer.Option(
    "--api", help="MIDI API: auto, alsa, jack, coremidi, winmm (default: auto or $MIDO_BACKEND).", show_default=False)]
SoundfontOpt = Annotated[str | None, typer.Option(
    "--soundfont", help="General MIDI .sf2 (default: $TATUMFLOW_SOUNDFONT, else found in the system soundfont "
    "folders).", show_default=False)]
HarmonyOpt = Annotated[
    float | None,
    typer.Option("--harmony", help=option_help("harmony", with_range=False), show_default=False),
]
