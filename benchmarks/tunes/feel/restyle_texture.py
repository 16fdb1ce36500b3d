"""Restyle's texture with the chart feel, with the feel but the velocity head as it is (RESTYLE_FEEL, the default),
and without the feel: the two restyle melodies (Old Folks at Home, Humoresque over its chart), seeds 0-2, the
melody and the model's notes together cut into 15 s excerpts as eval.charts measures performances; written to
restyle-texture.json beside this file. Run from the repository root:
    OMP_NUM_THREADS=1 python benchmarks/tunes/feel/restyle_texture.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from tatumflow.eval.charts import excerpt_textures, mean_texture
from tatumflow.generate.load import load_generator
from tatumflow.presets import DEFAULT_PRESET, controls_from
from tatumflow.stamp import stamp
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import read_chart
from tatumflow.tunes.feel import ChartFeel
from tatumflow.tunes.leadsheet import read_melody
from tatumflow.tunes.perform import CHART_FEEL
from tatumflow.tunes.restyle import RESTYLE_FEEL, choruses_to_cover, restyle

TUNES = Path(__file__).resolve().parents[1]
CHARTS = TUNES.parents[1] / "tatumflow" / "tunes" / "charts"
MELODIES = (("old-folks-at-home.musicxml", None), ("humoresque.mid", "humoresque"))


def excerpts(gen, feel: ChartFeel) -> list[dict]:
    out = []
    for melody_file, chart_file in MELODIES:
        tune = read_melody(TUNES / "melodies" / melody_file)
        form = read_chart(CHARTS / f"{chart_file}.txt").form if chart_file else tune.form
        assert form is not None
        placed = Changes(form, tune.bpm, tune.start_s)
        placed = replace(placed, choruses=choruses_to_cover(placed, max(n.end_s for n in tune.notes)))
        for seed in (0, 1, 2):
            perf = restyle(gen, tune.notes, controls_from(DEFAULT_PRESET), placed, seed=seed, feel=feel)
            notes = sorted(perf.notes + perf.melody, key=lambda n: (n.onset_s, n.pitch))
            out += excerpt_textures(notes, notes[0].onset_s, max(n.end_s for n in notes))
    return out


def main() -> None:
    torch.set_num_threads(1)
    gen = load_generator(None, "cpu")
    feels = (("restyle_feel", RESTYLE_FEEL), ("chart_feel", CHART_FEEL), ("no_feel", ChartFeel.off()))
    result: dict = {}
    for name, feel in feels:
        ex = excerpts(gen, feel)
        result[name] = {"excerpts": len(ex), **mean_texture(ex)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"what": "restyle texture: RESTYLE_FEEL (default), CHART_FEEL, no feel", "checkpoint": "embedded default",
           "checkpoint_stamp": stamp(commit), "seeds": [0, 1, 2], "machine": "2-core AMD EPYC, one torch thread",
           **result}
    Path(__file__).with_name("restyle-texture.json").write_text(json.dumps(out, indent=1) + "\n")
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
