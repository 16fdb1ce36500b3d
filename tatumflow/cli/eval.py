"""`eval` (continuations measured against the real ones) and `inspect` (a MIDI file as the model sees it)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import CheckpointOpt, DeviceOpt, HarmonyOpt, fail
from .tune import CriticOpt, PianistOpt


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
    critic: CriticOpt = None, pianist: PianistOpt = None,
    best_of: Annotated[int, typer.Option("--best-of", help=(
        "Also play each window N times and keep the critic's pick (system best_of_N; needs a critic)."))] = 1,
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
        cfg = EvalConfig(prompt_seconds, continue_seconds, seeds, max_files, prompts_every_s=prompts_every,
                         best_of=best_of)
        controls = controls_from(preset, harmony_weight=harmony)
        judges = Judges.load(critic, pianist)
        if best_of > 1 and judges.critic is None:
            raise ValueError("--best-of needs a critic: give --critic DIR")
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
