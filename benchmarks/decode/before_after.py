"""Before vs after, in one run: 22-note windows through `generate_chunk` with the backend, sampler and (where the
commit has one) prepared inference path of an older commit (read from git into a temporary folder) and with this
tree's (its automatic choice, fp16 and fp32 weights), interleaved.

    .venv/bin/python benchmarks/decode/before_after.py [--commit e38f4d2] [--windows 15]
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
from pathlib import Path

import numpy as np
import torch

from tatumflow.bench.common import REPO, bench_model, dense_prompt
from tatumflow.generate.generator import ChunkedGenerator
from tatumflow.presets import load_preset


def old_backend(commit: str, folder: Path):
    """The TransformerBackend class of `commit` (its sampling and inference modules beside it when it has them; the
    rest from this tree)."""
    sources = {}
    for name in ("backend", "sampling", "inference"):
        shown = subprocess.run(["git", "show", f"{commit}:tatumflow/model/{name}.py"], cwd=REPO, capture_output=True,
                               text=True)
        if shown.returncode == 0:
            sources[name] = shown.stdout
    for name, src in sources.items():
        for other in sources:
            src = src.replace(f"from .{other} import", f"from old_{other} import")
        src = src.replace("from .", "from tatumflow.model.")
        (folder / f"old_{name}.py").write_text(src)
    sys.path.insert(0, str(folder))
    from old_backend import TransformerBackend  # type: ignore[import-not-found]

    return TransformerBackend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default="e38f4d2")
    ap.add_argument("--windows", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bm = bench_model(None, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        Old = old_backend(args.commit, Path(tmp))
        gens = {"before": ChunkedGenerator(Old(bm.model, bm.tokenizer, bm.styles)), "after": bm.generator("cpu"),
                "after_fp16": bm.generator("cpu", weights="fp16"), "after_fp32": bm.generator("cpu", weights="fp32")}
        controls = replace(load_preset("tatum").controls, style={bm.style: 1.0}, max_notes_per_window=22, window_s=60.0)
        out: dict = {"load_average": [round(x, 2) for x in os.getloadavg()]}
        for guidance in (1.0, 2.0):
            c = replace(controls, guidance=guidance)
            states = {k: g.init_state(dense_prompt(256), c) for k, g in gens.items()}
            times: dict[str, list[float]] = {k: [] for k in gens}
            for r in range(args.windows + 1):
                for k, g in gens.items():
                    s = states[k].copy()
                    t0 = time.perf_counter()
                    g.generate_chunk(s, [], c)
                    if r:  # round 0 is warm-up
                        times[k].append((time.perf_counter() - t0) * 1e3)
            for k, v in times.items():
                out[f"{k}, guidance {guidance:g}"] = {f"window_ms_p{q}": round(float(np.percentile(v, q)), 1)
                                                      for q in (50, 99)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
