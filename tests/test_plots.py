"""The demo's piano roll: its legend covers no note."""

import pytest

from tatumflow.notes import Note

pytest.importorskip("matplotlib")


def test_the_legend_is_outside_the_notes(tmp_path):
    from tatumflow.plots import piano_roll_figure, plot_piano_roll, pyplot

    tracks = {"human": [Note(0.1 * i, 0.3, 60 + i, 90) for i in range(20)],
              "tatumflow": [Note(2.0 + 0.1 * i, 0.3, 100 - i % 5, 90) for i in range(30)]}
    fig = piano_roll_figure(tracks)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, plot = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert not legend.overlaps(plot), (legend, plot)
    assert fig.get_window_extent().contains(legend.x1 - 1, legend.y1 - 1)  # and it is not cut off
    pyplot().close(fig)
    assert plot_piano_roll(tracks, tmp_path / "roll.png").stat().st_size > 1000
