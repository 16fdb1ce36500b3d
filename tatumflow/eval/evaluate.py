"""`tatumflow eval`: continue prompts cut from recordings and compare with how the music really went on.

Each MIDI file gives prompt / real-continuation pairs (`prompts`: its opening, or with `prompts_every_s` a prompt
every so many seconds). Three systems continue each prompt once per seed: `model` (the network with the preset's
controls), `markov` (the variable-order Markov baseline trained on the prompt) and `no_style` (the network with
style {"none": 1}, no guidance, everything else as `model`). When the controls turn the harmony prior on, a fourth
system, `no_harmony`, is the model with it off (the network alone). A control, `prompt_replay`, is real music that
is not the continuation: the prompt's own last `continue_seconds`, replayed (`prompts.replayed_prompt`, one per
pair, no seeds).

Metrics: those of `metrics` on the notes as generated (grammar errors must see them so), and the texture measures
of `texture` on the notes snapped to the generator's grid and clipped at the window's end, for every system and the
real continuation. Per pair they are averaged over seeds, the summary averages pairs (NaN-aware). Over all pairs,
`discriminator_auc` per system: how well logistic regression tells its continuations from the real ones,
cross-validated by recording (`discriminator`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..files import atomic_path
from ..generate.continuation import BestOf, continue_notes
from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..generate.window import Window
from ..notes import Note, find_midi_files, read_midi
from ..plots import draw_notes, pyplot
from .critic import critic_pick
from .discriminator import DiscriminatorConfig, cross_validated_auc, feature_vector
from .judges import Judges, judged_summary
from .markov import markov_continuation
from .metrics import basic_metrics, continuation_metrics, diversity
from .prompts import Split, pair_seed, prompt_splits, recording_of, replayed_prompt, split_prompt  # noqa: F401
from .texture import snap_to_grid, texture_measures

log = logging.getLogger(__name__)

SYSTEMS = ("model", "markov", "no_style")
NO_HARMONY = "no_harmony"
REPLAY = "prompt_replay"


@dataclass(frozen=True)
class EvalConfig:
    prompt_seconds: float = 20.0
    continue_seconds: float = 15.0
    seeds: int = 3
    max_files: int | None = None
    plot_files: int = 3
    prompts_every_s: float | None = None  # None: one prompt per file, its opening (see `prompts`)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    best_of: int = 1  # > 1: also the system "best_of_N": each window the critic's pick of N candidates

    def __post_init__(self) -> None:
        for name in ("prompt_seconds", "continue_seconds"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be in (0, 3600], got {value}")
        if not 1 <= self.seeds <= 100:
            raise ValueError(f"seeds must be in 1..100, got {self.seeds}")
        if self.max_files is not None and self.max_files < 1:
            raise ValueError(f"max_files must be >= 1, got {self.max_files}")
        if not 1 <= self.best_of <= 16:
            raise ValueError(f"best_of must be in 1..16, got {self.best_of}")
        if self.prompts_every_s is not None and not MIN_PROMPTS_EVERY_S <= self.prompts_every_s <= 3600:
            raise ValueError(f"prompts_every_s must be in [{MIN_PROMPTS_EVERY_S:g}, 3600], got {self.prompts_every_s}")


MIN_PROMPTS_EVERY_S = 1.0  # a prompt a second at most; and at most prompts.MAX_PROMPTS_PER_FILE of them


@dataclass
class FileResult:
    """One prompt / real-continuation pair of a file: the metrics per system (seed means) and of the real
    continuation, one sample per system, and the discriminator's feature vectors (one per seed; "real": one)."""

    path: str
    prompt: list[Note]
    real: list[Note]
    start_s: float
    metrics: dict[str, dict[str, float]]
    samples: dict[str, list[Note]] = field(default_factory=dict)  # the first seed's continuation per system
    recording: str = ""  # `prompts.recording_of(path)`: the discriminator's folds
    prompt_start_s: float = 0.0
    features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    judged: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # judges.py, per system and "real"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "recording": self.recording, "prompt_start_s": self.prompt_start_s,
                "prompt_notes": len(self.prompt), "real_notes": len(self.real),
                "continuation_start_s": self.start_s, **self.metrics}


@dataclass
class EvalReport:
    config: EvalConfig
    files: list[FileResult]
    skipped: dict[str, int]
    summary: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": asdict(self.config), "n_files": len({f.path for f in self.files}),
                               "n_pairs": len(self.files), "skipped": self.skipped}
        out.update(self.summary)
        out["files"] = [f.to_dict() for f in self.files]
        return json_safe(out)


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


