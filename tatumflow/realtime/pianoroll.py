"""A piano-roll PNG of a session (matplotlib, headless)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..notes import Note

COLORS = {"human": "#1f77b4", "tatumflow": "#ff7f0e"}


def plot_piano_roll(tracks: dict[str, Sequence[Note]], path: str | os.PathLike, title: str = "TatumFlow") -> Path:
    """One rectangle per note (time x pitch, alpha by velocity), a colour per track."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    pitches, end = [], 1.0
    for i, (name, notes) in enumerate(tracks.items()):
        color = COLORS.get(name, f"C{i + 2}")
        for n in notes:
            ax.add_patch(Rectangle((n.onset_s, n.pitch - 0.4), n.duration_s, 0.8, color=color,
                                   alpha=0.35 + 0.65 * n.velocity / 127, linewidth=0))
            pitches.append(n.pitch)
            end = max(end, n.end_s)
    low, high = (min(pitches) - 2, max(pitches) + 2) if pitches else (48, 84)
    ax.set_xlim(0, end + 0.2)
    ax.set_ylim(low, high)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=COLORS.get(k, f"C{i + 2}"), label=k) for i, k in enumerate(tracks)], loc="upper right")
    ax.grid(alpha=0.2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
