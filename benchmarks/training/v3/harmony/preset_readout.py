"""A round's preset readout (`tune.heldout.through_preset`) for checkpoints the rounds did not log it for: the
rounds' 32 held-out prompts (tuning split, a prompt every 15 s), 2 seeds each, through a preset (`tatum`, or a
.toml path), with the pianist classifier's Tatum share; one JSON line per checkpoint.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/training/v3/harmony/preset_readout.py PIJAMA_ROOT tatum \
        v2=default v8=runs/pol/v8 > out.jsonl
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from judge_harmony import heldout

from tatumflow.eval.pianist import load_pianist
from tatumflow.model.checkpoint import load_checkpoint
from tatumflow.tune.config import TuneConfig, base_path
from tatumflow.tune.heldout import through_preset

PIANIST = "benchmarks/training/v3/pianist"


def main() -> None:
    data, preset, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    torch.set_num_threads(1)
    prompts = heldout(data, replace(TuneConfig(), heldout_prompts=32, prompts_every_s=15.0), 0.01)
    clf = load_pianist(PIANIST)
    for item in models:
        name, path = item.split("=", 1)
        out = through_preset(load_checkpoint(base_path(path)), prompts, 15.0, 2, clf, preset=preset)
        print(json.dumps({"name": name, "checkpoint": path, "preset": preset, **out}), flush=True)


if __name__ == "__main__":
    main()
