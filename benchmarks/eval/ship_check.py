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
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

TEXTURE = ("notes_per_onset", "chord_share", "voicing_width", "duration_mean_s", "velocity_std", "tempo_regularity")
MAX_AUC, MAX_REPEATED_TOP, TEXTURE_TOLERANCE, MAX_WINDOW_P99_MS = 0.85, 0.04, 0.15, 100.0


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    bound: str
    holds: bool


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_json", type=Path, help="`tatumflow eval --json` of the candidate")
    ap.add_argument("--bench", type=Path, help="`tatumflow bench --json` of the candidate (window p99)")
    ap.add_argument("--against", type=Path, help="`tatumflow eval --json` of the shipped default, same split")
    args = ap.parse_args(argv)
    load = lambda p: json.loads(p.read_text()) if p else None  # noqa: E731
    checks = criteria(load(args.eval_json), load(args.bench), load(args.against))
    for c in checks:
        print(f"{'ok  ' if c.holds else 'FAIL'} {c.name}: {c.value:.4g} (needs {c.bound})")
    failed = sum(not c.holds for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} hold" + ("" if failed else ": ship it"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
