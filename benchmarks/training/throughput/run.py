"""Training throughput of `tatumflow train` (the real loop: batching, augmentation, loss, AdamW) per model size,
precision and thread count, plus the live budget of each size (22-note window on one thread, random weights).

    python benchmarks/training/throughput/run.py --cache /work/runs/cache --data DIR --data DIR \
        --out benchmarks/training/throughput/results.json

Each case runs in its own process (thread counts cannot change inside one), trains `--warmup + --steps` steps on
the corpus's token cache and times the last `--steps` (notes/s = unpadded notes trained per wall second).

`--parity` runs only the loss parity: config v2 in fp32 and in bf16 autocast for `--steps` steps from `--init`, the
two side by side on one thread each with the same seed (so the same batches), and how far apart their losses are:

    python benchmarks/training/throughput/run.py --cache CACHE --data DIR --data DIR --parity --steps 300 \
        --batch 4 --init benchmarks/training/v2/stable --out benchmarks/training/throughput/parity.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

SIZES = {  # name: (d_model, n_layers, n_heads)
    "d192-l4": (192, 4, 4),
    "d256-l4": (256, 4, 4),
    "d320-l4": (320, 4, 5),
    "d384-l4": (384, 4, 6),
    "d256-l6": (256, 6, 4),
    "d320-l6": (320, 6, 5),
    "d384-l8": (384, 8, 6),
}


def one_case(args: argparse.Namespace) -> dict:
    """Run in a child: train and time one (size, precision, threads, compile) case."""
    import numpy as np
    import torch

    from tatumflow.train.config import CONFIGS, cpu_has_bf16
    from tatumflow.train.loop import train

    torch.set_num_threads(args.threads)
    d, n_layers, n_heads = SIZES[args.size]
    cfg = replace(CONFIGS["v2"], d_model=d, n_layers=n_layers, n_heads=n_heads, precision=args.precision,
                  context_steps=args.context, seq_len=args.context - 1, warmup=10, val_every=10**6,
                  ckpt_every=10**6, ckpt_minutes=10**6)
    stamps: list[tuple[float, float]] = []
    losses: list[float] = []

    def on_step(r: dict) -> None:
        stamps.append((time.perf_counter(), r["notes_seen"]))
        losses.append(r["loss"])

    with tempfile.TemporaryDirectory() as tmp:
        train([Path(x) for x in args.data], Path(tmp) / "run", cfg, device="cpu", cache_dir=Path(args.cache),
              max_steps=args.warmup + args.steps, on_step=on_step)
    (t0, n0), (t1, n1) = stamps[args.warmup - 1], stamps[-1]
    from tatumflow.model.transformer import ModelConfig, NoteTransformer

    params = NoteTransformer(ModelConfig(d_model=d, n_layers=n_layers, n_heads=n_heads, n_styles=121,
                                         context_steps=args.context)).num_parameters()
    return {"size": args.size, "parameters": params, "precision": args.precision, "threads": args.threads,
            "context": args.context, "batch": cfg.batch_size, "steps_timed": args.steps,
            "notes_per_s": round((n1 - n0) / (t1 - t0), 1), "s_per_step": round((t1 - t0) / args.steps, 3),
            "loss_first": losses[0], "loss_last": float(np.mean(losses[-5:])), "cpu_has_bf16": cpu_has_bf16()}


def parity_case(args: argparse.Namespace) -> dict:
    """Run in a child: `--steps` steps of config v2 in one precision from `--init` (or a seeded fresh model),
    recording every step's training loss and the validation losses; the same seed draws the same batches."""
    import torch

    from tatumflow.train.config import CONFIGS
    from tatumflow.train.loop import train

    torch.set_num_threads(args.threads)
    every = max(args.steps // 4, 1)
    cfg = replace(CONFIGS["v2"], precision=args.precision, batch_size=args.batch, warmup=20, val_every=every,
                  ckpt_every=10**6, ckpt_minutes=10**6)
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        train([Path(x) for x in args.data], Path(tmp) / "run", cfg, device="cpu", cache_dir=Path(args.cache),
              init=Path(args.init) if args.init else None, max_steps=args.steps, on_step=records.append)
    return {"precision": args.precision, "batch": args.batch, "init": args.init,
            "loss": [r["loss"] for r in records],
            "val": [{"step": r["step"], "val_loss": r["val_loss"], "val_loss_focus": r["val_loss_focus"]}
                    for r in records if "val_loss" in r]}


def parity(args: argparse.Namespace, base: list[str]) -> dict:
    """fp32 and bf16 side by side (two one-thread children at once), and how far apart their losses are."""
    import numpy as np

    procs = {}
    for precision in ("fp32", "bf16"):
        cmd = base + ["--child", "parity", "--precision", precision, "--threads", "1", "--batch", str(args.batch)]
        cmd += ["--init", args.init] if args.init else []
        procs[precision] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    runs = {}
    for precision, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"parity child {precision} failed ({proc.returncode})")
        runs[precision] = json.loads(out.splitlines()[-1])
    a, b = np.array(runs["fp32"]["loss"]), np.array(runs["bf16"]["loss"])
    k = 20  # running means over 20 steps: a single step's loss is noisy in both
    ma, mb = np.convolve(a, np.ones(k) / k, "valid"), np.convolve(b, np.ones(k) / k, "valid")
    return {"runs": runs, "steps": len(a), "mean_abs_step_diff": round(float(np.abs(a - b).mean()), 4),
            "max_abs_diff_20_step_mean": round(float(np.abs(ma - mb).max()), 4),
            "mean_diff_bf16_minus_fp32": round(float((b - a).mean()), 4),
            "val_diff_bf16_minus_fp32": [round(y["val_loss"] - x["val_loss"], 4)
                                         for x, y in zip(runs["fp32"]["val"], runs["bf16"]["val"])]}


