"""The voicing vocabulary (issue 28, item 5): the chords' interval content and the register, for Art Tatum, the model
and the corpus, on the tuning split (the report split is never read).

Measures: `tatumflow.eval.texture.VOICING_KEYS` (the shares of the chords' adjacent intervals by class, chords on a
bass tenth, the 10-90 % register range; definitions in that module), and three chord measures for context. Every
excerpt is 15 s, snapped to the 10 ms grid and clipped at its end, measured exactly as `tatumflow eval` measures it.

Shares of the chords' intervals are of all adjacent intervals; "chords on a bass tenth / octave" and "top in octaves"
are shares of the onsets with >= 2 pitches (the two lowest / highest notes).

- **Tatum**: his tuning split (`tune.splits.tatum_split`, kong transcription), a 20 s prompt every 30 s
  (`eval.prompts.prompt_splits`): the real 15 s continuations.
- **model / no style / no harmony / Markov**: `eval.evaluate.evaluate_split` on the same pairs (the embedded
  default, preset `tatum`, `--seeds` seeds, each prompt its own; `no_style` is the same network with style
  {"none": 1}, `no_harmony` the preset without its harmony prior, `markov` the prompt-trained Markov chain); per pair
  the seed mean, as `tatumflow eval` reports.
- **corpus**: `--corpus` recordings of other pianists (kong), drawn without replacement in a fixed random order
  (`--seed`) among those long enough for one excerpt; the real continuations of the same 20 s / 15 s / 30 s cut, at
  most `--per-recording` excerpts per recording (the first ones).
- **Tatum, training split**: the same cut over his training-split recordings (also at most `--per-recording` each):
  whether the tuning split's five recordings speak for him.

Each value is the mean over excerpts (NaN-aware: an excerpt without a chord has no interval shares). Intervals: a
cluster bootstrap over recordings (`--resamples`), 95 %: model - Tatum resamples his recordings with their prompts
(paired: the same excerpts); corpus - Tatum resamples both sides independently. With five tuning recordings the
paired interval is coarse.

    OMP_NUM_THREADS=1 python benchmarks/training/v3/vocabulary.py --data ../shared/data/pijama
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tatumflow.bench.common import environment
from tatumflow.eval.evaluate import EvalConfig, evaluate_split, json_safe
from tatumflow.eval.prompts import prompt_splits
from tatumflow.eval.texture import INTERVAL_KEYS, VOICING_KEYS, snap_to_grid, texture_measures
from tatumflow.generate.load import load_generator
from tatumflow.notes import read_midi
from tatumflow.presets import controls_from
from tatumflow.stamp import STAMP, stamp
from tatumflow.tune.splits import TATUM, Recording, pijama_recordings, tatum_split

HERE = Path(__file__).resolve().parent
PROMPT_S, CONTINUE_S, EVERY_S, GRID_S = 20.0, 15.0, 30.0, 0.01
PRESET = "tatum"  # its harmony prior is on, so `evaluate_split` also plays the preset without it ("no_harmony")
KEYS = (*VOICING_KEYS, "notes_per_onset", "chord_share", "voicing_width_chords")
SYSTEMS = ("model", "no_style", "no_harmony", "markov")
COLUMNS = ("tatum", *SYSTEMS, "corpus", "tatum_training")
LABELS = {"tatum": "Tatum", "model": "model", "no_style": "no style", "no_harmony": "no harmony prior",
          "markov": "Markov", "corpus": "corpus", "tatum_training": "Tatum (training split)"}
ROW_LABELS = {
    "interval_seconds": "seconds (1-2)", "interval_thirds": "thirds (3-4)",
    "interval_fourths_fifths": "fourths/fifths (5, 7)", "interval_tritones": "tritones (6)",
    "interval_sixths_sevenths": "sixths/sevenths (8-11)", "interval_octaves": "octaves (12)",
    "interval_wider": "wider than an octave", "bass_tenth_share": "chords on a bass tenth",
    "bass_octave_share": "chords on a bass octave", "top_octave_share": "chords with the top in octaves",
    "register_spread": "register spread (10-90 %, semitones)", "notes_per_onset": "notes per onset",
    "chord_share": ">= 3-note onsets", "voicing_width_chords": "voicing width, 2+ note onsets",
}

Rows = dict[str, list[dict[str, float]]]  # recording key -> one measure dict per excerpt


def real_rows(recordings: Sequence[Recording], per_recording: int | None, want: int | None = None) -> Rows:
    """The measures of every real 15 s continuation of the recordings' first files (the kong transcription), at most
    `per_recording` of them each; with `want`, the first `want` recordings that have an excerpt."""
    out: Rows = {}
    for rec in recordings:
        if want is not None and len(out) >= want:
            break
        splits = prompt_splits(read_midi(rec.files[0]), PROMPT_S, CONTINUE_S, GRID_S, EVERY_S)[:per_recording]
        if splits:
            out[rec.key] = [texture_measures(snap_to_grid(s.real, GRID_S, s.start_s + CONTINUE_S), GRID_S)
                            for s in splits]
    return out


def system_rows(recordings: Sequence[Recording], seeds: int, preset: str = PRESET) -> dict[str, Rows]:
    """Tatum's real continuations and every system's (seed means) of the same tuning-split prompts."""
    generator = load_generator(None, "cpu")
    cfg, controls = EvalConfig(PROMPT_S, CONTINUE_S, seeds), controls_from(preset)
    out: dict[str, Rows] = {name: {} for name in ("tatum", *SYSTEMS)}
    for rec in recordings:
        path = rec.files[0]
        for split in prompt_splits(read_midi(path), PROMPT_S, CONTINUE_S, GRID_S, EVERY_S):
            result = evaluate_split(generator, str(path), split, cfg, controls, rec.key)
            for name in out:
                out[name].setdefault(rec.key, []).append(result.metrics["real" if name == "tatum" else name])
    return out


def corpus_sample(recordings: Sequence[Recording], seed: int) -> list[Recording]:
    """Every recording of another pianist than Tatum, in a fixed random order."""
    others = [r for r in recordings if r.pianist != TATUM]
    return [others[i] for i in np.random.default_rng(seed).permutation(len(others))]


# -- summary and intervals -----------------------------------------------------------------------------------------
def sums(rows: Rows, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per recording: the sum of the excerpts' finite values of `key`, and how many there are."""
    values = [[m.get(key, math.nan) for m in ms] for ms in rows.values()]
    finite = [[v for v in vs if v is not None and math.isfinite(v)] for vs in values]
    return np.array([sum(f) for f in finite], dtype=float), np.array([len(f) for f in finite], dtype=float)


