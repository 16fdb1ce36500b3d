"""The harmony prior's weight against the continuation metrics, the model alone (no baselines): how the preset's
0.5 was chosen, on held-out recordings of other pianists (make_val_set.py --other-pianists), each continued in its
own pianist's style.

    .venv/bin/python benchmarks/eval/harmony_sweep.py --data /tmp/tune_val --weights 0 0.3 0.5 0.8 --seeds 2 \
        --json benchmarks/eval/harmony/sweep_tune.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tatumflow.eval.evaluate import EvalConfig, find_midi_files, split_prompt
from tatumflow.eval.metrics import continuation_metrics
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import read_midi
from tatumflow.presets import controls_from

KEYS = ("pitch_class_kl", "pctm_cosine", "pctm_cosine_onset", "density_ratio", "voicing_ratio", "grammar_errors")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.8])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--preset", default="tatum")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = EvalConfig(seeds=args.seeds)
    styles_file = args.data / "styles.json"
    styles = json.loads(styles_file.read_text()) if styles_file.is_file() else {}
    gen = load_generator(args.checkpoint, "cpu")
    base = controls_from(args.preset)
    pieces = []
    for path in find_midi_files([args.data]):
        split = split_prompt(read_midi(path), cfg.prompt_seconds, cfg.continue_seconds, gen.tokenizer.config.grid_s)
        if split:
            pieces.append((split, styles.get(path.name, next(iter(base.style)))))
    rows = {}
    for weight in args.weights:
        per = []
        for (prompt, real, start), style in pieces:
            for seed in range(args.seeds):
                controls = replace(base, harmony_weight=weight, style={style: 1.0})
                out = continue_notes(gen, prompt, cfg.continue_seconds, controls, Window(seed=seed))
                per.append(continuation_metrics(out, real, start, cfg.continue_seconds))
        rows[weight] = {k: float(np.nanmean([m[k] for m in per])) for k in KEYS}
        print(f"harmony {weight:g}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[weight].items()), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": str(args.data), "files": len(pieces), "seeds": args.seeds,
                                         "checkpoint": args.checkpoint or "embedded default",
                                         "weights": {str(w): r for w, r in rows.items()}}, indent=2))


if __name__ == "__main__":
    main()
