"""Where a note's decode time goes, per part, and the arithmetic floor beside it.

    .venv/bin/python benchmarks/decode/per_note.py [--windows 20] [--step-path native] [--weights fp32] [--out DIR]

22-note windows through `generate_chunk` on the default model (preset tatum, one thread, from a 256-note dense
prompt, as `tatumflow bench`), each part timed by wrapping the function that does it, in this thread's CPU time
(`time.thread_time_ns`: what other processes do on the machine moves it far less than wall time):

- `trunk`: the step fed into the KV cache (C or torch); `heads_and_sampling` (native: one C call a note, the
  Python that prepares its biases and uniforms included), or on the torch path `head_k` (head k's logits) and
  `sample_k` (head k's sampling with its priors, numpy); `constraints`: the note's masks and priors looked up;
  `window_priors`: prepared once per window; `rest`: the generator's own Python (notes, tokens, bookkeeping), by
  difference.

The floor beside it: multiply-adds per note at this size and context, the bytes a note must read (weights and the
KV cache it attends to), and the practical floor the prefill shows (a 1,024-note prefill's time per note: the same
arithmetic with the weights read once for many notes). Writes `profile_<step>_<weights>.{json,md}` to --out.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tatumflow.bench.common import dense_prompt, environment
from tatumflow.generate import generator as generator_mod
from tatumflow.generate import heads, priors
from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.generate.window import Window
from tatumflow.model.checkpoint import default_checkpoint_dir, load_checkpoint
from tatumflow.presets import load_preset

HERE = Path(__file__).resolve().parent


class Timers:
    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)

    def wrap(self, obj: object, name: str, label: str | None = None, by_head: bool = False) -> None:
        fn = getattr(obj, name)

        def timed(*args, **kwargs):
            key = label or name
            if by_head:
                key = f"{key}_{args[0] if not isinstance(args[0], object.__class__) else args[1]}"
            t = time.thread_time_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[key] += time.thread_time_ns() - t

        setattr(obj, name, timed)


def floor(cfg, context: int) -> dict:
    """Multiply-adds and bytes one note needs (batch 1, fp32 activations)."""
    D, L, F = cfg.d_model, cfg.n_layers, cfg.mlp_ratio * cfg.d_model
    trunk_macs = L * (3 * D * D + D * D + 2 * D * F)
    head_macs = sum(D * D + D * v for v in cfg.vocab_sizes)
    attention_macs = L * 2 * context * D  # q.k and p.v over the context
    weights = trunk_macs + head_macs
    kv_bytes = L * 2 * context * D * 4
    return {"context": context, "macs_per_note": trunk_macs + head_macs + attention_macs,
            "weight_values_per_note": weights, "weight_mb_fp32": round(weights * 4 / 1e6, 2),
            "weight_mb_fp16": round(weights * 2 / 1e6, 2), "kv_mb_read": round(kv_bytes / 1e6, 2)}


def run(windows: int, step_path: str, weights: str) -> dict:
    torch.set_num_threads(1)
    ckpt = load_checkpoint(default_checkpoint_dir(), "cpu")
    backend = TransformerBackend(ckpt.model, ckpt.tokenizer, ckpt.styles, "cpu", step_path=step_path,
                                 weights=weights)
    gen = ChunkedGenerator(backend)
    controls = replace(load_preset("tatum").controls, window_s=60.0)
    window = Window(max_notes=22)
    state = gen.init_state(dense_prompt(256), controls)
    gen.generate_chunk(state, [], controls, window)  # warm-up
    timers = Timers()
    if backend.native is not None:  # the heads and their sampling are one C call a note (tf_note)
        timers.wrap(backend.native, "feed", "trunk")
        timers.wrap(backend.native, "sample_note", "heads_and_sampling")
    else:
        timers.wrap(backend.net, "prefill", "trunk")
        timers.wrap(backend.net, "head_logits", "head", by_head=True)
    choose = heads.HostSampler.choose

    def timed_choose(self, k, logits, chosen):
        t = time.thread_time_ns()
        try:
            return choose(self, k, logits, chosen)
        finally:
            timers.ns[f"sample_{k}"] += time.thread_time_ns() - t

    heads.HostSampler.choose = timed_choose  # type: ignore[method-assign]
    timers.wrap(gen, "_constraints", "constraints")
    prepared = priors.WindowPriors.__init__

    def timed_priors(self, *args, **kwargs):
        t = time.thread_time_ns()
        prepared(self, *args, **kwargs)
        timers.ns["window_priors"] += time.thread_time_ns() - t

    priors.WindowPriors.__init__ = timed_priors  # type: ignore[method-assign]
    generator_mod.WindowPriors = priors.WindowPriors
    total_ns, notes, wall_ms = 0, 0, []
    try:
        for _ in range(windows):
            t, w = time.thread_time_ns(), time.perf_counter_ns()
            out, _ = gen.generate_chunk(state, [], controls, window)
            total_ns += time.thread_time_ns() - t
            wall_ms.append((time.perf_counter_ns() - w) / 1e6)
            notes += len(out)
    finally:
        heads.HostSampler.choose = choose  # type: ignore[method-assign]
        priors.WindowPriors.__init__ = prepared  # type: ignore[method-assign]
    sampled = notes + windows  # each window also samples the note past its end
    per_note = {k: round(v / 1e3 / sampled, 1) for k, v in sorted(timers.ns.items())}
    per_note["rest"] = round((total_ns - sum(timers.ns.values())) / 1e3 / sampled, 1)
    prefill = _prefill_ms_per_note(backend, gen, controls)
    return {"environment": environment(torch.device("cpu"), 1), "step_path": backend.step_path,
            "weights": backend.weights, "windows": windows, "notes": notes,
            "us_per_note": per_note, "us_per_note_total": round(total_ns / 1e3 / sampled, 1),
            "window_ms_cpu_mean": round(total_ns / 1e6 / windows, 2),
            "window_ms_wall_p50": round(float(np.percentile(wall_ms, 50)), 2),
            "window_ms_wall_p99": round(float(np.percentile(wall_ms, 99)), 2),
            "floor": {**floor(ckpt.model.cfg, len(state.context)), "prefill_1023_ms_per_note": prefill}}


def _prefill_ms_per_note(backend: TransformerBackend, gen: ChunkedGenerator, controls) -> float:
    steps = gen.tokenizer.steps_after(None, dense_prompt(1023))
    cache = backend.new_cache(1)
    best = float("inf")
    for _ in range(3):
        backend.truncate(cache, 0)
        t = time.thread_time_ns()
        backend.feed(cache, steps, controls)
        best = min(best, (time.thread_time_ns() - t) / 1e6)
    return round(best / len(steps), 4)


def markdown(r: dict) -> str:
    f = r["floor"]
    lines = [f"# Decode profile: {r['step_path']} step, {r['weights']} weights ({r['environment']['cpu']})", "",
             f"commit `{r['environment']['git_commit']}`, load average {r['environment']['load_average']}; "
             f"{r['windows']} windows of 22 notes, {r['notes']} notes; CPU time of this thread per sampled note:",
             "", "| part | us per note |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in r["us_per_note"].items()]
    lines += [f"| **total** | **{r['us_per_note_total']}** |", "",
              f"Window: {r['window_ms_cpu_mean']} ms CPU (mean), wall p50 {r['window_ms_wall_p50']} / "
              f"p99 {r['window_ms_wall_p99']} ms.", "",
              f"Floor at context {f['context']}: {f['macs_per_note'] / 1e6:.2f} M multiply-adds a note; "
              f"{f['weight_mb_fp32']} MB of weights in fp32 ({f['weight_mb_fp16']} MB in fp16) and "
              f"{f['kv_mb_read']} MB of keys and values read a note; the prefill of 1,023 notes costs "
              f"{f['prefill_1023_ms_per_note'] * 1e3:.0f} us a note."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--step-path", default="auto")
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    result = run(args.windows, args.step_path, args.weights)
    stem = Path(args.out) / f"profile_{result['step_path']}_{result['weights']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
