"""`tatumflow eval`: continue the opening of each recording and compare with how it really went on.

For each MIDI file: the prompt is the notes with onsets in the first `prompt_seconds` (from the first onset); the real
continuation is the notes with onsets in [c0, c0 + continue_seconds), c0 = `continuation_start_s(prompt)`. Three
systems continue the prompt once per seed: `model` (the network with the preset's controls), `markov` (the
variable-order Markov baseline trained on the prompt) and `no_style` (the network with style {"none": 1}, no
guidance, everything else as `model`). When the controls turn the harmony prior on, a fourth system,
`no_harmony`, is the model with it off (the network alone). Metrics are in `metrics`; per file they are averaged
over seeds, the summary averages files (NaN-aware).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..generate.continuation import continuation_start_s, continue_notes
from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from .markov import markov_continuation
from .metrics import continuation_metrics, diversity, texture_metrics
from ..notes import Note, find_midi_files, read_midi
from ..plots import draw_notes, pyplot

log = logging.getLogger(__name__)

SYSTEMS = ("model", "markov", "no_style")
NO_HARMONY = "no_harmony"
# Rows of the printed table: (key, label, systems only?). Ratios and distances have no "real" value.
TABLE_ROWS = (
    ("pitch_class_kl", "pitch-class KL (real||gen)", True),
    ("pctm_cosine", "PCTM cosine (chord order)", True),
    ("pctm_cosine_onset", "PCTM cosine (onset order)", True),
    ("density", "notes / s", False),
    ("density_ratio", "density ratio", True),
    ("ioi_mean_s", "mean IOI (s)", False),
    ("ioi_ratio", "IOI ratio", True),
    ("voicing_mean", "notes per onset", False),
    ("voicing_ratio", "voicing ratio", True),
    ("polyphony", "polyphony", False),
    ("velocity_mean", "velocity mean", False),
    ("velocity_std", "velocity std", False),
    ("grammar_errors", "grammar errors", True),
    ("diversity", "diversity across seeds", True),
)


@dataclass(frozen=True)
class EvalConfig:
    prompt_seconds: float = 20.0
    continue_seconds: float = 15.0
    seeds: int = 3
    max_files: int | None = None
    plot_files: int = 3

    def __post_init__(self) -> None:
        for name in ("prompt_seconds", "continue_seconds"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be in (0, 3600], got {value}")
        if not 1 <= self.seeds <= 100:
            raise ValueError(f"seeds must be in 1..100, got {self.seeds}")
        if self.max_files is not None and self.max_files < 1:
            raise ValueError(f"max_files must be >= 1, got {self.max_files}")


@dataclass
class FileResult:
    """One file: its split, the metrics per system (seed means) and of the real continuation, one sample each."""

    path: str
    prompt: list[Note]
    real: list[Note]
    start_s: float
    metrics: dict[str, dict[str, float]]
    samples: dict[str, list[Note]] = field(default_factory=dict)  # the first seed's continuation per system

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "prompt_notes": len(self.prompt), "real_notes": len(self.real),
                "continuation_start_s": self.start_s, **self.metrics}


@dataclass
class EvalReport:
    config: EvalConfig
    files: list[FileResult]
    skipped: dict[str, int]
    summary: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": asdict(self.config), "n_files": len(self.files), "skipped": self.skipped}
        out.update(self.summary)
        out["files"] = [f.to_dict() for f in self.files]
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# -- data ----------------------------------------------------------------------------------------------------------
def split_prompt(
    notes: Sequence[Note], prompt_seconds: float, continue_seconds: float, grid_s: float
) -> tuple[list[Note], list[Note], float] | None:
    """(prompt, real continuation, continuation start), or None when either part is empty."""
    if not notes:
        return None
    t0 = min(n.onset_s for n in notes)
    prompt = [n for n in notes if t0 <= n.onset_s < t0 + prompt_seconds]
    c0 = continuation_start_s(prompt, grid_s)
    real = [n for n in notes if c0 <= n.onset_s < c0 + continue_seconds]
    return (prompt, real, c0) if prompt and real else None


# -- one file ------------------------------------------------------------------------------------------------------
def _no_style(controls: Controls) -> Controls:
    return replace(controls, style={"none": 1.0}, guidance=1.0)


def systems_for(controls: Controls) -> tuple[str, ...]:
    """The systems compared under these controls (see the module docstring)."""
    return (*SYSTEMS, NO_HARMONY) if controls.harmony_weight > 0 else SYSTEMS


def _systems_of(files: Sequence[FileResult]) -> tuple[str, ...]:
    return tuple(k for k in files[0].metrics if k != "real") if files else SYSTEMS


def _continuations(
    generator: ChunkedGenerator, prompt: list[Note], start_s: float, cfg: EvalConfig, controls: Controls
) -> dict[str, list[list[Note]]]:
    """Every system's continuation for every seed."""
    seconds = cfg.continue_seconds
    out: dict[str, list[list[Note]]] = {name: [] for name in systems_for(controls)}
    for seed in range(cfg.seeds):
        out["model"].append(continue_notes(generator, prompt, seconds, replace(controls, seed=seed)))
        out["markov"].append(markov_continuation(prompt, start_s, seconds, seed))
        out["no_style"].append(continue_notes(generator, prompt, seconds, replace(_no_style(controls), seed=seed)))
        if NO_HARMONY in out:
            plain = replace(controls, seed=seed, harmony_weight=0.0)
            out[NO_HARMONY].append(continue_notes(generator, prompt, seconds, plain))
    return out


