"""Listening samples of the tune commands (GM soundfont through FluidSynth, Ogg Vorbis, and a piano roll):

- `old-folks-at-home-restyle`: `tatumflow restyle` of the MusicXML lead sheet (melody + chord symbols);
- `humoresque-restyle`: `tatumflow restyle` of the MIDI melody with `--changes` humoresque.txt;
- `tea-for-two-2-choruses`: `tatumflow generate --changes tea-for-two.txt --choruses 2`.

All with the default preset and seed 0, the first take (none chosen). Each writes NAME.mid (the CLI's file, bar
markers included), NAME.ogg and NAME.png (melody blue, TatumFlow orange, bar lines grey).

    OMP_NUM_THREADS=1 python benchmarks/tunes/samples/make_samples.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch

from tatumflow.notes import Note, read_midi_tracks
from tatumflow.plots import COLORS, draw_notes, pyplot
from tatumflow.realtime.ports.synth import render_tracks
from tatumflow.tunes.chart import read_chart
from tatumflow.tunes.leadsheet import read_melody
from tatumflow.tunes.measure import melody_kept
from tatumflow.tunes.perform import form_start_s

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CHARTS = ROOT / "tatumflow" / "tunes" / "charts"
MELODIES = ROOT / "benchmarks" / "tunes" / "melodies"
GAIN = 5.0  # as benchmarks/eval/samples: one fixed gain
SAMPLES = {
    "old-folks-at-home-restyle": ["restyle", str(MELODIES / "old-folks-at-home.musicxml")],
    "humoresque-restyle": ["restyle", str(MELODIES / "humoresque.mid"), "--changes", str(CHARTS / "humoresque.txt")],
    "tea-for-two-2-choruses": ["generate", "--changes", str(CHARTS / "tea-for-two.txt"), "--choruses", "2"],
}


def to_ogg(tracks: dict[str, list[Note]], path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = render_tracks(tracks, Path(tmp) / "x.wav")
        audio, rate = soundfile.read(wav)
        audio = np.clip(audio * GAIN, -1.0, 1.0)
        # in blocks: libsndfile's Vorbis encoder crashed (SIGSEGV) on a whole minute written at once
        with soundfile.SoundFile(path, "w", rate, audio.shape[1], format="OGG", subtype="VORBIS") as f:
            for i in range(0, len(audio), rate):
                f.write(audio[i : i + rate])


def piano_roll(tracks: dict[str, list[Note]], bar_lines: list[float], title: str, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(14, 5), dpi=100)
    for t in bar_lines:
        ax.axvline(t, color="0.8", lw=0.6, zorder=0)
    for name, notes in tracks.items():
        draw_notes(ax, notes, COLORS["human"] if name in ("melody", "prompt") else COLORS["tatumflow"])
    every = [n for notes in tracks.values() for n in notes]
    ax.set_xlim(0, max(n.end_s for n in every) + 0.2)
    ax.set_ylim(min(n.pitch for n in every) - 2, max(n.pitch for n in every) + 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    from typer.testing import CliRunner

    from tatumflow.cli import app

    torch.set_num_threads(1)
    made = []
    for name, args in SAMPLES.items():
        mid = HERE / f"{name}.mid"
        result = CliRunner().invoke(app, [*args, "--out", str(mid), "--device", "cpu", "--seed", "0"])
        if result.exit_code:
            sys.exit(f"{name}: {result.output}")
        tracks = {k: v for k, v in read_midi_tracks(mid).items() if v}
        chart = read_chart(args[args.index("--changes") + 1]) if "--changes" in args else None
        if chart is not None:
            bar_s = chart.form.beats_per_bar * 60.0 / chart.bpm
        else:
            tune = read_melody(args[1])
            bar_s = tune.beats_per_bar * 60.0 / tune.bpm
        end = max(n.end_s for notes in tracks.values() for n in notes)
        start = form_start_s([], chart.form, chart.bpm) if chart and args[0] == "generate" else 0.0
        bars = list(np.arange(start, end, bar_s))
        entry = {"name": name, "command": "tatumflow " + " ".join(a.replace(str(ROOT) + "/", "") for a in args),
                 "output": result.output.strip().replace(str(ROOT) + "/", "")}
        to_ogg(tracks, HERE / f"{name}.ogg")
        piano_roll(tracks, bars, entry["output"].split(": ", 1)[1], HERE / f"{name}.png")
        if "melody" in tracks:
            entry["melody_kept"] = melody_kept(tracks["melody"], tracks["melody"] + tracks["tatumflow"])
        made.append(entry)
        print(entry, flush=True)
    (HERE / "samples.json").write_text(json.dumps({"preset": "tatum", "seed": 0, "samples": made}, indent=1) + "\n")


if __name__ == "__main__":
    main()