def mean(rows: Rows, key: str) -> float:
    total, count = sums(rows, key)
    return float(total.sum() / count.sum()) if count.sum() else math.nan


def resampled(rows: Rows, key: str, picks: np.ndarray) -> np.ndarray:
    """The excerpt mean of each resample of recordings (`picks`: [resamples, recordings] indices)."""
    total, count = sums(rows, key)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total[picks].sum(axis=1) / count[picks].sum(axis=1)


def interval(stat: np.ndarray) -> list[float]:
    return [round(float(q), 5) for q in np.nanquantile(stat, [0.025, 0.975])]


def differences(groups: dict[str, Rows], resamples: int, seed: int) -> dict[str, dict[str, dict]]:
    """Per key, model - Tatum (paired over his recordings) and corpus - Tatum (independent), 95 % intervals."""
    rng = np.random.default_rng(seed)
    n_tatum, n_corpus = len(groups["tatum"]), len(groups["corpus"])
    paired = rng.integers(0, n_tatum, (resamples, n_tatum))
    other = rng.integers(0, n_corpus, (resamples, n_corpus))
    out: dict[str, dict[str, dict]] = {}
    for key in KEYS:
        tatum = resampled(groups["tatum"], key, paired)
        out[key] = {}
        for name in ("model", "no_style"):
            out[key][f"{name}_minus_tatum"] = {
                "mean": round(mean(groups[name], key) - mean(groups["tatum"], key), 5),
                "ci95": interval(resampled(groups[name], key, paired) - tatum)}
        out[key]["corpus_minus_tatum"] = {
            "mean": round(mean(groups["corpus"], key) - mean(groups["tatum"], key), 5),
            "ci95": interval(resampled(groups["corpus"], key, other) - tatum)}
    return out


