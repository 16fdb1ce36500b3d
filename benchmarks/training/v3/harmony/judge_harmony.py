"""How closely the network follows the harmony that really came, on the rounds' held-out prompts (the tuning
split, as `tatumflow tune` judges a round), for several checkpoints with the same seeds: each continuation's
pitch-class KL and PCTM cosine against Tatum's real one (`tune.heldout.harmony_measures`), the same network
without its style token beside it, means over prompts and seeds with a 90 % cluster-bootstrap interval over
recordings of the Tatum-minus-no-style margin. The network alone (as the rounds sample it), or with `--preset`
as the engine plays it (`tune.heldout.through_preset`: the `tatum` preset's priors, in windows).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/training/v3/harmony/judge_harmony.py --data /work/shared/data/pijama \
        --seeds 8 --json out.json NAME=CHECKPOINT ...   (CHECKPOINT `default`: the embedded model)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch

from tatumflow.model.checkpoint import load_checkpoint
from tatumflow.tune.config import TuneConfig, base_path
from tatumflow.tune.heldout import harmony_measures, sample_prompts, through_preset
from tatumflow.tune.rounds import heldout_prompts
from tatumflow.tune.sampler import sample_config
from tatumflow.tune.splits import pijama_recordings, tatum_split

RESAMPLES, LEVEL = 2000, 0.90


def heldout(data: str, cfg: TuneConfig, grid_s: float):
    """The held-out prompts exactly as a run with `cfg` picks them (rounds.heldout_prompts)."""
    return heldout_prompts(tatum_split(pijama_recordings(data))[1], cfg, grid_s)


def measure(path: str, prompts, seeds: int, seed: int) -> dict[str, np.ndarray]:
    ckpt = load_checkpoint(base_path(path))
    scfg = sample_config(ckpt.model.cfg.context_steps, 15.0)
    out = {}
    for style in ("Art Tatum", "none"):
        samples, _ = sample_prompts(ckpt.model, ckpt.tokenizer, ckpt.styles.index(style), prompts, seeds, scfg, seed)
        out[style] = np.array([[harmony_measures(p.real, n) for n in lanes]
                               for p, lanes in zip(samples.prompts, samples.generated)])  # [prompts, seeds, 2]
    return out


def measure_preset(path: str, prompts, seeds: int) -> dict[str, np.ndarray]:
    """As `measure`, through the `tatum` preset: [prompts, 1, 2] (each prompt's means over its seeds)."""
    ckpt = load_checkpoint(base_path(path))
    out: dict[str, list] = {"Art Tatum": [], "none": []}
    for p in prompts:
        m = through_preset(ckpt, [p], 15.0, seeds, None)
        for style, name in (("Art Tatum", "preset"), ("none", "preset_no_style")):
            out[style].append([[-m[f"{name}_pitch_class_kl"], m[f"{name}_pctm_cosine"]]])
    return {k: np.array(v) for k, v in out.items()}


def interval(per_prompt: np.ndarray, recordings: list[str], rng: np.random.Generator) -> list[float]:
    keys = sorted(set(recordings))
    rows = {k: [i for i, r in enumerate(recordings) if r == k] for k in keys}
    means = []
    for _ in range(RESAMPLES):
        pick = [i for k in rng.choice(keys, size=len(keys)) for i in rows[k]]
        means.append(per_prompt[pick].mean())
    return [float(np.quantile(means, (1 - LEVEL) / 2)), float(np.quantile(means, (1 + LEVEL) / 2))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=104_729)
    ap.add_argument("--every", type=float, default=15.0)
    ap.add_argument("--json")
    ap.add_argument("--preset", action="store_true", help="through the tatum preset (the engine's path)")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = replace(TuneConfig(), heldout_prompts=32, prompts_every_s=args.every)
    prompts = heldout(args.data, cfg, 0.01)
    recordings = [p.recording for p in prompts]
    results = {}
    for item in args.models:
        name, path = item.split("=", 1)
        m = measure_preset(path, prompts, args.seeds) if args.preset else measure(path, prompts, args.seeds, args.seed)
        kl = {s: -m[s][..., 0].mean(axis=1) for s in m}  # per prompt
        pctm = {s: m[s][..., 1].mean(axis=1) for s in m}
        rng = np.random.default_rng(0)
        results[name] = {
            "checkpoint": path, "path": "preset tatum" if args.preset else "network alone", "prompts": len(prompts),
            "seeds": args.seeds,
            "pitch_class_kl": float(kl["Art Tatum"].mean()), "pitch_class_kl_no_style": float(kl["none"].mean()),
            "pctm_cosine": float(pctm["Art Tatum"].mean()), "pctm_cosine_no_style": float(pctm["none"].mean()),
            "kl_margin_interval": interval(kl["none"] - kl["Art Tatum"], recordings, rng),
            "pctm_margin_interval": interval(pctm["Art Tatum"] - pctm["none"], recordings, rng),
        }
        print(name, json.dumps(results[name]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
