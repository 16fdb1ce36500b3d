"""Train the pianist classifier (`tatumflow/eval/pianist.py`) on PiJAMA and measure it on recordings it never saw.

The pianists with the most material (total duration in pijama.csv), Art Tatum among them; kong transcriptions.
Split by recording (a hash of the recording key, `--test-fraction` of each pianist's recordings held out; Tatum's
recordings are his training split only: his held-out tuning and report recordings are not read at all). Excerpts: 15 s
every 30 s through each recording (at most `--excerpts` per recording, at most `--recordings` recordings per
pianist, chosen by the same hash, so that Dick Hyman's 284 recordings do not drown the rest).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/training/v3/train_pianist.py \
        --data ../shared/data/pijama --out benchmarks/training/v3/pianist --features /tmp/pianist.npz
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


def extract(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Features, pianist, recording key and side (train / test) of every excerpt (see the module)."""
    names = top_pianists(args.data, args.pianists)
    recordings = pijama_recordings(args.data)
    tatum_train, _ = tatum_split(recordings)
    allowed = {r.key for r in tatum_train}
    x, who, keys, side = [], [], [], []
    for name in names:
        mine = [r for r in recordings if r.pianist == name and (name != TATUM or r.key in allowed)]
        for r in sorted(mine, key=lambda r: _unit_hash(r.key, 1))[: args.recordings]:
            rows = excerpts(r.files[0], args.excerpts)
            x += rows
            who += [name] * len(rows)
            keys += [r.key] * len(rows)
            side += ["test" if _unit_hash(r.key, 2) < args.test_fraction else "train"] * len(rows)
    return {"x": np.array(x), "who": np.array(who), "keys": np.array(keys), "side": np.array(side)}


def accuracy(clf, x: np.ndarray, who: np.ndarray, keys: np.ndarray) -> tuple[float, float, float]:
    """Excerpt accuracy, recording accuracy (log-probabilities summed over a recording's excerpts), Tatum recall."""
    logp = clf.log_probs(x)
    pred = np.array(clf.pianists)[logp.argmax(-1)]
    by_rec: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        by_rec[key].append(i)
    rec = [clf.pianists[int(logp[idx].sum(0).argmax())] == who[idx[0]] for idx in by_rec.values()]
    return float(np.mean(pred == who)), float(np.mean(rec)), float(np.mean(pred[who == TATUM] == TATUM))


VARIANTS = {"logistic 1e-3": {"l2": 1e-3}, "logistic 1e-2": {"l2": 1e-2},
            "mlp 256 wd 0.01": {"hidden": 256, "l2": 0.01, "epochs": 400},
            "mlp 256 wd 0.1": {"hidden": 256, "l2": 0.1, "epochs": 400}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--features", type=Path, help="cache of the excerpts' features (.npz): read if present")
    ap.add_argument("--pianists", type=int, default=20)
    ap.add_argument("--recordings", type=int, default=36)
    ap.add_argument("--excerpts", type=int, default=12)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    args = ap.parse_args()
    t0 = time.time()
    if args.features and args.features.is_file():
        d = dict(np.load(args.features, allow_pickle=False))
    else:
        d = extract(args)
        if args.features:
            np.savez(args.features, **d)
    train, test = d["side"] == "train", d["side"] == "test"
    # The variant is chosen on a validation part of the training recordings (a third hash), never on the test side.
    val = train & np.array([_unit_hash(k, 3) < 0.2 for k in d["keys"]])
    fit = train & ~val
    scores = {}
    for name, kw in VARIANTS.items():
        clf = fit_pianists(d["x"][fit], d["who"][fit].tolist(), **kw)
        scores[name] = accuracy(clf, d["x"][val], d["who"][val], d["keys"][val])
        print(name, "validation excerpt / recording / Tatum recall:", [round(v, 3) for v in scores[name]])
    best = max(scores, key=lambda k: scores[k][0])
    clf = fit_pianists(d["x"][train], d["who"][train].tolist(), **VARIANTS[best])
    excerpt, recording, recall = accuracy(clf, d["x"][test], d["who"][test], d["keys"][test])
    clf.meta = {
        "model": best, "pianists": len(clf.pianists), "train_excerpts": int(train.sum()),
        "test_excerpts": int(test.sum()), "test_recordings": len(set(d["keys"][test].tolist())),
        "excerpt_accuracy": excerpt, "recording_accuracy": recording, "tatum_recall": recall,
        "validation": {k: list(v) for k, v in scores.items()}, "excerpt_seconds": SECONDS,
        "seconds_taken": round(time.time() - t0, 1),
        "split": "by recording key hash (seed 2, 20 % test), Tatum: his training split only",
    }
    save_pianist(clf, args.out)
    print(json.dumps(clf.meta, indent=1))


if __name__ == "__main__":
    main()
