"""The `tatumflow` command line. Thin: each command builds configs and calls the library."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from tatumflow.bench import cli_bench
from tatumflow.realtime import jam_cli
from tatumflow.realtime.cli_options import ApiOpt, CheckpointOpt, DeviceOpt, SoundfontOpt, fail
from tatumflow.realtime.control.knobs import option_help
from tatumflow.tune import cli_tune
from tatumflow.tunes import cli as tunes_cli

app = typer.Typer(add_completion=False, no_args_is_help=True, help="TatumFlow: real-time Art-Tatum-style jazz piano.")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
def inspect(
    file: Annotated[str, typer.Argument(help="A MIDI file (.mid/.midi).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """How the model sees a MIDI file: notes, density, polyphony, steps, and the MIDI -> steps -> MIDI round trip."""
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from tatumflow.eval.roundtrip import inspect_file

    if not Path(file).is_file():
        fail(f"MIDI file not found: {file}")
    try:
        stats = inspect_file(file)
    except ValueError as err:
        fail(str(err))
    if as_json:
        typer.echo(json.dumps(stats.to_dict()))
        return
    table = Table(title=Path(file).name, show_header=False)
    for label, value in stats.rows():
        table.add_row(label, value)
    Console().print(table)


HarmonyOpt = Annotated[
    float | None,
    typer.Option("--harmony", help=option_help("harmony", with_range=False), show_default=False),
]


@app.command()
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
    changes: tunes_cli.ChangesOpt = None,
    bpm: tunes_cli.TuneBpmOpt = None,
    choruses: tunes_cli.ChorusesOpt = None,
    chart_weight: tunes_cli.ChartWeightOpt = None,
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
        if changes or bpm is not None or choruses is not None:  # over a tune's form: tunes/cli.py
            return typer.echo(tunes_cli.generate_over_form(out, changes, prompt, bpm, choruses, controls,
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


@app.command()
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


TrainConfigOpt = Annotated[str, typer.Option(
    "--config", help="Training config: tiny, cpu, cpu-continue, cpu-more, v2, v2-replay, v2-decay, v2-touch, "
    "v2-touch-decay, v2-self, v2-self-decay, large, large-decay, default, gpu, specialize, focus-only.")]
PrecisionOpt = Annotated[str | None, typer.Option(
    "--precision", help="auto (bf16 where the CPU or GPU has bf16 instructions), fp32 or bf16 (default: the config's, "
    "auto).", show_default=False)]


@app.command()
def train(
    out: Annotated[str, typer.Option("--out", help="Run folder: checkpoints, metrics, token cache.")],
    data: Annotated[list[str] | None, typer.Option(
        "--data", help="Folder of MIDI files (repeatable). Without it, --cache must hold a built token cache (one "
        "carried to a machine without the MIDI).")] = None,
    config: TrainConfigOpt = "default",
    init: Annotated[str | None, typer.Option("--init", help="Start from this checkpoint (fine-tuning).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Override the config's step count.")] = None,
    cache: Annotated[str | None, typer.Option("--cache", help="Token cache folder (default: OUT/cache).")] = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = None,
    max_minutes: Annotated[float | None, typer.Option(
        "--max-minutes", help="Stop after this much training time (validates and saves OUT/last, as on Ctrl-C).",
        show_default=False)] = None,
) -> None:
    """Train on folders of MIDI (resumes from OUT/last). \
