"""Note durations and counts per 2 s of the continuation, generated against real: does a system drift?

Continues every prompt of a split (a 20 s prompt every 30 s, 15 s continuations, `--seeds` seeds) and pools, per
2 s window of the continuation, the mean and median note duration and the note count, beside the real
continuations' (both clipped at the continuation's end, as `continue_notes` clips its own). `--shared-seeds` seeds
every prompt with 0, 1, ... as `tatumflow eval` did until 2026-12-03 (`eval.prompts.pair_seed` since): every
prompt's window i then draws the same uniforms, and the pooled numbers carry the noise of a few random streams
(benchmarks/eval/README.md, "Seeds").

    OMP_NUM_THREADS=1 python benchmarks/eval/seeds/by_window.py --data /work/runs/tune \
        --checkpoint benchmarks/training/v2/stable --set harmony_weight=0 --set meter_weight=0 \
        --set repeat_penalty=0 --set top_p=1 --seeds 3 --max-prompts 2 [--shared-seeds] --json out.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from tatumflow.eval.prompts import pair_seed, prompt_splits
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import find_midi_files, read_midi
from tatumflow.presets import controls_from

WINDOW_S, PROMPT_S, CONTINUE_S, EVERY_S = 2.0, 20.0, 15.0, 30.0


def pooled(by_window: dict[int, list[float]]) -> list[dict]:
    return [{"window": k, "notes": len(v), "mean_s": round(float(np.mean(v)), 3),
             "median_s": round(float(np.median(v)), 3)} for k, v in sorted(by_window.items())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint")
    ap.add_argument("--preset", default="tatum")
    ap.add_argument("--set", action="append", default=[], help="a control override, name=value (floats)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--max-prompts", type=int, default=1000, help="the first N prompts of each file")
    ap.add_argument("--shared-seeds", action="store_true", help="every prompt seeded 0, 1, ... (the old eval)")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    controls = controls_from(args.preset, **overrides)
    gen = load_generator(args.checkpoint, "cpu")
    generated: dict[int, list[float]] = {}
    real: dict[int, list[float]] = {}
    for path in find_midi_files([args.data]):
        for split in prompt_splits(read_midi(path), PROMPT_S, CONTINUE_S, 0.01, EVERY_S)[: args.max_prompts]:
            for s in range(args.seeds):
                seed = s if args.shared_seeds else pair_seed(split.prompt, s)
                notes = continue_notes(gen, split.prompt, CONTINUE_S, controls, Window(seed=seed))
                for n in notes:
                    generated.setdefault(int((n.onset_s - split.start_s) // WINDOW_S), []).append(n.duration_s)
            end = split.start_s + CONTINUE_S  # the real notes clipped there too, as the continuations are
            for n in split.real:
                real.setdefault(int((n.onset_s - split.start_s) // WINDOW_S), []).append(min(n.duration_s,
                                                                                             end - n.onset_s))
    result = {"checkpoint": args.checkpoint or "embedded default", "preset": args.preset, "overrides": overrides,
              "seeds": args.seeds, "shared_seeds": args.shared_seeds, "max_prompts": args.max_prompts,
              "generated": pooled(generated), "real": pooled(real),
              "generated_mean_s": round(float(np.mean([d for v in generated.values() for d in v])), 3),
              "real_mean_s": round(float(np.mean([d for v in real.values() for d in v])), 3)}
    for key in ("generated", "real"):
        print(key, " ".join(f"{w['mean_s']:.3f}" for w in result[key]), f"(all {result[key + '_mean_s']:.3f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