# -- one pair ------------------------------------------------------------------------------------------------------
def no_style(controls: Controls) -> Controls:
    """The controls of the `no_style` baseline: the network's "no style" vector, no guidance, all else kept."""
    return replace(controls, style={"none": 1.0}, guidance=1.0)


def systems_for(controls: Controls) -> tuple[str, ...]:
    """The systems compared under these controls (see the module docstring)."""
    return (*SYSTEMS, NO_HARMONY) if controls.harmony_weight > 0 else SYSTEMS


def _systems_of(files: Sequence[FileResult]) -> tuple[str, ...]:
    return tuple(k for k in files[0].metrics if k != "real") if files else SYSTEMS


def _continuations(
    generator: ChunkedGenerator, split: Split, cfg: EvalConfig, controls: Controls, best_of: BestOf | None = None
) -> dict[str, list[list[Note]]]:
    """Every system's continuation for every seed (`pair_seed`: the prompt's own, shared by the systems); the replayed
    prompt once. With `best_of`, also the model's best-of-N continuation (its candidate 0 is the model's window)."""
    prompt, start_s, seconds = split.prompt, split.start_s, cfg.continue_seconds
    out: dict[str, list[list[Note]]] = {name: [] for name in systems_for(controls)}
    for seed in (pair_seed(prompt, s) for s in range(cfg.seeds)):
        frame = Window(seed=seed)
        out["model"].append(continue_notes(generator, prompt, seconds, controls, frame))
        out["markov"].append(markov_continuation(prompt, start_s, seconds, seed))
        out["no_style"].append(continue_notes(generator, prompt, seconds, no_style(controls), frame))
        if NO_HARMONY in out:
            plain = replace(controls, harmony_weight=0.0)
            out[NO_HARMONY].append(continue_notes(generator, prompt, seconds, plain, frame))
        if best_of is not None:
            out.setdefault(f"best_of_{best_of.n}", []).append(
                continue_notes(generator, prompt, seconds, controls, frame, best_of=best_of))
    out[REPLAY] = [replayed_prompt(prompt, start_s, seconds)]
    return out


def _mean_metrics(per_seed: list[dict[str, float]]) -> dict[str, float]:
    return {k: _nanmean([m[k] for m in per_seed]) for k in per_seed[0]}


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _measured(notes: list[Note], end_s: float, grid_s: float) -> tuple[dict[str, float], np.ndarray]:
    """Texture measures and discriminator features of one note list, snapped to the grid and clipped at `end_s`."""
    view = snap_to_grid(notes, grid_s, end_s)
    measures = texture_measures(view, grid_s)
    return measures, feature_vector(view, measures)


def _warn_grammar(path: str, metrics: dict[str, dict[str, float]]) -> None:
    for name, values in metrics.items():
        kinds = {k[8:]: v for k, v in values.items() if k.startswith("grammar_") and k != "grammar_errors" and v}
        if kinds:
            log.warning("%s: %s output has grammar errors (mean per seed): %s", path, name, kinds)


def evaluate_split(
    generator: ChunkedGenerator, path: str, split: Split, cfg: EvalConfig, controls: Controls, recording: str = "",
    judges: Judges | None = None,
) -> FileResult:
    """Metrics of all systems on one prompt / real continuation pair."""
    best_of = None
    if cfg.best_of > 1:
        if judges is None or judges.critic is None:
            raise ValueError("best of N needs a critic to pick (--critic)")
        best_of = BestOf(cfg.best_of, critic_pick(judges.critic, generator.tokenizer))
    runs = _continuations(generator, split, cfg, controls, best_of)
    start_s, seconds, grid_s = split.start_s, cfg.continue_seconds, generator.tokenizer.config.grid_s
    metrics: dict[str, dict[str, float]] = {}
    features: dict[str, list[np.ndarray]] = {}
    for name, continuations in runs.items():
        measured = [_measured(c, start_s + seconds, grid_s) for c in continuations]
        per_seed = [continuation_metrics(c, split.real, start_s, seconds) | measures
                    for c, (measures, _) in zip(continuations, measured)]
        metrics[name] = _mean_metrics(per_seed) | {"diversity": diversity(continuations)}
        features[name] = [f for _, f in measured]
    real_measures, real_features = _measured(split.real, start_s + seconds, grid_s)
    metrics["real"] = basic_metrics(split.real, seconds) | real_measures
    features["real"] = [real_features]
    _warn_grammar(path, {k: v for k, v in metrics.items() if k != "real"})
    samples = {k: v[0] for k, v in runs.items()}
    judged = {}
    if judges:
        tok = generator.tokenizer
        judged = {k: judges.judge(tok, split.prompt, v, start_s, seconds) for k, v in (*runs.items(),
                                                                                        ("real", [split.real]))}
    return FileResult(path, split.prompt, split.real, start_s, metrics, samples, recording, split.prompt_start_s,
                      features, judged)


