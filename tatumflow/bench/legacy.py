"""The decode step as it was before the native step (commit `BEFORE_COMMIT`), loaded beside today's.

`ratio_vs_before` must compare today's decode step with the one it replaced, in the same run on the same machine,
and the test of "the same notes" must play the old step's notes. Keeping the old code in the package would mean two
copies of the generator; instead its package is taken from git (`git archive`), unpacked once into the cache as a
package of another name (`tatumflow_<commit>`: its imports are relative, so it never reaches today's), and run on
today's checkpoint. Where there is no git checkout with that commit (an installed package, a shallow clone) it is
unavailable, with the reason, and the bench skips that lane.
"""

from __future__ import annotations

import functools
import importlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

from ..generate.controls import Controls
from ..generate.native import cache_dir
from ..generate.window import FOLLOW_ON, Window
from ..model.tokenizer import Tokenizer
from ..model.transformer import NoteTransformer
from .common import REPO

BEFORE_COMMIT = "fdcd752"  # the last commit before the native decode step (issue 25)


class LegacyUnavailable(RuntimeError):
    pass


@functools.lru_cache(maxsize=4)
def legacy_package(commit: str = BEFORE_COMMIT) -> ModuleType:
    """The `tatumflow` package as it was at `commit`, importable as `tatumflow_<commit>`."""
    name = f"tatumflow_{commit}"
    root = cache_dir().parent / "legacy" / commit
    if not (root / name / "__init__.py").is_file():
        _unpack(commit, root, name)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(name)


def _unpack(commit: str, root: Path, name: str) -> None:
    try:
        tar = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "tatumflow"],
                             capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise LegacyUnavailable(f"no git checkout with commit {commit} at {REPO}") from err
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp, filter="data")
        if (root / name).exists():  # another process got there first
            return
        os.replace(tmp / "tatumflow", root / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def legacy_generator(checkpoint: str | Path, device: str = "cpu", commit: str = BEFORE_COMMIT) -> Any:
    """The old package's generator on `checkpoint` (a folder), as it built it by default."""
    load = importlib.import_module(f"{legacy_package(commit).__name__}.generate.load")
    return load.load_generator(str(checkpoint), device)


class TodaysContract:
    """The old generator behind today's contract (`generate_chunk(state, human_notes, controls, window)`), so that
    today's engine can run it (the CPU-quota duet's `before` lane). Controls and windows are translated per call
    (`legacy_controls`); its states and notes pass through as they are."""

    def __init__(self, old: Any, commit: str = BEFORE_COMMIT) -> None:
        self.old, self.commit = old, commit
        self.backend, self.tokenizer = old.backend, old.tokenizer

    def _controls(self, controls: Controls, window: Window = FOLLOW_ON) -> Any:
        return legacy_controls(controls, window, self.commit)

    def init_state(self, prompt: Any, controls: Controls, start_s: float | None = None) -> Any:
        return self.old.init_state(prompt, self._controls(controls), start_s)

    def generate_chunk(self, state: Any, human_notes: Any, controls: Controls, window: Window) -> Any:
        return self.old.generate_chunk(state, human_notes, self._controls(controls, window), start_s=window.start_s,
                                       end_s=window.end_s)

    def absorb(self, state: Any, notes: Any, controls: Controls, heard: bool = True) -> Any:
        return self.old.absorb(state, notes, self._controls(controls), heard)

    def truncate(self, state: Any, time_s: float) -> Any:
        return self.old.truncate(state, time_s)


def legacy_generator_for(model: NoteTransformer, tokenizer: Tokenizer, styles: list[str], device: str = "cpu",
                         commit: str = BEFORE_COMMIT) -> Any:
    """The old package's generator over today's `model` object (the same weights; its module is unchanged)."""
    name = legacy_package(commit).__name__
    old_tok = importlib.import_module(f"{name}.model.tokenizer")
    backend = importlib.import_module(f"{name}.generate.backend").TransformerBackend(
        model, old_tok.Tokenizer(old_tok.TokenizerConfig(**tokenizer.config.to_dict())), styles, device)
    return importlib.import_module(f"{name}.generate.generator").ChunkedGenerator(backend)


def legacy_controls(controls: Controls, window: Window = FOLLOW_ON, commit: str = BEFORE_COMMIT) -> Any:
    """`controls` and `window` as the old package's Controls (the fields it has: it kept the window's budget, grid
    and seed in its controls; its window span was given to `generate_chunk` apart, as `start_s` / `end_s`)."""
    old = importlib.import_module(f"{legacy_package(commit).__name__}.generate.controls").Controls
    known = {f.name for f in fields(old)}
    values = {f.name: getattr(controls, f.name) for f in fields(controls) if f.name in known}
    values |= {"max_notes_per_window": window.max_notes, "beat_grid": window.beat_grid, "seed": window.seed}
    if values.get("beat_grid") is not None:  # the old package's own BeatGrid type
        grid_mod = importlib.import_module(f"{legacy_package(commit).__name__}.timing.grid")
        g = values["beat_grid"]
        values["beat_grid"] = grid_mod.BeatGrid(g.bpm, g.beat_s, g.source, g.confidence)
    return old(**values)


def legacy_constraints(commit: str = BEFORE_COMMIT) -> Any:
    """The old package's empty StepConstraints (no masks, no priors: the side-by-side decode's)."""
    return importlib.import_module(f"{legacy_package(commit).__name__}.generate.generator").StepConstraints()
