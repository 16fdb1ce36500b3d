"""The real-time tools beside `jam` (jam.py): `ports`, `render` and `demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import ApiOpt, CheckpointOpt, DeviceOpt, SoundfontOpt, fail


def ports(api: ApiOpt = None) -> None:
    """List MIDI input and output ports."""
    from tatumflow.realtime.ports.midi_io import detect_api, list_ports

    try:
        chosen = detect_api(api)
        inputs, outputs = list_ports(chosen)
    except (ValueError, OSError) as err:
        fail(str(err))
    typer.echo(f"MIDI API: {chosen or 'MIDO_BACKEND / default'}")
    typer.echo("inputs:" + "".join(f"\n  {p}" for p in inputs) if inputs else "inputs: none (use --in virtual)")
    typer.echo("outputs:" + "".join(f"\n  {p}" for p in outputs) if outputs
               else "outputs: none (use --out virtual or synth)")


def render(
    midi: Annotated[str, typer.Argument(help="MIDI file to render.", show_default=False)],
    wav: Annotated[str, typer.Argument(help="Output WAV file.", show_default=False)],
    soundfont: SoundfontOpt = None,
) -> None:
    """Render a MIDI file to WAV with FluidSynth (a channel per track; gaps over 30 s cut to 30 s; 2 hours at most)."""
    from tatumflow.realtime.ports.synth import render_midi

    try:
        path = render_midi(midi, wav, soundfont)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"wrote {path}")


def demo(
    out_dir: Annotated[str, typer.Option(
        "--out-dir", help="Folder for demo.mid, demo.wav, demo.png, demo_report.json.")] = ".",
    preset: Annotated[str, typer.Option("--preset", help="Preset name or .toml path.")] = "tatum",
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
    soundfont: SoundfontOpt = None,
    mock: Annotated[bool, typer.Option("--mock", help="Use the mock generator (no model).")] = False,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Do not open the audio device (files only).")] = False,
) -> None:
    """A built-in phrase is played live into the engine; TatumFlow answers through the synth; writes the files."""
    from tatumflow.paths import check_output_dir
    from tatumflow.realtime.engine.report import format_report
    from tatumflow.realtime.session.demo import run_demo
    from tatumflow.realtime.session.session import load_jam_generator

    try:
        check_output_dir(out_dir, "--out-dir")
        generator, model_name = load_jam_generator(checkpoint, device, mock)
        typer.echo("TatumFlow demo: playing a phrase, listening to the answer (about 15 s)...", err=True)
        result = run_demo(out_dir, generator, model_name, preset, soundfont, audio=not no_audio)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as err:
        fail(str(err))
    typer.echo(format_report(result.report))
    for path in (result.midi, result.wav, result.png, result.report_path):
        if path is not None:
            typer.echo(f"wrote {path}")