def _mean_metrics(per_seed: list[dict[str, float]]) -> dict[str, float]:
    return {k: _nanmean([m[k] for m in per_seed]) for k in per_seed[0]}


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def evaluate_split(
    generator: ChunkedGenerator, path: str, prompt: list[Note], real: list[Note], start_s: float,
    cfg: EvalConfig, controls: Controls,
) -> FileResult:
    """Metrics of all systems on one prompt / real continuation pair."""
    runs = _continuations(generator, prompt, start_s, cfg, controls)
    metrics: dict[str, dict[str, float]] = {}
    for name, continuations in runs.items():
        per_seed = [continuation_metrics(c, real, start_s, cfg.continue_seconds) for c in continuations]
        metrics[name] = _mean_metrics(per_seed) | {"diversity": diversity(continuations)}
    metrics["real"] = texture_metrics(real, cfg.continue_seconds)
    for name in runs:
        kinds = {k[8:]: v for k, v in metrics[name].items() if k.startswith("grammar_") and k != "grammar_errors" and v}
        if kinds:
            log.warning("%s: %s output has grammar errors (mean per seed): %s", path, name, kinds)
    return FileResult(path, prompt, real, start_s, metrics, {k: v[0] for k, v in runs.items()})


# -- all files -----------------------------------------------------------------------------------------------------
def summarise(files: Sequence[FileResult]) -> dict[str, dict[str, float]]:
    """Means over files per system (and for the real continuations), NaN-aware."""
    summary: dict[str, dict[str, float]] = {}
    for name in (*_systems_of(files), "real"):
        keys = files[0].metrics[name].keys() if files else []
        summary[name] = {k: _nanmean([f.metrics[name][k] for f in files]) for k in keys}
    return summary


def _evaluate_path(generator: ChunkedGenerator, path: Path, cfg: EvalConfig, controls: Controls) -> FileResult | str:
    """The file's result, or why it was skipped ("unreadable" or "too_short")."""
    try:
        notes = read_midi(path)
    except ValueError as err:
        log.warning("skipping %s", err)
        return "unreadable"
    split = split_prompt(notes, cfg.prompt_seconds, cfg.continue_seconds, generator.tokenizer.config.grid_s)
    if split is None:
        log.info("skipping %s: too short for a prompt and a continuation", path)
        return "too_short"
    return evaluate_split(generator, str(path), *split, cfg, controls)


def evaluate(
    generator: ChunkedGenerator,
    folders: Sequence[str | Path],
    cfg: EvalConfig,
    controls: Controls,
    on_file: Callable[[int, int, str], None] | None = None,
) -> EvalReport:
    """Evaluate every readable, long-enough MIDI file under `folders` (at most `cfg.max_files` of them used)."""
    paths = find_midi_files(folders)
    if not paths:
        raise ValueError(f"no MIDI files (.mid, .midi) under {', '.join(map(str, folders))}")
    skipped = {"unreadable": 0, "too_short": 0}
    results: list[FileResult] = []
    for i, path in enumerate(paths):
        if cfg.max_files is not None and len(results) >= cfg.max_files:
            break
        outcome = _evaluate_path(generator, path, cfg, controls)
        if isinstance(outcome, FileResult):
            results.append(outcome)
        else:
            skipped[outcome] += 1
        if on_file:
            on_file(i + 1, len(paths), path.name)
    if not results:
        raise ValueError(f"no usable MIDI files: {skipped['unreadable']} unreadable, {skipped['too_short']} too short")
    return EvalReport(cfg, results, skipped, summarise(results))


# -- output --------------------------------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def summary_table(report: EvalReport):
    """A rich Table: one row per metric, columns model / markov / no_style / real."""
    from rich.table import Table

    table = Table(title=f"continuation metrics, {len(report.files)} files x {report.config.seeds} seeds")
    table.add_column("metric")
    systems = _systems_of(report.files)
    for name in (*systems, "real"):
        table.add_column(name, justify="right")
    for key, label, systems_only in TABLE_ROWS:
        cells = [_fmt(report.summary[name].get(key)) for name in systems]
        cells.append("" if systems_only else _fmt(report.summary["real"].get(key)))
        table.add_row(label, *cells)
    return table


def plot_pianorolls(report: EvalReport, path: str | Path) -> None:
    """One PNG: a row per file (first `plot_files`), a panel per system: prompt, real continuation, generated."""
    plt = pyplot()
    files = report.files[: report.config.plot_files]
    systems = _systems_of(files)
    fig, axes = plt.subplots(len(files), len(systems), figsize=(6 * len(systems), 3.2 * len(files)), squeeze=False)
    for row, result in zip(axes, files):
        for ax, name in zip(row, systems):
            draw_notes(ax, result.prompt, "0.55", 1.0)
            draw_notes(ax, result.real, "tab:blue", 0.45)
            draw_notes(ax, result.samples[name], "tab:red", 0.75)
            ax.axvline(result.start_s, color="k", linewidth=0.8, linestyle="--")
            ax.set_title(f"{Path(result.path).stem[:40]}: {name}", fontsize=9)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("pitch")
    fig.suptitle("grey: prompt, blue: real continuation, red: generated (seed 0)")
    fig.tight_layout()
    fig.savefig(str(path), dpi=90)
    plt.close(fig)
