"""Does a candidate default pass issue 15's ship criteria? Reads `tatumflow eval --json` output (the report split,
default preset) and, optionally, `tatumflow bench --json` output and the shipped default's eval JSON, and prints one
line per criterion with its value, its bound and whether it holds; exits 0 only when every one holds.

    python benchmarks/eval/ship_check.py benchmarks/eval/report/eval_v2_report.json \
        --bench benchmarks/full/results_cpu.json --against benchmarks/eval/report/eval_tatum_report.json

The criteria: discriminator AUC <= 0.85; repeated top note <= 4 %; notes per onset, share of >= 3-note onsets,
voicing width, mean duration, velocity spread and tempo regularity each within 15 % of the real continuation's;
pitch-class KL below and PCTM above both the Markov and the no-style baselines; 0 grammar errors; the 22-note
window p99 <= 100 ms. With `--against`: a lower AUC than the shipped default's, and no texture measure further from
the real value than the shipped default's is.

`--interval` adds, where the JSON carries its per-prompt results (`files`), a 90 % interval to each check that is a
mean over prompts: a cluster bootstrap that resamples whole recordings with their prompts (prompts of one recording
are not independent), 2,000 resamples. Texture measures get the interval of their signed deviation from the real
value, KL and PCTM that of their margin over the nearer baseline (> 0: ahead), the repeated top note its own. It
says which verdicts the split's size can tell apart from their bound; the AUC (one cross-validated number) gets none.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

TEXTURE = ("notes_per_onset", "chord_share", "voicing_width", "duration_mean_s", "velocity_std", "tempo_regularity")
MAX_AUC, MAX_REPEATED_TOP, TEXTURE_TOLERANCE, MAX_WINDOW_P99_MS = 0.85, 0.04, 0.15, 100.0
RESAMPLES, LEVEL = 2000, 0.90


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    bound: str
    holds: bool
    interval: tuple[str, float, float] | None = None  # (what, low, high): see `with_intervals`


def relative_error(result: dict, system: str, key: str) -> float:
    real = result["real"][key]
    return abs(result[system][key] - real) / abs(real)


def criteria(result: dict, bench: dict | None = None, against: dict | None = None) -> list[Check]:
    model, markov, no_style = result["model"], result["markov"], result["no_style"]
    auc = model["discriminator_auc"]
    checks = [Check("discriminator AUC", auc, f"<= {MAX_AUC}", auc <= MAX_AUC),
              Check("repeated top note", model["repeated_top_note"], f"<= {MAX_REPEATED_TOP}",
                    model["repeated_top_note"] <= MAX_REPEATED_TOP)]
    for key in TEXTURE:
        err = relative_error(result, "model", key)
        checks.append(Check(f"{key}: off the real {result['real'][key]:.4g} by", err, f"<= {TEXTURE_TOLERANCE}",
                            err <= TEXTURE_TOLERANCE))
    kl, pctm = model["pitch_class_kl"], model["pctm_cosine"]
    checks += [
        Check("pitch-class KL", kl, f"< {min(markov['pitch_class_kl'], no_style['pitch_class_kl']):.4f} "
              "(Markov, no-style)", kl < markov["pitch_class_kl"] and kl < no_style["pitch_class_kl"]),
        Check("PCTM", pctm, f"> {max(markov['pctm_cosine'], no_style['pctm_cosine']):.4f} (Markov, no-style)",
              pctm > markov["pctm_cosine"] and pctm > no_style["pctm_cosine"]),
        Check("grammar errors", model["grammar_errors"], "== 0", model["grammar_errors"] == 0),
    ]
    if bench is not None:
        p99 = bench["window_ms_p99"]
        checks.append(Check("22-note window p99 (ms)", p99, f"<= {MAX_WINDOW_P99_MS}", p99 <= MAX_WINDOW_P99_MS))
    if against is not None:
        old_auc = against["model"]["discriminator_auc"]
        checks.append(Check("AUC against the shipped default's", auc, f"< {old_auc:.4f}", auc < old_auc))
        for key in TEXTURE:
            err, old = relative_error(result, "model", key), relative_error(against, "model", key)
            checks.append(Check(f"{key}: off the real, against the shipped default's", err, f"<= {old:.4f}",
                                err <= old))
    return checks


def _recording_means(result: dict) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per recording, the mean over its prompts of every (system, key) the per-prompt results hold: arrays
    [recordings], and the number of prompts of each recording (the bootstrap's weights)."""
    by_recording: dict[str, list[dict]] = defaultdict(list)
    for pair in result["files"]:
        by_recording[pair["recording"]].append(pair)
    columns: dict[str, list[float]] = defaultdict(list)
    for pairs in by_recording.values():
        for system in ("model", "markov", "no_style", "real"):
            for key in set(pairs[0][system]) - {"diversity"}:
                values = [p[system][key] for p in pairs if p[system].get(key) is not None]
                columns[f"{system}.{key}"].append(float(np.nanmean(values)) if values else float("nan"))
    sizes = np.array([len(pairs) for pairs in by_recording.values()], dtype=float)
    return {k: np.array(v) for k, v in columns.items()}, sizes


