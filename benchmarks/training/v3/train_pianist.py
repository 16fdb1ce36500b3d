"""Train the pianist classifier (`tatumflow/eval/pianist.py`) on PiJAMA and measure it on recordings it never saw.

The pianists with the most material (total duration in pijama.csv), Art Tatum among them; kong transcriptions.
Split by recording (a hash of the recording key, `--test-fraction` of each pianist's recordings held out; Tatum's
recordings are his training split only: his held-out tuning and report recordings are not read at all). Excerpts: 15 s
every 30 s through each recording (at most `--excerpts` per recording, at most `--recordings` recordings per
pianist, chosen by the same hash, so that Dick Hyman's 284 recordings do not drown the rest).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/training/v3/train_pianist.py \
        --data ../shared/data/pijama --out benchmarks/training/v3/pianist
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from tatumflow.eval.pianist import fit_pianists, pianist_features, save_pianist
from tatumflow.notes import read_midi
from tatumflow.train.data import _unit_hash
from tatumflow.tune.splits import TATUM, pijama_recordings, tatum_split

SECONDS = 15.0


def top_pianists(root: Path, n: int) -> list[str]:
    total: dict[str, float] = defaultdict(float)
    with open(root / "pijama.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            total[row["artist"].strip()] += float(row["duration_sec"] or 0)
    return sorted(total, key=lambda a: -total[a])[:n]


def excerpts(path: Path, limit: int) -> list[np.ndarray]:
    try:
        notes = read_midi(path)
    except ValueError:
        return []
    if not notes:
        return []
    t0, end = notes[0].onset_s, max(n.end_s for n in notes)
    out = []
    for k in range(limit):
        s = t0 + 30.0 * k
        if s + SECONDS > end:
            break
        out.append(pianist_features([n for n in notes if s <= n.onset_s < s + SECONDS], SECONDS))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pianists", type=int, default=20)
    ap.add_argument("--recordings", type=int, default=36)
    ap.add_argument("--excerpts", type=int, default=8)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--l2", type=float, default=1e-3)
    args = ap.parse_args()
    t0 = time.time()
    names = top_pianists(args.data, args.pianists)
    recordings = pijama_recordings(args.data)
    tatum_train, _ = tatum_split(recordings)
    allowed = {r.key for r in tatum_train}
    rows: dict[str, list] = {"train": [], "test": []}
    for name in names:
        mine = [r for r in recordings if r.pianist == name and (name != TATUM or r.key in allowed)]
        mine = sorted(mine, key=lambda r: _unit_hash(r.key, 1))[: args.recordings]
        for r in mine:
            side = "test" if _unit_hash(r.key, 2) < args.test_fraction else "train"
            rows[side] += [(x, name, r.key) for x in excerpts(r.files[0], args.excerpts)]
    x_train = np.array([x for x, _, _ in rows["train"]])
    clf = fit_pianists(x_train, [n for _, n, _ in rows["train"]], l2=args.l2)
    x_test = np.array([x for x, _, _ in rows["test"]])
    truth = [n for _, n, _ in rows["test"]]
    excerpt_acc = float(np.mean([p == t for p, t in zip(clf.predict(x_test), truth)]))
    logp = clf.log_probs(x_test)
    by_rec: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, key) in enumerate(rows["test"]):
        by_rec[key].append(i)
    rec_hits = [clf.pianists[int(logp[idx].sum(0).argmax())] == truth[idx[0]] for idx in by_rec.values()]
    tatum = [i for i, t in enumerate(truth) if t == TATUM]
    clf.meta = {
        "pianists": len(names), "train_excerpts": len(rows["train"]), "test_excerpts": len(rows["test"]),
        "test_recordings": len(by_rec), "excerpt_accuracy": excerpt_acc,
        "recording_accuracy": float(np.mean(rec_hits)),
        "tatum_recall": float(np.mean([clf.predict(x_test[tatum])[j] == TATUM for j in range(len(tatum))])),
        "excerpt_seconds": SECONDS, "l2": args.l2, "seconds_taken": round(time.time() - t0, 1),
        "split": "by recording key hash (seed 2), Tatum: his training split only",
    }
    save_pianist(clf, args.out)
    print(json.dumps(clf.meta, indent=1))


if __name__ == "__main__":
    main()
