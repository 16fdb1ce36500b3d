"""Which model size trains best in a fixed wall time on this CPU: each size trains for `--minutes` through the real
`tatumflow train` loop (config v2, bf16 where the CPU has it, 2 threads), is stopped by SIGTERM (the loop saves
`last`), and then every size is scored on the same validation crops.

    python benchmarks/training/sizes/run.py --cache CACHE --data DIR --data DIR --minutes 6 \
        --out benchmarks/training/sizes/results.json --runs /work/runs/sizes
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

SIZES = {"d192-l4": (192, 4, 4), "d256-l4": (256, 4, 4), "d320-l4": (320, 4, 5), "d384-l4": (384, 4, 6),
         "d256-l6": (256, 6, 4), "d320-l6": (320, 6, 5)}


def config(size: str):
    from tatumflow.train.config import CONFIGS

    d, n_layers, n_heads = SIZES[size]
    return replace(CONFIGS["v2"], d_model=d, n_layers=n_layers, n_heads=n_heads, warmup=50, val_every=10**6)


def child(args: argparse.Namespace) -> None:
    from tatumflow.train.loop import train

    train([Path(d) for d in args.data], Path(args.runs) / args.size, config(args.size), device="cpu",
          cache_dir=Path(args.cache))


def score(args: argparse.Namespace, size: str) -> dict:
    """Validation loss (all held-out recordings, and Art Tatum's) of a size's `last` weights."""
    import torch

    from tatumflow.model.checkpoint import load_checkpoint
    from tatumflow.model.tokenizer import Tokenizer
    from tatumflow.train.loop import prepare_data, validation_loss
    from tatumflow.train.state import DistEnv

    torch.set_num_threads(2)
    cfg = config(size)
    setup = prepare_data([Path(d) for d in args.data], Path(args.cache), Tokenizer(), DistEnv("cpu"))
    ckpt = load_checkpoint(Path(args.runs) / size / "last")
    focus = setup.styles.index("Art Tatum")
    tatum = [i for i in setup.val_ids if setup.style_ids[i] == focus]
    metrics = [json.loads(x) for x in (Path(args.runs) / size / "metrics.jsonl").read_text().splitlines()]
    val_cfg = replace(cfg, val_batches=32)
    return {"size": size, "parameters": ckpt.model.num_parameters(), "steps": ckpt.meta["step"],
            "notes_seen": ckpt.meta["notes_seen"],
            "train_loss_last50": sum(m["loss"] for m in metrics[-50:]) / len(metrics[-50:]),
            "val_loss": validation_loss(ckpt.model, setup, setup.val_ids, val_cfg, "cpu", "fp32"),
            "val_loss_tatum": validation_loss(ckpt.model, setup, tatum, val_cfg, "cpu", "fp32")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--sizes", nargs="*", default=["d192-l4", "d256-l4", "d320-l4"])
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        args.size = args.child
        child(args)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    base = [sys.executable, __file__, "--cache", args.cache, "--runs", args.runs, "--out", args.out]
    base += sum((["--data", d] for d in args.data), [])
    for size in args.sizes:
        proc = subprocess.Popen(base + ["--child", size], env=env)
        time.sleep(60 * args.minutes)
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    results = {"minutes_each": args.minutes, "sizes": [score(args, s) for s in args.sizes]}
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