def with_intervals(checks: list[Check], result: dict, resamples: int = RESAMPLES, seed: int = 0) -> list[Check]:
    """`checks` with a `LEVEL` cluster-bootstrap interval on those that are means over the per-prompt results
    (resampling recordings; the summaries are means over prompts, so each recording weighs its prompt count)."""
    if not result.get("files"):
        return checks
    columns, sizes = _recording_means(result)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sizes), size=(resamples, len(sizes)))
    counts = np.stack([np.bincount(row, minlength=len(sizes)) for row in picks]) * sizes  # prompts per recording

    def mean(column: str) -> np.ndarray:  # [resamples]: the prompt-weighted mean of each resample
        values = columns[column]
        ok = np.isfinite(values)
        return (counts[:, ok] @ values[ok]) / counts[:, ok].sum(axis=1)

    def interval(what: str, stat: np.ndarray) -> tuple[str, float, float]:
        low, high = np.quantile(stat, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return what, float(low), float(high)

    out = []
    for c in checks:
        key = c.name.split(":")[0]
        if key in TEXTURE and "against" not in c.name:
            c = replace(c, interval=interval("deviation", mean(f"model.{key}") / mean(f"real.{key}") - 1))
        elif key == "repeated top note":
            c = replace(c, interval=interval("value", mean("model.repeated_top_note")))
        elif key == "pitch-class KL":
            nearer = np.minimum(mean("markov.pitch_class_kl"), mean("no_style.pitch_class_kl"))
            c = replace(c, interval=interval("margin", nearer - mean("model.pitch_class_kl")))
        elif key == "PCTM":
            nearer = np.maximum(mean("markov.pctm_cosine"), mean("no_style.pctm_cosine"))
            c = replace(c, interval=interval("margin", mean("model.pctm_cosine") - nearer))
        out.append(c)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_json", type=Path, help="`tatumflow eval --json` of the candidate")
    ap.add_argument("--bench", type=Path, help="`tatumflow bench --json` of the candidate (window p99)")
    ap.add_argument("--against", type=Path, help="`tatumflow eval --json` of the shipped default, same split")
    ap.add_argument("--interval", action="store_true",
                    help=f"a {LEVEL * 100:.0f}%% interval per check, resampling recordings (from the per-prompt "
                    "results)")
    args = ap.parse_args(argv)
    load = lambda p: json.loads(p.read_text()) if p else None  # noqa: E731
    result = load(args.eval_json)
    checks = criteria(result, load(args.bench), load(args.against))
    if args.interval:
        checks = with_intervals(checks, result)
    for c in checks:
        shown = f" [{c.interval[0]} {c.interval[1]:+.4f} .. {c.interval[2]:+.4f}]" if c.interval else ""
        print(f"{'ok  ' if c.holds else 'FAIL'} {c.name}: {c.value:.4g} (needs {c.bound}){shown}")
    failed = sum(not c.holds for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} hold" + ("" if failed else ": ship it"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
