"""`generate` (a continuation, or a performance over a chart with --changes: tunes.py) and `presets`."""

from __future__ import annotations

from typing import Annotated

import typer

from tatumflow.realtime.control.knobs import option_help

from .common import CheckpointOpt, DeviceOpt, HarmonyOpt, fail
from .tunes import ChangesOpt, ChartWeightOpt, ChorusesOpt, TuneBpmOpt, generate_over_form


def generate(
    out: Annotated[str, typer.Option("--out", help="Output MIDI file.")],
    prompt: Annotated[str | None, typer.Option("--prompt", help="MIDI file to continue (default: silence).")] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Length of the continuation.")] = 20.0,
    preset: Annotated[str, typer.Option(
        "--preset", help="Preset name (see `tatumflow presets`) or .toml path.")] = "tatum",
    checkpoint: CheckpointOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (window i uses seed + i).")] = None,
    temperature: Annotated[float | None, typer.Option(
        "--temperature", help=option_help("temperature", with_range=False), show_default=False)] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", help="Keep the k likeliest values (0 = off, 1 = greedy).")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling mass in (0, 1].")] = None,
    harmony: HarmonyOpt = None,
    legato: Annotated[float | None, typer.Option(
        "--legato", help=option_help("legato"),
        show_default=False)] = None,
    device: DeviceOpt = "auto",
    changes: ChangesOpt = None,
    bpm: TuneBpmOpt = None,
    choruses: ChorusesOpt = None,
    chart_weight: ChartWeightOpt = None,
) -> None:
    """Continue a MIDI file (or improvise from silence); OUT has tracks `prompt` and `tatumflow`."""
    from rich.progress import Progress

    from tatumflow.generate.continuation import continue_notes
    from tatumflow.generate.load import load_generator
    from tatumflow.generate.window import Window
    from tatumflow.notes import read_midi, write_midi
    from tatumflow.paths import check_input_file, check_output_file
    from tatumflow.presets import controls_from

    if not seconds > 0 or seconds > 3600:
        fail(f"--seconds must be in (0, 3600], got {seconds}")
    try:
        check_output_file(out, "--out")
        if prompt:
            check_input_file(prompt, "--prompt MIDI file")
        frame = Window(seed=seed or 0)
        controls = controls_from(preset, temperature=temperature, top_k=top_k, top_p=top_p,
                                 harmony_weight=harmony, legato=legato, chart_weight=chart_weight)
        if changes or bpm is not None or choruses is not None:  # over a tune's form: cli/tunes.py
            return typer.echo(generate_over_form(out, changes, prompt, bpm, choruses, controls,
                                                           checkpoint, device, seed or 0))
        prompt_notes = read_midi(prompt) if prompt else []
        gen = load_generator(checkpoint, device)
        with Progress(transient=True) as progress:
            task = progress.add_task("generating", total=None)
            notes = continue_notes(gen, prompt_notes, seconds, controls, frame,
                                   lambda done, total: progress.update(task, completed=done, total=total))
        write_midi(out, {"prompt": prompt_notes, "tatumflow": notes})
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(f"wrote {out}: {len(prompt_notes)} prompt notes, {len(notes)} generated notes over {seconds:g} s")


def presets() -> None:
    """List the presets."""
    from tatumflow.presets import load_preset, preset_names

    for name in preset_names():
        p = load_preset(name)
        style = ", ".join(f"{k} {v:g}" for k, v in p.controls.style.items())
        engine = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in p.engine.items())
        typer.echo(f"{name:<8} {p.description}\n         style: {style}; temperature {p.controls.temperature:g}; "
                   f"harmony {p.controls.harmony_weight:g}; window {p.controls.window_s:g} s\n"
                   f"         engine: {engine or 'defaults'}")
