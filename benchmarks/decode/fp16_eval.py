"""Do fp16 weights change what the model plays? The eval's measures, fp32 against fp16 weights, beside seed noise.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/decode/fp16_eval.py --data ../shared/data/pijama [--seeds 4]

With fp16 weights the native step's distributions match fp32's (max KL per head ~1e-7 nats, `tatumflow bench`'s
fp16_quality), but a sampled note differs now and then, and from there the continuation takes another path: the
notes are not the same, so "the same music" can only mean the same measures within their noise. Here, on the
tuning split (Art Tatum's held-out recordings the project may look at, tune/splits.py; the report split is not
read), every prompt (20 s every 30 s, kong transcriptions) is continued for 15 s with the `tatum` preset:

- `fp32`: fp32 weights, the prompt's seeds 0..S-1 (`eval.prompts.pair_seed`);
- `fp16`: fp16 weights, the same seeds;
- `fp32_other`: fp32 weights, seeds S..2S-1: how far the measures move by chance alone.

Each measure (`continuation_metrics` and the texture measures, as `tatumflow eval` computes them) is averaged per
recording; the differences fp16 - fp32 and fp32_other - fp32 get a 95 % interval by resampling recordings
(cluster bootstrap). fp16 plays the same music if its difference is of the size of the seed difference.
Writes fp16_eval.json and fp16_eval.md beside this file (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from tatumflow.bench.common import environment
from tatumflow.eval.evaluate import _measured
from tatumflow.eval.metrics import continuation_metrics
from tatumflow.eval.prompts import pair_seed, prompt_splits
from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.window import Window
from tatumflow.model.checkpoint import default_checkpoint_dir, load_checkpoint
from tatumflow.notes import read_midi
from tatumflow.presets import load_preset
from tatumflow.stamp import STAMP, stamp
from tatumflow.tune.splits import pijama_recordings, tatum_split

HERE = Path(__file__).parent
MEASURES = ("pitch_class_kl", "pctm_cosine", "notes_per_onset", "chord_share", "voicing_width", "duration_mean_s",
            "velocity_std", "tempo_regularity", "density", "run_share", "repeated_top_note", "pitch_class_entropy",
            "grammar_errors")


def continuations(data: str, seeds: int) -> tuple[dict[str, dict[str, list[dict[str, float]]]], int]:
    """{system: {recording: [measures of each continuation]}}, and the number of prompts."""
    ckpt = load_checkpoint(default_checkpoint_dir(), "cpu")
    gens = {w: ChunkedGenerator(TransformerBackend(ckpt.model, ckpt.tokenizer, ckpt.styles, "cpu", weights=w))
            for w in ("fp32", "fp16")}
    assert gens["fp16"].backend.weights == "fp16", "no fp16 decode path on this machine"
    controls = load_preset("tatum").controls
    grid = ckpt.tokenizer.config.grid_s
    _, tuning = tatum_split(pijama_recordings(data))
    out: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    prompts = 0
    for rec in tuning:
        for split in prompt_splits(read_midi(rec.files[0]), 20.0, 15.0, grid, 30.0):
            prompts += 1
            for system, weights, offset in (("fp32", "fp32", 0), ("fp16", "fp16", 0), ("fp32_other", "fp32", seeds)):
                for s in range(seeds):
                    frame = Window(seed=pair_seed(split.prompt, s + offset))
                    notes = continue_notes(gens[weights], split.prompt, 15.0, controls, frame)
                    measures = continuation_metrics(notes, split.real, split.start_s, 15.0)
                    measures |= _measured(notes, split.start_s + 15.0, grid)[0]
                    out[system][rec.key].append(measures)
    return out, prompts


def per_recording(runs: dict[str, list[dict[str, float]]], key: str) -> dict[str, float]:
    return {rec: float(np.nanmean([m.get(key, math.nan) for m in ms])) for rec, ms in runs.items()}


def difference(a: dict[str, float], b: dict[str, float], rng: np.random.Generator, n: int = 2000) -> dict:
    """Mean over recordings of a - b, with a cluster-bootstrap 95 % interval (recordings resampled)."""
    recs = sorted(a)
    d = np.array([a[r] - b[r] for r in recs])
    boots = [float(np.mean(d[rng.integers(0, len(d), len(d))])) for _ in range(n)]
    ci = [round(float(np.percentile(boots, q)), 5) for q in (2.5, 97.5)]
    return {"mean": round(float(np.mean(d)), 5), "ci95": ci}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the PiJAMA root")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs, prompts = continuations(args.data, args.seeds)
    rng = np.random.default_rng(0)
    table = {}
    for key in MEASURES:
        means = {s: per_recording(runs[s], key) for s in runs}
        table[key] = {"fp32": round(float(np.mean(list(means["fp32"].values()))), 5),
                      "fp16": round(float(np.mean(list(means["fp16"].values()))), 5),
                      "fp16_minus_fp32": difference(means["fp16"], means["fp32"], rng),
                      "other_seeds_minus_fp32": difference(means["fp32_other"], means["fp32"], rng)}
    env = environment(torch.device("cpu"), 1)
    result = {"environment": env, "checkpoint": "embedded default", STAMP: stamp(env["git_commit"] or "unknown"),
              "recordings": len(runs["fp32"]), "prompts": prompts, "seeds": args.seeds, "preset": "tatum",
              "measures": table}
    out = Path(args.out)
    (out / "fp16_eval.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# fp16 against fp32 weights: the eval's measures ({prompts} prompts of the tuning split, "
             f"{len(runs['fp32'])} recordings, {args.seeds} seeds each)", "",
             "| measure | fp32 | fp16 | fp16 - fp32 (95 % CI) | other seeds - fp32 (95 % CI) |",
             "| --- | --- | --- | --- | --- |"]
    for key, v in table.items():
        a, b = v["fp16_minus_fp32"], v["other_seeds_minus_fp32"]
        lines.append(f"| {key} | {v['fp32']:.4g} | {v['fp16']:.4g} | {a['mean']:+.4g} [{a['ci95'][0]:+.3g}, "
                     f"{a['ci95'][1]:+.3g}] | {b['mean']:+.4g} [{b['ci95'][0]:+.3g}, {b['ci95'][1]:+.3g}] |")
    (out / "fp16_eval.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
