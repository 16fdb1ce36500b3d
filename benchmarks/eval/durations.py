"""Where the model's notes come out short: mean durations per recording and by a note's role in its onset.

For every prompt of a split (a 20 s prompt every 30 s, 15 s continuations, the default model and preset, pair
seeds), against the real continuation: per recording, the mean duration of the prompt, the real continuation and
the model's, and their note counts; pooled, by role in its onset group (`metrics.CHORD_S`, 30 ms): a note
alone, the top and the bottom of a chord, and its inner notes: how many (per continuation: the model's divided by
the seeds), their mean duration and the share longer
than 0.54 s. Durations as played (clipped at the continuation's end), before the 10 ms snap.

    OMP_NUM_THREADS=1 python benchmarks/eval/durations.py --data /work/runs/tune --seeds 2 \
        --out benchmarks/eval/tuning/v2_150M_durations.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from tatumflow.eval.metrics import onset_groups
from tatumflow.eval.prompts import pair_seed, prompt_splits, recording_of
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import find_midi_files, read_midi
from tatumflow.presets import controls_from

ROLES = ("alone", "top", "bottom", "inner")
LONG_S = 0.54


def by_role(notes) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {r: [] for r in ROLES}
    for group in onset_groups(notes):
        group = sorted(group, key=lambda n: n.pitch)
        if len(group) == 1:
            out["alone"].append(group[0].duration_s)
            continue
        out["bottom"].append(group[0].duration_s)
        out["top"].append(group[-1].duration_s)
        out["inner"] += [n.duration_s for n in group[1:-1]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out")
    ap.add_argument("--checkpoint")
    ap.add_argument("--preset", default="tatum")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = load_generator(args.checkpoint, "cpu")
    controls = controls_from(args.preset)
    recordings: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    roles = {"real": defaultdict(list), "model": defaultdict(list)}
    for path in find_midi_files([args.data]):
        for split in prompt_splits(read_midi(path), 20.0, 15.0, 0.01, 30.0):
            rec = recordings[recording_of(path)]
            rec["prompt"].append(np.mean([n.duration_s for n in split.prompt]))
            rec["real"].append(np.mean([n.duration_s for n in split.real]))
            rec["real_notes"].append(len(split.real))
            for role, d in by_role(split.real).items():
                roles["real"][role] += d
            for seed in range(args.seeds):
                notes = continue_notes(gen, split.prompt, 15.0, controls, Window(seed=pair_seed(split.prompt, seed)))
                rec["model"].append(np.mean([n.duration_s for n in notes]))
                rec["model_notes"].append(len(notes))
                for role, d in by_role(notes).items():
                    roles["model"][role] += d
    per = {"real": 1, "model": args.seeds}
    result = {"recordings": {r: {k: float(np.mean(v)) for k, v in cols.items()} for r, cols in recordings.items()},
              "seeds": args.seeds,
              "roles": {s: {role: {"notes": len(d) // per[s], "mean_s": float(np.mean(d)), "long_share": float(np.mean(
                  np.array(d) > LONG_S))} for role, d in table.items()} for s, table in roles.items()}}
    print(f"{'recording':32} prompt   real  model  notes real/model")
    for r, v in result["recordings"].items():
        print(f"{r.split('/')[-1][:32]:32} {v['prompt']:.3f}  {v['real']:.3f}  {v['model']:.3f}  "
              f"{v['real_notes']:.0f} / {v['model_notes']:.0f}")
    print(f"{'role':8} notes real/model   mean s real/model   > {LONG_S} s real/model")
    for role in ROLES:
        a, b = result["roles"]["real"][role], result["roles"]["model"][role]
        print(f"{role:8} {a['notes']:6d} / {b['notes']:6d}   {a['mean_s']:.3f} / {b['mean_s']:.3f}"
              f"        {a['long_share']:.3f} / {b['long_share']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
