"""The tune commands: `generate --changes` (a performance over a chart's form) and `restyle` (a melody played in
Tatum's manner). Library errors (ValueError, FileNotFoundError) become one-line errors with exit status 2; nothing is
written before the work is done."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import CheckpointOpt, DeviceOpt, fail

ChangesOpt = Annotated[str | None, typer.Option(
    "--changes", help="A chord chart (text; README: Play a tune): play over its form, chorus after chorus.",
    show_default=False)]
TuneBpmOpt = Annotated[float | None, typer.Option(
    "--bpm", help="Tempo in beats per minute (default: the chart's, or the melody's).", show_default=False)]
ChorusesOpt = Annotated[int | None, typer.Option(
    "--choruses", help="Choruses of the form (with --changes; default 2).", show_default=False)]
ChartWeightOpt = Annotated[float | None, typer.Option(
    "--chart-weight", help="Weight of the chart prior 0..8 (the chord at each onset; default: the preset's).",
    show_default=False)]


def generate_over_form(out: str, changes: str | None, prompt: str | None, bpm: float | None, choruses: int | None,
                       controls: Any, checkpoint: str | None, device: str, seed: int = 0) -> str:
    """`tatumflow generate --changes`: checks, generates, writes; returns the line to print. Raises ValueError."""
    from rich.progress import Progress

    from tatumflow.generate.load import load_generator
    from tatumflow.generate.window import Window
    from tatumflow.notes import read_midi
    from tatumflow.tunes.chart import read_chart
    from tatumflow.tunes.midi import write_performance
    from tatumflow.tunes.perform import perform, place

    if not changes:
        raise ValueError("--bpm and --choruses go with --changes (a chord chart)")
    chart = read_chart(changes)
    tempo = chart.bpm if bpm is None else bpm
    count = 2 if choruses is None else choruses
    place(chart.form, tempo, count)  # the length's bounds, before any work
    Window(seed=seed)  # the seed checked before anything loads
    prompt_notes = read_midi(prompt) if prompt else []
    gen = load_generator(checkpoint, device)
    with Progress(transient=True) as progress:
        task = progress.add_task("generating", total=None)
        perf = perform(gen, chart.form, tempo, count, controls, prompt_notes, seed=seed,
                       on_window=lambda done, total: progress.update(task, completed=done, total=total))
    assert perf.changes is not None
    write_performance(out, {"prompt": prompt_notes, "tatumflow": perf.notes}, perf.changes, bool(prompt_notes))
    bars = len(perf.changes.bar_lines())
    choruses_text = f"{count} chorus{'es' if count > 1 else ''}"
    return (f"wrote {out}: {chart.title or Path(changes).name}, {choruses_text} of {len(chart.form.bars)} bars at "
            f"{tempo:g} bpm ({bars} bar markers), {len(perf.notes)} notes")


def restyle(
    melody: Annotated[str, typer.Argument(help="The melody: a MIDI file or a MusicXML lead sheet.",
                                          show_default=False)],
    out: Annotated[str, typer.Option("--out", help="Output MIDI file (tracks melody and tatumflow).")],
    changes: ChangesOpt = None,
    bpm: TuneBpmOpt = None,
    preset: Annotated[str, typer.Option("--preset", help="Preset name or .toml path.")] = "tatum",
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    chart_weight: ChartWeightOpt = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Play a melody in Art Tatum's manner: the melody stays the top voice at its times, the model plays the
    voicings, fills, runs and stride around it (over the lead sheet's chords or --changes)."""
    from tatumflow.paths import check_input_file, check_output_file

    try:
        check_output_file(out, "--out")
        check_input_file(melody, "melody file")
        if changes:
            check_input_file(changes, "--changes chart")
        message = _restyle(melody, out, changes, bpm, preset, seed, chart_weight, checkpoint, device)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    typer.echo(message)


def _restyle(melody_path: str, out: str, changes: str | None, bpm: float | None, preset: str, seed: int | None,
             chart_weight: float | None, checkpoint: str | None, device: str) -> str:
    from tatumflow.generate.load import load_generator
    from tatumflow.generate.window import Window
    from tatumflow.notes import Note, write_midi
    from tatumflow.presets import controls_from
    from tatumflow.timing.form import Changes
    from tatumflow.tunes.chart import read_chart
    from tatumflow.tunes.leadsheet import read_melody
    from tatumflow.tunes.midi import write_performance
    from tatumflow.tunes.restyle import choruses_to_cover, restyle

    controls = controls_from(preset, chart_weight=chart_weight)
    Window(seed=seed or 0)  # the seed checked before anything loads
    tune = read_melody(melody_path)
    form = read_chart(changes).form if changes else tune.form
    if bpm is not None:
        tune = tune.at_tempo(bpm)
    placed = None
    if form is not None:
        placed = Changes(form, tune.bpm, tune.start_s)
        placed = Changes(form, tune.bpm, tune.start_s, choruses_to_cover(placed, max(n.end_s for n in tune.notes)))
    gen = load_generator(checkpoint, device)
    perf = restyle(gen, tune.notes, controls, placed, seed=seed or 0)
    tracks: dict[str, Sequence[Note]] = {"melody": perf.melody, "tatumflow": perf.notes}
    if perf.changes is not None:
        until = max(n.end_s for notes in tracks.values() for n in notes)  # the melody may end before the chart
        write_performance(out, tracks, perf.changes, after_prompt=False, until_s=until)
    else:
        write_midi(out, tracks, tempo_bpm=tune.bpm * 4 / tune.beat_unit)
    chords = "no chords" if form is None else f"{len(form.bars)}-bar form"
    return f"wrote {out}: {len(perf.melody)} melody notes, {len(perf.notes)} TatumFlow notes ({chords})"
