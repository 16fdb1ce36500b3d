"""Tune the sampling controls against the texture measures on a tuning split (never the report split).

For every variant (a name and Controls overrides on top of a preset), continue every prompt of the tuning
recordings (a 20 s prompt every 30 s, 15 s continuations, `--seeds` seeds) and report, beside the real
continuation's values: the texture measures, pitch-class KL and PCTM against the real continuation, grammar
errors, and the real-vs-generated discriminator AUC (cross-validated by recording).

    OMP_NUM_THREADS=1 python benchmarks/eval/tune_texture.py --data /work/runs/tune \
        --out benchmarks/eval/tuning/x.json \
        --variant base --variant 'rep2:repeat_penalty=2' --variant 'vel:head_temperature=1,1,1.2,1;top_p=1' \
        --variant 'mix:style=Art Tatum@0.8+none@0.2'
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tatumflow.eval.discriminator import cross_validated_auc, feature_names, feature_vector
from tatumflow.eval.metrics import grammar_errors, pctm_cosine, pitch_class_kl
from tatumflow.eval.prompts import pair_seed, prompt_splits, recording_of
from tatumflow.eval.texture import snap_to_grid, texture_measures
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import find_midi_files, read_midi
from tatumflow.presets import controls_from


def parse_variant(text: str) -> tuple[str, dict]:
    """'name:key=value;key=v1,v2' -> (name, overrides); values are floats, tuples of floats, or ints for top_k;
    a style mix as 'style=Art Tatum@0.8+none@0.2'."""
    name, _, rest = text.partition(":")
    out: dict = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        if key == "style":
            out[key] = {s: float(w) for s, _, w in (part.rpartition("@") for part in value.split("+"))}
            continue
        parts = [float(v) for v in value.split(",")]
        out[key] = tuple(parts) if len(parts) > 1 else (int(parts[0]) if key in ("top_k", "seed") else parts[0])
    return name, out


def measure(notes, end_s):
    view = snap_to_grid(notes, 0.01, end_s)
    m = texture_measures(view)
    return m, feature_vector(view, m)


def run_variant(gen, pairs, base, overrides, seeds):
    rows, feats, groups = [], [], []
    for rec, split in pairs:
        controls = replace(base, **overrides)  # continue_notes finds the prompt's grid for the meter prior
        for seed in range(seeds):
            notes = continue_notes(gen, split.prompt, 15.0, controls, Window(seed=pair_seed(split.prompt, seed)))
            m, f = measure(notes, split.start_s + 15.0)
            m["kl"] = pitch_class_kl(split.real, notes)
            m["pctm"] = pctm_cosine(split.real, notes)
            m["grammar"] = sum(grammar_errors(notes, split.start_s, split.start_s + 15.0).values())
            rows.append(m)
            feats.append(f)
            groups.append(rec)
    return rows, feats, groups


def summary(rows):
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--preset", default="tatum")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--features", help="also save every continuation's discriminator features here (.npz: real_x, "
                    "groups, names, and per variant NAME_x, NAME_groups) for `discriminator_features.py`")
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = load_generator(args.checkpoint, "cpu")
    base = controls_from(args.preset)
    pairs = [(recording_of(p), s) for p in find_midi_files([args.data])
             for s in prompt_splits(read_midi(p), 20.0, 15.0, 0.01, args.every)]
    real_rows, real_feats = zip(*[measure(s.real, s.start_s + 15.0) for _, s in pairs])
    result = {"pairs": len(pairs), "real": summary(list(real_rows)), "variants": {}}
    saved = {"real_x": np.array(real_feats), "groups": np.array([rec for rec, _ in pairs]),
             "names": np.array(feature_names())}
    for text in args.variant or ["base"]:
        name, overrides = parse_variant(text)
        t0 = time.perf_counter()
        rows, feats, groups = run_variant(gen, pairs, base, overrides, args.seeds)
        x = np.array(list(real_feats) + feats)
        y = np.array([1] * len(real_feats) + [0] * len(feats))
        g = [rec for rec, _ in pairs] + groups
        res = summary(rows)
        res["auc"] = cross_validated_auc(x, y, g)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        result["variants"][name] = {"overrides": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in overrides.items()}, **res}
        print(name, json.dumps({k: round(v, 3) if isinstance(v, float) and math.isfinite(v) else v
                                for k, v in res.items()}), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
        if args.features:
            saved[f"{name}_x"], saved[f"{name}_groups"] = np.array(feats), np.array(groups)
            np.savez_compressed(args.features, **saved)
    print("real", json.dumps({k: round(v, 3) for k, v in result["real"].items()}))


if __name__ == "__main__":
    main()