# -- all files -----------------------------------------------------------------------------------------------------
def summarise(files: Sequence[FileResult]) -> dict[str, dict[str, float]]:
    """Means over pairs per system (and for the real continuations), NaN-aware."""
    summary: dict[str, dict[str, float]] = {}
    for name in (*_systems_of(files), "real"):
        keys = files[0].metrics[name].keys() if files else []
        summary[name] = {k: _nanmean([f.metrics[name][k] for f in files]) for k in keys}
    return summary


def discriminator_aucs(files: Sequence[FileResult], config: DiscriminatorConfig) -> dict[str, float]:
    """Per system: the cross-validated AUC of real continuations (label 0) against its continuations (label 1,
    every seed), folds by recording."""
    real = [f.features["real"][0] for f in files]
    aucs: dict[str, float] = {}
    for name in _systems_of(files):
        generated = [(v, f.recording) for f in files for v in f.features[name]]
        x = np.array(real + [v for v, _ in generated])
        y = np.concatenate([np.zeros(len(real)), np.ones(len(generated))])
        groups = [f.recording for f in files] + [g for _, g in generated]
        aucs[name] = cross_validated_auc(x, y, groups, config)
    return aucs


def _evaluate_path(
    generator: ChunkedGenerator, path: Path, cfg: EvalConfig, controls: Controls, judges: Judges | None = None
) -> list[FileResult] | str:
    """The file's pairs' results, or why it was skipped ("unreadable" or "too_short")."""
    try:
        notes = read_midi(path)
    except ValueError as err:
        log.warning("skipping %s", err)
        return "unreadable"
    grid_s = generator.tokenizer.config.grid_s
    splits = prompt_splits(notes, cfg.prompt_seconds, cfg.continue_seconds, grid_s, cfg.prompts_every_s)
    if not splits:
        log.info("skipping %s: too short for a prompt and a continuation", path)
        return "too_short"
    recording = recording_of(path)
    return [evaluate_split(generator, str(path), split, cfg, controls, recording, judges) for split in splits]


def evaluate(
    generator: ChunkedGenerator,
    folders: Sequence[str | Path],
    cfg: EvalConfig,
    controls: Controls,
    on_file: Callable[[int, int, str], None] | None = None,
    judges: Judges | None = None,
) -> EvalReport:
    """Evaluate every readable, long-enough MIDI file under `folders` (at most `cfg.max_files` of them used);
    with `judges`, the learned critic's AUC and the pianist classifier's Tatum share too (judges.py)."""
    paths = find_midi_files(folders)
    if not paths:
        raise ValueError(f"no MIDI files (.mid, .midi) under {', '.join(map(str, folders))}")
    skipped = {"unreadable": 0, "too_short": 0}
    results: list[FileResult] = []
    used = 0
    for i, path in enumerate(paths):
        if cfg.max_files is not None and used >= cfg.max_files:
            break
        outcome = _evaluate_path(generator, path, cfg, controls, judges)
        if isinstance(outcome, str):
            skipped[outcome] += 1
        else:
            results.extend(outcome)
            used += 1
        if on_file:
            on_file(i + 1, len(paths), path.name)
    if not results:
        raise ValueError(f"no usable MIDI files: {skipped['unreadable']} unreadable, {skipped['too_short']} too short")
    summary = summarise(results)
    for name, auc in discriminator_aucs(results, cfg.discriminator).items():
        summary[name]["discriminator_auc"] = auc
    for name, values in judged_summary([f.judged for f in results if f.judged]).items():
        summary[name].update(values)
    return EvalReport(cfg, results, skipped, summary)


# -- output (the table: `table.summary_table`) ---------------------------------------------------------------------
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
    try:
        with atomic_path(path) as tmp:
            fig.savefig(str(tmp), dpi=90, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
