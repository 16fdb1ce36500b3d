"""Rendered samples to listen to: held-out Art Tatum prompts, TatumFlow's continuation and what Tatum really played.

For each of the first `--count` recordings of `--data` (the report split: recordings no model trained or was tuned
on), the prompt is the `--nth` 20 s window of the evaluation's grid (a prompt every 30 s from the first onset, the
same splits `tatumflow eval --prompts-every 30` scores: no choosing of good ones), and the continuation is 15 s
with the default preset and the eval's first seed of that prompt (`pair_seed(prompt, 0)`). Writes, per sample:

- `NAME.mid`: tracks `prompt`, `tatumflow` and `real` (the real continuation, on its own track for comparison);
- `NAME-tatumflow.ogg`: the prompt followed by TatumFlow's continuation, rendered by FluidSynth (Ogg Vorbis);
- `NAME-real.ogg`: the prompt followed by what Tatum played;
- `NAME.png`: both piano rolls, one above the other, the continuation's start marked.

    OMP_NUM_THREADS=1 python benchmarks/eval/samples/make_samples.py --data /work/runs/report/kong \
        --out benchmarks/eval/samples [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile
import torch

from tatumflow.eval.metrics import grammar_errors
from tatumflow.eval.prompts import pair_seed, prompt_splits, recording_of
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import Note, find_midi_files, read_midi, write_midi
from tatumflow.plots import COLORS, draw_notes, pyplot
from tatumflow.presets import DEFAULT_PRESET, controls_from
from tatumflow.realtime.ports.synth import render_tracks

PROMPT_S, CONTINUE_S, EVERY_S = 20.0, 15.0, 30.0
GAIN = 5.0  # the synth's renders peak near -17 dBFS; one fixed gain for every file keeps their dynamics comparable


def shifted(notes: list[Note], t0: float) -> list[Note]:
    """The notes with time 0 at `t0` (the prompt's start), so that each sample starts at once."""
    return [replace(n, onset_s=n.onset_s - t0) for n in notes]


def to_ogg(tracks: dict[str, list[Note]], path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = render_tracks(tracks, Path(tmp) / "x.wav")
        audio, rate = soundfile.read(wav)
        audio = np.clip(audio * GAIN, -1.0, 1.0)
        soundfile.write(path, audio, rate, format="OGG", subtype="VORBIS", compression_level=0.75)


def piano_rolls(prompt: list[Note], ours: list[Note], real: list[Note], start_s: float, title: str,
                path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(12, 6.5), dpi=100, sharex=True, sharey=True)
    every = prompt + ours + real
    for ax, (name, cont) in zip(axes, (("TatumFlow", ours), ("Art Tatum (real)", real))):
        draw_notes(ax, prompt, COLORS["human"])
        draw_notes(ax, cont, COLORS["tatumflow"] if cont is ours else "C2")
        ax.axvline(start_s, color="k", lw=0.8, ls="--")
        ax.set_ylim(min(n.pitch for n in every) - 2, max(n.pitch for n in every) + 2)
        ax.set_ylabel("MIDI pitch")
        ax.set_title(f"prompt (blue), then {name}", fontsize=10, loc="left")
        ax.grid(alpha=0.2)
    axes[1].set_xlim(0, start_s + CONTINUE_S + 0.5)
    axes[1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder of held-out recordings (one transcription of each)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", help="default: the embedded default model")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--nth", type=int, default=2, help="which prompt of each recording (0 = its opening)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = load_generator(args.checkpoint, "cpu")
    controls = controls_from(DEFAULT_PRESET)
    made = []
    for path in find_midi_files([args.data])[: args.count]:
        splits = prompt_splits(read_midi(path), PROMPT_S, CONTINUE_S, 0.01, EVERY_S)
        if len(splits) <= args.nth:
            raise SystemExit(f"{path.name}: only {len(splits)} prompts, --nth {args.nth} asked")
        split = splits[args.nth]
        seed = pair_seed(split.prompt, 0)  # the eval's first continuation of this prompt
        ours = continue_notes(gen, split.prompt, CONTINUE_S, controls, Window(seed=seed))
        errors = sum(grammar_errors(ours, split.start_s, split.start_s + CONTINUE_S).values())
        t0 = split.prompt_start_s
        prompt, ours_, real = (shifted(x, t0) for x in (split.prompt, ours, split.real))
        title = recording_of(path).split("/")[-1]
        name = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        write_midi(out / f"{name}.mid", {"prompt": prompt, "tatumflow": ours_, "real": real})
        to_ogg({"prompt": prompt, "tatumflow": ours_}, out / f"{name}-tatumflow.ogg")
        to_ogg({"prompt": prompt, "real": real}, out / f"{name}-real.ogg")
        piano_rolls(prompt, ours_, real, split.start_s - t0,
                    f"{title}: prompt {t0:.0f}-{t0 + PROMPT_S:.0f} s, then 15 s", out / f"{name}.png")
        made.append({"name": name, "recording": recording_of(path), "prompt_start_s": round(t0, 2),
                     "continuation_start_s": round(split.start_s, 2), "seed": seed, "notes_tatumflow": len(ours),
                     "notes_real": len(split.real), "grammar_errors": errors})
        print(made[-1], flush=True)
    meta = {"checkpoint": args.checkpoint or "embedded default", "preset": DEFAULT_PRESET,
            "seed": "pair_seed(prompt, 0)", "prompt_s": PROMPT_S, "continue_s": CONTINUE_S, "nth_prompt": args.nth,
            "samples": made}
    (out / "samples.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
