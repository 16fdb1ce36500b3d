"""Typer option types for the real-time commands (ports, jam, demo) and `jam`'s time options, kept here so that
cli.py stays a page of commands."""

from __future__ import annotations

from typing import Annotated

import typer

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
    "--soundfont", help="General MIDI .sf2 (default: found in the system soundfont folders).", show_default=False)]