def random_bench_model(size: str, context: int):
    """A random-weight model of `size` (delta head biased to Tatum-dense gaps) as a BenchModel, seeded."""
    import torch

    from tatumflow.bench.common import DEFAULT_STYLES, DENSE_DELTAS, BenchModel
    from tatumflow.model.tokenizer import Tokenizer
    from tatumflow.model.transformer import ModelConfig, NoteTransformer

    torch.manual_seed(0)
    d, n_layers, n_heads = SIZES[size]
    model = NoteTransformer(ModelConfig(n_styles=121, d_model=d, n_layers=n_layers, n_heads=n_heads,
                                        context_steps=context)).eval()
    with torch.no_grad():
        model.heads[0].out.bias[:DENSE_DELTAS] += 8.0
    return BenchModel(model, Tokenizer(), DEFAULT_STYLES + [f"s{i}" for i in range(119)], "random")


def window_budget(size: str, context: int) -> dict:
    """22-note windows of a random-weight model of this size on one thread (what the live engine runs)."""
    import torch

    from tatumflow.bench import decode
    from tatumflow.generate.controls import Controls

    torch.set_num_threads(1)
    bm = random_bench_model(size, context)
    model = bm.model
    res = decode.windows(bm, torch.device("cpu"), Controls(style={"Art Tatum": 1.0}), 20, prompt_notes=256)
    return {"size": size, "parameters": model.num_parameters(), "window_ms_p50": res["window_ms_p50"],
            "window_ms_p99": res["window_ms_p99"], "ms_per_note_p50": res["ms_per_note_p50"]}


def budget_interleaved(sizes: list[str], context: int, rounds: int) -> dict:
    """22-note windows of each size (random weights, fp32 and packed fp16 weights), interleaved round by round in
    one process on one thread, so that machine load hits every size alike: the ratios are the result."""

    import numpy as np
    import torch

    from tatumflow.bench.common import dense_prompt, timed_ms
    from tatumflow.generate.controls import Controls
    from tatumflow.generate.window import Window

    torch.set_num_threads(1)
    controls = Controls(style={"Art Tatum": 1.0}, window_s=60.0)
    decoders = {}
    for size in sizes:
        bm = random_bench_model(size, context)
        for weights in ("fp32", "fp16"):
            gen = bm.generator("cpu", weights=weights)
            decoders[f"{size}/{weights}"] = (gen, gen.init_state(dense_prompt(256), controls))
    times: dict[str, list[float]] = {k: [] for k in decoders}
    for r in range(rounds + 1):
        for name, (gen, base) in decoders.items():
            state = base.copy()
            window = Window(max_notes=22, seed=r)
            t = timed_ms(partial(gen.generate_chunk, state, [], controls, window), torch.device("cpu"))
            if r:
                times[name].append(t)
    out = {k: {"window_ms_p50": round(float(np.percentile(v, 50)), 2),
               "window_ms_p99": round(float(np.percentile(v, 99)), 2)} for k, v in times.items()}
    ref = out[f"{sizes[0]}/fp32"]["window_ms_p50"]
    for v in out.values():
        v["ratio_p50_vs_first"] = round(v["window_ms_p50"] / ref, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", nargs="*", default=list(SIZES))
    ap.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    ap.add_argument("--threads-list", nargs="*", type=int, default=[2])
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--child", choices=["train", "window", "budget", "parity"])
    ap.add_argument("--parity", action="store_true", help="run only the fp32-vs-bf16 loss parity (config v2)")
    ap.add_argument("--init", help="parity: start from these weights (a v2 checkpoint) instead of a fresh model")
    ap.add_argument("--batch", type=int, default=8, help="parity: crops per batch")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--size", default="d192-l4")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.child == "train":
        print(json.dumps(one_case(args)))
        return
    if args.child == "parity":
        print(json.dumps(parity_case(args)))
        return
    if args.child == "budget":
        print(json.dumps(budget_interleaved(args.sizes, args.context, args.rounds), indent=1))
        return
    if args.child == "window":
        print(json.dumps(window_budget(args.size, args.context)))
        return
    base = [sys.executable, __file__, "--cache", args.cache, "--out", args.out, "--context", str(args.context),
            "--warmup", str(args.warmup), "--steps", str(args.steps)] + sum((["--data", d] for d in args.data), [])
    if args.parity:
        Path(args.out).write_text(json.dumps(parity(args, base), indent=1))
        return
    results: dict = {"train": [], "window": [], "load_average_start": os.getloadavg()}
    for size in args.sizes:
        out = subprocess.run(base + ["--child", "window", "--size", size], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
        results["window"].append(json.loads(out.stdout.splitlines()[-1]))
        print(results["window"][-1], flush=True)
        for threads in args.threads_list:
            for precision in args.precisions:
                env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                cmd = base + ["--child", "train", "--size", size, "--precision", precision, "--threads", str(threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                results["train"].append(json.loads(out.stdout.splitlines()[-1]))
                print(results["train"][-1], flush=True)
    results["load_average_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
