"""How far storing the attention's keys and/or values in fp16 moves the heads (issue 25's "same notes" bound).

Art Tatum's tuning-split recordings (kong), two starts each, contexts 300, 700 and 950 steps: the prompt prefilled on
the torch path with fp32 weights, with the keys and/or values rounded to fp16 where attention reads them (as a cache
stored in fp16 would give them back); each head's distribution at the last step (the later heads conditioned on the
real next note's fields) against the unrounded one. Prints and writes the largest KL per head.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/decode/2026-12-07b/kv_precision.py [--pijama ../shared/data/pijama]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tatumflow.generate.backend import TransformerBackend
from tatumflow.generate.controls import Controls
from tatumflow.model.checkpoint import default_checkpoint_dir, load_checkpoint
from tatumflow.model.kvcache import KVCache
from tatumflow.notes import read_midi
from tatumflow.tune.splits import pijama_recordings, tatum_split

MODES = {"keys": (True, False), "values": (False, True), "both": (True, True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pijama", default="../shared/data/pijama")
    ap.add_argument("--json", default=str(Path(__file__).with_name("kv_precision.json")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = load_checkpoint(default_checkpoint_dir(), "cpu")
    backend = TransformerBackend(ck.model, ck.tokenizer, ck.styles, "cpu", step_path="dynamic", weights="fp32")
    infer = backend.infer
    assert infer is not None
    style = backend.style_vectors(Controls(style={"Art Tatum": 1.0}), 1)
    rounding = {"k": False, "v": False}
    update = KVCache.update

    def rounded_update(self, layer, start, k, v):  # what attention reads from a cache stored in fp16
        k = k.half().float() if rounding["k"] else k
        v = v.half().float() if rounding["v"] else v
        return update(self, layer, start, k, v)

    KVCache.update = rounded_update

    @torch.inference_mode()
    def heads(steps, n: int) -> list[torch.Tensor]:
        cache = KVCache(infer.cfg, 1)
        infer.prefill(cache, torch.as_tensor(steps[:n])[None], style)
        h, nxt, out = cache.hidden[:, n], steps[n], []
        for k in range(4):
            hk = h.clone()
            for j in range(k):
                hk = hk + infer.cond_table(j)[int(nxt[j])]
            out.append(torch.log_softmax(infer.head_logits(k, hk).double(), -1)[0])
        return out

    worst = {m: [0.0] * 4 for m in MODES}
    _, tuning = tatum_split(pijama_recordings(args.pijama))
    cases = 0
    for rec in tuning:
        steps = ck.tokenizer.steps_after(None, read_midi(rec.files[0]))
        for start in (len(steps) // 4, len(steps) // 2):
            for n in (300, 700, 950):
                s = steps[start : start + n + 1]
                if len(s) < n + 1:
                    continue
                cases += 1
                rounding.update(k=False, v=False)
                base = heads(s, n)
                for mode, (rk, rv) in MODES.items():
                    rounding.update(k=rk, v=rv)
                    for k, (p, q) in enumerate(zip(base, heads(s, n))):
                        worst[mode][k] = max(worst[mode][k], float((p.exp() * (p - q)).sum()))
    result = {"recordings": [r.key for r in tuning], "cases": cases, "bound_nats": 1e-6,
              "max_kl_per_head": {m: [float(f"{x:.3g}") for x in v] for m, v in worst.items()}}
    print(json.dumps(result["max_kl_per_head"]))
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
