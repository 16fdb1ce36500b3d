"""Piano rolls as PNG (matplotlib, headless). matplotlib is an optional dependency (`pip install tatumflow[plot]`):
it is imported when a plot is drawn, and `pyplot()` raises ImportError when it is missing."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .files import atomic_path
from .notes import Note

COLORS = {"human": "#1f77b4", "tatumflow": "#ff7f0e"}


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend (ImportError when matplotlib is not installed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_notes(ax: Any, notes: Sequence[Note], color: str, alpha: float | None = None) -> None:
    """One bar per note (time x pitch, 0.8 semitones high); `alpha` None: by velocity (0.35..1)."""
    if not notes:
        return
    from matplotlib.colors import to_rgba

    colors: Any = color if alpha is not None else [to_rgba(color, 0.35 + 0.65 * n.velocity / 127) for n in notes]
    ax.barh([n.pitch for n in notes], [n.duration_s for n in notes], left=[n.onset_s for n in notes], height=0.8,
            color=colors, alpha=alpha, linewidth=0)


def plot_piano_roll(tracks: Mapping[str, Sequence[Note]], path: str | os.PathLike, title: str = "TatumFlow") -> Path:
    """A session as one panel, a colour per track (human blue, TatumFlow orange), alpha by velocity; written as a
    PNG, whole or not at all."""
    fig = piano_roll_figure(tracks, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        pyplot().close(fig)
    return path


def piano_roll_figure(tracks: Mapping[str, Sequence[Note]], title: str = "TatumFlow") -> Any:
    """The figure of `plot_piano_roll`; the legend sits outside the axes, right of them (it hid the highest
    notes)."""
    plt = pyplot()
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    colors = {name: COLORS.get(name, f"C{i + 2}") for i, name in enumerate(tracks)}
    for name, notes in tracks.items():
        draw_notes(ax, notes, colors[name])
    every = [n for notes in tracks.values() for n in notes]
    low, high = (min(n.pitch for n in every) - 2, max(n.pitch for n in every) + 2) if every else (48, 84)
    ax.set_xlim(0, max([1.0] + [n.end_s for n in every]) + 0.2)
    ax.set_ylim(low, high)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in colors.items()], loc="upper left",
              bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0, frameon=False)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    return fig
