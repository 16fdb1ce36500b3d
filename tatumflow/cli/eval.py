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


ChartsOpt = Annotated[list[str] | None, typer.Option("--changes", show_default=False, help=(
    "Instead of --data: a chord chart to play over (repeatable): chord-tone share with the chart, without it and "
    "against it a semitone up, bar markers, grammar errors; Art Tatum's own share where he is aligned to it."))]
ChorusesOpt = Annotated[int, typer.Option("--choruses", help="With --changes: choruses per performance.")]
PijamaOpt = Annotated[str | None, typer.Option("--pijama", show_default=False, help=(
    "With --changes: the PiJAMA root, to measure Art Tatum's share on charts aligned to his recordings."))]


def eval_command(
    data: Annotated[list[str] | None, typer.Option(
        "--data", show_default=False, help="Folder of MIDI files, searched recursively (repeatable).")] = None,
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
    changes: ChartsOpt = None, choruses: ChorusesOpt = 2, pijama: PijamaOpt = None,
) -> None:
    """Continue prompts from each file and compare with the real continuation: model vs Markov vs no-style baselines,
    texture measures, a real-vs-generated discriminator, the learned ears; with --changes: playing over charts."""
    if changes or not data:  # one of the two
        if data or not changes:
            fail("give --data DIR (continuations of its files) or --changes CHART (playing over a chart), not both")
        unused = [name for name, given in (("--plot", plot), ("--critic", critic), ("--pianist", pianist),
                                           ("--harmony", harmony is not None), ("--best-of", best_of != 1)) if given]
        if unused:
            fail(f"{', '.join(unused)} apply to --data only, not to --changes")
        _eval_charts(changes or [], choruses, seeds, pijama, preset, checkpoint, device, json_out)
        return
    from tatumflow.eval.evaluate import EvalConfig

    try:
        cfg = EvalConfig(prompt_seconds, continue_seconds, seeds, max_files, prompts_every_s=prompts_every,
                         best_of=best_of)
    except ValueError as err:
        fail(str(err))
    _eval_data(data, cfg, checkpoint, device, json_out, plot, preset, harmony, critic, pianist)


def _eval_data(data: list[str], cfg, checkpoint: str | None, device: str, json_out: str | None, plot: str | None,
               preset: str, harmony: float | None, critic: str | None, pianist: str | None) -> None:
    """`eval --data`: continuations of the files' prompts against the real ones (every output checked first)."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress

    from tatumflow.eval.evaluate import evaluate
    from tatumflow.eval.judges import Judges
    from tatumflow.eval.table import summary_table
    from tatumflow.generate.load import load_generator
    from tatumflow.paths import check_output_file
    from tatumflow.presets import controls_from

    try:
        for value, option in ((json_out, "--json"), (plot, "--plot")):
            if value:
                check_output_file(value, option)
        controls = controls_from(preset, harmony_weight=harmony)
        judges = Judges.load(critic, pianist)
        if cfg.best_of > 1 and judges.critic is None:
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


def _eval_charts(paths: list[str], choruses: int, seeds: int, pijama: str | None, preset: str,
                 checkpoint: str | None, device: str, json_out: str | None) -> None:
    """`eval --changes`: every input checked (charts parsed, the output writable) before the model is loaded."""
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from tatumflow.eval.charts import MAX_CHARTS, ChartEvalConfig, evaluate_charts, table_rows
    from tatumflow.files import write_atomic
    from tatumflow.generate.load import load_generator
    from tatumflow.paths import check_output_file
    from tatumflow.presets import controls_from
    from tatumflow.tunes.chart import read_chart

    try:
        if len(paths) > MAX_CHARTS:
            raise ValueError(f"at most {MAX_CHARTS} --changes charts, got {len(paths)}")
        cfg = ChartEvalConfig(choruses, seeds)
        if json_out:
            check_output_file(json_out, "--json")
        if pijama and not Path(pijama).is_dir():
            raise ValueError(f"--pijama {pijama}: not a folder")
        charts = [(p, read_chart(p)) for p in paths]
        controls = controls_from(preset)
        gen = load_generator(checkpoint, device)
        with Progress(transient=True) as progress:
            task = progress.add_task("performing", total=None)
            report = evaluate_charts(gen, charts, controls, cfg, pijama, lambda done, total, name: progress.update(
                task, completed=done, total=total, description=name[:40]))
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    table = Table(title=f"over the charts: {choruses} choruses, seeds 0-{seeds - 1}, chart weight "
                        f"{controls.chart_weight:g}")
    for column in ("chart", "system", "chord-tone share", "semitone up", "margin", "worst run", "markers",
                   "grammar errors"):
        table.add_column(column)
    for row in table_rows(report):
        table.add_row(*row)
    Console().print(table)
    if json_out:
        payload = {"checkpoint": checkpoint or "embedded default", "preset": preset, **report}
        try:
            typer.echo(f"wrote {write_atomic(json_out, json.dumps(payload, indent=2))}")
        except ValueError as err:
            typer.echo(json.dumps(payload))
            fail(f"{err}; the results are printed above as one line of JSON")
