"""The view of a training run: a progress bar on a terminal, plain timestamped lines in a log file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

LOG_EVERY_S = 60.0  # a plain line at least this often (and at every validation) when the output is not a terminal


@contextmanager
def training_progress(total: int, stream: TextIO | None = None) -> Iterator[Callable[[dict], None]]:
    """Yields the `on_step` callback for `loop.train`: a rich progress bar to `total` steps on a terminal; where
    the output is redirected (a background run under nohup), a line a minute and one per validation instead, so
    that the log shows how the run goes while it runs."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield log_lines(total, stream)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeRemainingColumn()) as progress:
        task = progress.add_task("training", total=total, info="")
        last_val = ""  # the latest validation line, shown until the next

        def on_step(r: dict) -> None:
            nonlocal last_val
            if "val_loss" in r:
                last_val = f" {_val_text(r)}"
            progress.update(task, completed=r["step"], info=f"loss {r['loss']:.3f}{last_val}")

        yield on_step


def log_lines(total: int, stream: TextIO, every_s: float = LOG_EVERY_S,
              clock: Callable[[], float] = time.monotonic) -> Callable[[dict], None]:
    """The `on_step` callback that writes plain lines: `every_s` apart, and at every validation step."""
    last = clock() - every_s  # the first step gets a line

    def on_step(r: dict) -> None:
        nonlocal last
        now = clock()
        if "val_loss" not in r and now - last < every_s:
            return
        last = now
        line = f"{time.strftime('%H:%M:%S')} step {r['step']}/{total} loss {r['loss']:.3f}"
        if "notes_seen" in r:
            line += f" | {r['notes_seen'] / 1e6:.2f} M notes seen"
        if "val_loss" in r:
            line += f" | {_val_text(r)}"
        print(line, file=stream, flush=True)

    return on_step


def _val_text(r: dict) -> str:
    focus = f" (focus style {r['val_loss_focus']:.3f})" if "val_loss_focus" in r else ""
    return f"val {r['val_loss']:.3f}{focus} | {r['notes_per_s']:.0f} notes/s"
