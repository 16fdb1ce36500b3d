"""Round trip MIDI -> notes -> steps -> notes -> MIDI on every recording of PiJAMA (both transcriptions).

    nice -n 10 python benchmarks/roundtrip/run.py [--root PATH] [--processes 2] [--limit N]

Writes `results.json` (totals overall and per transcription, the worst files, the git commit) and `results.md`
next to this script. Exits 1 if anything crashed or a target is missed (kept >= 99.5 %, onset error <= 5 ms).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

from tatumflow.eval.roundtrip import TRANSCRIPTIONS, check_file, corpus_files, default_pijama_root, summarise

HERE = Path(__file__).resolve().parent
KEPT_TARGET = 0.995
ONSET_TARGET_MS = 5.0


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(files: list[Path], processes: int) -> list[dict]:
    results = []
    with multiprocessing.Pool(processes) as pool:
        for i, result in enumerate(pool.imap_unordered(check_file, files, chunksize=8), 1):
            results.append(result)
            if i % 250 == 0 or i == len(files):
                logging.info("%d / %d files", i, len(files))
    return sorted(results, key=lambda r: r["path"])


def report(results: list[dict], root: Path, seconds: float, processes: int) -> dict:
    ok = [r for r in results if "error" not in r]
    worst_kept = sorted(ok, key=lambda r: r["kept_fraction"])[:10]
    worst_onset = sorted(ok, key=lambda r: -r["onset_error_ms_max"])[:10]
    rel = lambda r: str(Path(r["path"]).relative_to(root))  # noqa: E731
    return {
        "commit": git_commit(),
        "processes": processes,
        "wall_seconds": round(seconds, 1),
        "total": summarise(results),
        "by_transcription": {
            t: summarise([r for r in results if rel(r).split("/")[0] == t]) for t in TRANSCRIPTIONS
        },
        "worst_kept": [{"file": rel(r), "kept_fraction": r["kept_fraction"], "notes": r["notes"]} for r in worst_kept],
        "worst_onset": [{"file": rel(r), "onset_error_ms_max": r["onset_error_ms_max"]} for r in worst_onset],
    }


def markdown(rep: dict) -> str:
    rows = [("all", rep["total"])] + list(rep["by_transcription"].items())
    lines = [
        "# Round trip on PiJAMA",
        "",
        f"Commit `{rep['commit'][:12]}`, {rep['processes']} processes, {rep['wall_seconds']} s wall.",
        "",
        "| transcription | files | crashes | notes | hours | kept min | kept mean | notes lost | onset err max (ms) "
        "| onset err median (ms) | silences shortened (files) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['files']} | {s['crashes']} | {s['notes']:,} | {s['hours']} | {s['kept_fraction_min']:.5f} "
            f"| {s['kept_fraction_mean']:.6f} | {s['notes_lost']} | {s['onset_error_ms_max']:.3f} "
            f"| {s['onset_error_ms_median_of_medians']:.3f} | {s['silences_shortened']} "
            f"({s['files_with_shortened_silences']}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=default_pijama_root(), help="the PiJAMA folder")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (a quick check)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for results.json and results.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    files = corpus_files(args.root)
    if not files:
        print(f"no MIDI files under {args.root}", file=sys.stderr)
        return 2
    files = files[: args.limit] if args.limit else files
    start = time.perf_counter()
    results = run(files, args.processes)
    rep = report(results, args.root, time.perf_counter() - start, args.processes)
    (args.out / "results.json").write_text(json.dumps(rep, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(rep))
    print(markdown(rep))
    t = rep["total"]
    passed = not t["crashes"] and t["kept_fraction_min"] >= KEPT_TARGET and t["onset_error_ms_max"] <= ONSET_TARGET_MS
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
