"""Before vs after, in one run: 22-note windows through `generate_chunk` with the whole `tatumflow` package of an
older commit (read from git into a temporary folder, imported as `old_tatumflow`) and with this tree's (its
automatic choice, fp16 and fp32 weights), the same weights, interleaved window by window.

    .venv/bin/python benchmarks/decode/before_after.py [--commit 90b8339] [--windows 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from tatumflow.bench.common import REPO, BenchModel, bench_model, dense_prompt
from tatumflow.generate.window import Window
from tatumflow.presets import load_preset


def old_package(commit: str, folder: Path) -> str:
    """Extract `commit`'s tatumflow/ into folder/old_tatumflow (its imports are relative) and put it on the path."""
    archive = subprocess.run(["git", "archive", commit, "tatumflow"], cwd=REPO, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "tatumflow").rename(folder / "old_tatumflow")
    sys.path.insert(0, str(folder))
    return "old_tatumflow"


def _module(package: str, name: str) -> ModuleType:
    """`name` from the package's `generate/` (the layout since 948bd67) or `model/` (before)."""
    for sub in ("generate", "model"):
        try:
            return importlib.import_module(f"{package}.{sub}.{name}")
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"{package} has no generate.{name} or model.{name}")


def old_generator(package: str, bm: BenchModel):  # an object of the old package: its types are not ours
    """The old package's generator over a copy of `bm`'s weights (its own model class, config and tokenizer)."""
    transformer = importlib.import_module(f"{package}.model.transformer")
    tokenizer = importlib.import_module(f"{package}.model.tokenizer")
    names = {f.name for f in dataclasses.fields(transformer.ModelConfig)}
    cfg = bm.model.cfg.to_dict()
    if "context_steps" not in names:  # the name before 2026-12
        cfg["max_steps"] = cfg.pop("context_steps")
    model = transformer.NoteTransformer(transformer.ModelConfig.from_dict(cfg))
    model.load_state_dict(bm.model.state_dict())
    tok = tokenizer.Tokenizer(tokenizer.TokenizerConfig(**bm.tokenizer.config.to_dict()))
    backend = _module(package, "backend").TransformerBackend(model.eval(), tok, bm.styles)
    return _module(package, "generator").ChunkedGenerator(backend), _module(package, "controls").Controls


def old_note_class(package: str) -> type:
    try:
        return importlib.import_module(f"{package}.notes").Note
    except ModuleNotFoundError:  # before 948bd67
        return importlib.import_module(f"{package}.model.notes").Note


def window_times(gens: dict, controls: dict, prompts: dict, windows: int) -> dict[str, list[float]]:
    """ms per 22-note window, each generator from its own copy of one state, interleaved."""
    states = {k: g.init_state(prompts[k], controls[k]) for k, g in gens.items()}
    times: dict[str, list[float]] = {k: [] for k in gens}
    for r in range(windows + 1):
        for k, g in gens.items():
            s = states[k].copy()
            t0 = time.perf_counter()
            if k == "before":  # the old package: its budget and seed in its controls
                g.generate_chunk(s, [], controls[k])
            else:
                g.generate_chunk(s, [], controls[k], Window(max_notes=22))
            if r:  # round 0 is warm-up
                times[k].append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default="90b8339")
    ap.add_argument("--windows", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bm = bench_model(None, "cpu")
    base = replace(load_preset("tatum").controls, style={bm.style: 1.0}, window_s=60.0)
    with tempfile.TemporaryDirectory() as tmp:
        package = old_package(args.commit, Path(tmp))
        old_gen, OldControls = old_generator(package, bm)
        OldNote = old_note_class(package)
        gens = {"before": old_gen, "after": bm.generator("cpu"), "after_fp16": bm.generator("cpu", weights="fp16"),
                "after_fp32": bm.generator("cpu", weights="fp32")}
        out: dict[str, object] = {"commit": args.commit, "load_average": [round(x, 2) for x in os.getloadavg()]}
        for guidance in (1.0, 2.0):
            c = replace(base, guidance=guidance)
            old = {f.name: getattr(c, f.name) for f in dataclasses.fields(OldControls) if hasattr(c, f.name)}
            old["max_notes_per_window"] = 22
            controls = {k: (OldControls(**old) if k == "before" else c) for k in gens}
            prompt = dense_prompt(256)
            prompts = {k: ([OldNote(*dataclasses.astuple(n)) for n in prompt] if k == "before" else prompt)
                       for k in gens}
            for k, v in window_times(gens, controls, prompts, args.windows).items():
                out[f"{k}, guidance {guidance:g}"] = {f"window_ms_p{q}": round(float(np.percentile(v, q)), 1)
                                                      for q in (50, 99)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