Several GPUs: `torchrun --nproc-per-node N -m tatumflow.cli train ...`."""
    from dataclasses import replace
    from pathlib import Path

    from tatumflow.paths import check_output_dir
    from tatumflow.train.config import train_config
    from tatumflow.train.loop import train as run_training
    from tatumflow.train.progress import training_progress

    if not data and cache is None:
        fail("give --data (folders of MIDI files), or --cache with a built token cache")
    for d in data or []:
        if Path(d).is_file():
            fail(f"--data {d} is a file; give a folder of MIDI files")
        if not Path(d).is_dir():
            fail(f"--data folder not found: {d}")
    try:
        check_output_dir(out, "--out")
        if cache is not None:
            check_output_dir(cache, "--cache")
    except ValueError as err:
        fail(str(err))
    if max_steps is not None and max_steps < 1:
        fail(f"--max-steps must be >= 1, got {max_steps}")
    if max_minutes is not None and not max_minutes > 0:
        fail(f"--max-minutes must be > 0, got {max_minutes}")
    try:
        cfg = train_config(config)
        if precision is not None:
            cfg = replace(cfg, precision=precision)
        with training_progress(max_steps or cfg.max_steps) as on_step:
            path = run_training([Path(d) for d in data or []], Path(out), cfg, device, Path(init) if init else None,
                                Path(cache) if cache else None, max_steps, on_step, max_minutes)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    except OSError as err:  # the metrics log on a full disk (checkpoints and state: WriteError, a ValueError)
        fail(f"--out {out}: cannot write ({err.strerror or err}); the last whole checkpoint is kept")
    if (path / "model.safetensors").is_file():
        typer.echo(f"best checkpoint: {path}")
    else:
        typer.echo("no validation step reached yet: no best checkpoint; the latest weights are in "
                   f"{path.parent / 'last'}")


# -- real-time: ports, jam, render, demo ---------------------------------------------------------------------------


@app.command()
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


# `jam` (and `controls`, its live controls) live in realtime/jam_cli.py: the session's many options
app.command()(jam_cli.jam)
app.command()(jam_cli.controls)
app.command()(tunes_cli.restyle)
app.command()(cli_tune.tune)

@app.command()
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


@app.command()
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
    from tatumflow.realtime.engine.engine.report import format_report
    from tatumflow.realtime.session.session.demo import run_demo
    from tatumflow.realtime.session.session.session import load_jam_generator

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


@app.command("eval")
def eval_command(
    data: Annotated[list[str], typer.Option("--data", help="Folder of MIDI files, searched recursively (repeatable).")],
    prompt_seconds: Annotated[float, typer.Option("--prompt-seconds", help="Prompt length (s).")] = 20.0,
    continue_seconds: Annotated[float, typer.Option("--continue-seconds", help="Continuation length compared.")] = 15.0,
    seeds: Annotated[int, typer.Option("--seeds", help="Continuations per prompt and system (seeds 0..N-1).")] = 3,
    max_files: Annotated[int | None, typer.Option("--max-files", help="Use at most this many files.")] = None,
    prompts_every: Annotated[float | None, typer.Option("--prompts-every", show_default=False, help=(
        "A prompt every this many seconds (at least 1) through each file (default: its opening only)."))] = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
    json_out: Annotated[str | None, typer.Option("--json", help="Write per-prompt values and means here.")] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write piano rolls of the first files here (PNG).")] = None,
    preset: Annotated[str, typer.Option(
        "--preset", help="Preset name or .toml path for the model's controls.")] = "tatum",
    harmony: HarmonyOpt = None,
    critic: cli_tune.CriticOpt = None, pianist: cli_tune.PianistOpt = None,
) -> None:
    """Continue prompts from each file and compare with the real continuation: model vs Markov vs no-style
    baselines, texture measures, a real-vs-generated discriminator and the learned ears."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress

    from tatumflow.eval.evaluate import EvalConfig, evaluate
    from tatumflow.eval.judges import Judges
    from tatumflow.eval.table import summary_table
    from tatumflow.generate.load import load_generator
    from tatumflow.paths import check_output_file
    from tatumflow.presets import controls_from

    try:
        for value, option in ((json_out, "--json"), (plot, "--plot")):
            if value:
                check_output_file(value, option)
        cfg = EvalConfig(prompt_seconds, continue_seconds, seeds, max_files, prompts_every_s=prompts_every)
        controls = controls_from(preset, harmony_weight=harmony)
        judges = Judges.load(critic, pianist)
        gen = load_generator(checkpoint, device)
        with Progress(transient=True) as progress:
            task = progress.add_task("evaluating", total=None)
            report = evaluate(gen, [Path(d) for d in data], cfg, controls,
                              lambda done, total, name: progress.update(task, completed=done, total=total,
                                                                        description=name[:40]), judges)
        Console().print(summary_table(report))
        _write_eval(report, json_out, plot, {"checkpoint": checkpoint or "embedded default", "preset": preset,
                                             "harmony_weight": controls.harmony_weight})
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    n_files = len({f.path for f in report.files})
    typer.echo(f"{n_files} files evaluated ({len(report.files)} prompts); skipped "
               f"{report.skipped['unreadable']} unreadable, {report.skipped['too_short']} too short")


def _write_eval(report, json_out: str | None, plot: str | None, header: dict) -> None:
    """The eval's JSON (atomic; on a full disk printed instead, so nothing computed is lost) and piano rolls."""
    import json

    from tatumflow.eval.evaluate import plot_pianorolls
    from tatumflow.files import write_atomic

    if json_out:
        payload = {**header, **report.to_dict()}
        try:
            typer.echo(f"wrote {write_atomic(json_out, json.dumps(payload, indent=2))}")
        except ValueError as err:  # a full disk after the whole evaluation: the results go to stdout, not lost
            typer.echo(json.dumps(payload))
            raise ValueError(f"{err}; the per-prompt results are printed above as one line of JSON") from err
    if plot:
        plot_pianorolls(report, plot)
        typer.echo(f"wrote {plot}")


app.command()(cli_bench.bench)


def _bare_json_to_stdout(argv: list[str]) -> list[str]:
    """For `bench`, a bare `--json` (last, or followed by another option) means "print the JSON": `--json -`."""
    if "bench" not in argv:
        return argv
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--json" and (i + 1 == len(argv) or argv[i + 1].startswith("--")):
            out.append("-")
    return out


def run() -> None:
    """Console entry point."""
    import sys

    app(args=_bare_json_to_stdout(sys.argv[1:]), prog_name="tatumflow")


if __name__ == "__main__":
    run()
