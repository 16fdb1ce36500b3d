"""The terminal view of a training run: a progress bar with the loss and the latest validation line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def training_progress(total: int) -> Iterator[Callable[[dict], None]]:
    """A rich progress bar to `total` steps; yields the `on_step` callback for `loop.train`."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeRemainingColumn()) as progress:
        task = progress.add_task("training", total=total, info="")
        last_val = ""  # the latest validation line, shown until the next

        def on_step(r: dict) -> None:
            nonlocal last_val
            if "val_loss" in r:
                last_val = f" val {r['val_loss']:.3f} | {r['notes_per_s']:.0f} notes/s"
            progress.update(task, completed=r["step"], info=f"loss {r['loss']:.3f}{last_val}")

        yield on_step
