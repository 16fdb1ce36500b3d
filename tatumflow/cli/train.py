"""`train`: the training loop on folders of MIDI or a built token cache."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import DeviceOpt, fail

TrainConfigOpt = Annotated[str, typer.Option(
    "--config", help="Training config: tiny, cpu, cpu-continue, cpu-more, v2, v2-replay, v2-decay, v2-touch, "
    "v2-touch-decay, v2-self, v2-self-decay, large, large-decay, default, gpu, specialize, focus-only.")]
PrecisionOpt = Annotated[str | None, typer.Option(
    "--precision", help="auto (bf16 where the CPU or GPU has bf16 instructions), fp32 or bf16 (default: the config's, "
    "auto).", show_default=False)]


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