# -- output --------------------------------------------------------------------------------------------------------
def _f(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _ci(d: dict) -> str:
    low, high = d["ci95"]
    mark = "" if low <= 0 <= high else " *"
    return f"{d['mean']:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"


def nearer(means: dict[str, float], name: str) -> str:
    """Where `name`'s value lies against Tatum's and the corpus's: between them nearer one ("Tatum", "corpus"), or
    outside them ("past Tatum", "past the corpus": beyond the one it is nearer, away from the other)."""
    tatum, corpus, value = means["tatum"], means["corpus"], means[name]
    if not all(math.isfinite(v) for v in (tatum, corpus, value)):
        return "-"
    side = "corpus" if abs(value - corpus) < abs(value - tatum) else "Tatum"
    between = min(tatum, corpus) <= value <= max(tatum, corpus)
    return side if between else ("past the corpus" if side == "corpus" else "past Tatum")


def distances(means: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The L1 distance between two columns' interval-class shares (0: the same mix; at most 2)."""
    return {a: {b: round(sum(abs(means[a][k] - means[b][k]) for k in INTERVAL_KEYS), 4)
                for b in ("tatum", "corpus", "tatum_training")} for a in COLUMNS}


def markdown(result: dict) -> str:
    """The table: each measure per column, the model's ratio to Tatum's, the differences' intervals."""
    means, diffs = result["means"], result["differences"]
    head = ["measure", *(LABELS[c] for c in COLUMNS), "model / Tatum", "model - Tatum (95 %)",
            "no style - Tatum (95 %)", "corpus - Tatum (95 %)", "model lies"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key in KEYS:
        row = {c: means[c][key] for c in COLUMNS}
        digits = 2 if key in ("register_spread", "voicing_width_chords", "notes_per_onset") else 3
        ratio = row["model"] / row["tatum"] if row["tatum"] else math.nan
        cells = [ROW_LABELS[key], *(_f(row[c], digits) for c in COLUMNS), _f(ratio, 2),
                 _ci(diffs[key]["model_minus_tatum"]), _ci(diffs[key]["no_style_minus_tatum"]),
                 _ci(diffs[key]["corpus_minus_tatum"]), nearer(row, "model")]
        lines.append("| " + " | ".join(cells) + " |")
    n = result["counts"]
    notes = (f"\nExcerpts (recordings): Tatum {n['tatum'][0]} ({n['tatum'][1]}), each system the same prompts x "
             f"{result['config']['seeds']} seeds; corpus {n['corpus'][0]} ({n['corpus'][1]}); Tatum's training split "
             f"{n['tatum_training'][0]} ({n['tatum_training'][1]}). Interval shares: of all adjacent intervals of the "
             "chords, mean over excerpts. [ ]: cluster-bootstrap 95 % interval over recordings; *: excludes 0.\n")
    far = ["| L1 distance of the interval-class mix to | " + " | ".join(LABELS[c] for c in COLUMNS) + " |",
           "|" + " --- |" * (len(COLUMNS) + 1)]
    for b in ("tatum", "corpus", "tatum_training"):
        far.append(f"| {LABELS[b]} | " + " | ".join(_f(result["distances"][a][b]) for a in COLUMNS) + " |")
    return "\n".join(lines) + "\n" + notes + "\n" + "\n".join(far) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the PiJAMA root")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--corpus", type=int, default=200, help="recordings of other pianists")
    ap.add_argument("--per-recording", type=int, default=12, help="excerpts at most per corpus / training recording")
    ap.add_argument("--seed", type=int, default=0, help="the corpus sample's and the bootstrap's")
    ap.add_argument("--resamples", type=int, default=4000)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    recordings = pijama_recordings(args.data)
    training, tuning = tatum_split(recordings)
    groups = system_rows(tuning, args.seeds)
    generated_s = time.perf_counter() - t0
    groups["corpus"] = real_rows(corpus_sample(recordings, args.seed), args.per_recording, args.corpus)
    groups["tatum_training"] = real_rows(training, args.per_recording)
    pianists = {r.key: r.pianist for r in recordings}
    env = environment(torch.device("cpu"), 1)
    result = {
        "environment": env, "checkpoint": "embedded default", STAMP: stamp(env["git_commit"] or "unknown"),
        "config": {k: v for k, v in vars(args).items() if k not in ("data", "out")} | {
            "preset": PRESET, "prompt_s": PROMPT_S, "continue_s": CONTINUE_S, "every_s": EVERY_S, "grid_s": GRID_S,
            "transcription": "kong"},
        "tuning_recordings": [r.key for r in tuning],
        "corpus_recordings": {k: pianists[k] for k in groups["corpus"]},
        "counts": {c: [sum(map(len, groups[c].values())), len(groups[c])] for c in COLUMNS},
        "means": {c: {k: round(mean(groups[c], k), 5) for k in KEYS} for c in COLUMNS},
        "differences": differences(groups, args.resamples, args.seed),
        "distances": {},
        "per_recording": {c: {rec: {k: round(float(np.nanmean([m[k] for m in ms])), 5)
                                    if any(math.isfinite(m[k]) for m in ms) else None for k in KEYS}
                              for rec, ms in groups[c].items()} for c in ("tatum", "model", "no_style")},
        "seconds": {"tuning_split_systems": round(generated_s, 1),
                    "total": round(time.perf_counter() - t0, 1)},
    }
    result["distances"] = distances(result["means"])
    out = Path(args.out)
    (out / "vocabulary.json").write_text(json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n")
    (out / "vocabulary.md").write_text(markdown(result))
    print(markdown(result))
    print(f"{result['seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
