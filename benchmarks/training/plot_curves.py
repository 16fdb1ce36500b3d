"""Plot training curves (loss per step, validation loss, validation loss on the focus pianist) from runs' metrics.jsonl.

    python benchmarks/training/plot_curves.py benchmarks/training/{pretrain,tatum,tatum-only,pretrain2,tatum2,more} \
        --start more=4200 --out benchmarks/training/curves.png

Runs named pretrain* set the step offset for the runs after them (which start from their weights); `--start RUN=STEP`
places a run explicitly (one that continued from another run's end).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def load(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def smooth(values: list[float], k: int = 25) -> list[float]:
    out, acc = [], []
    for v in values:
        acc.append(v)
        acc = acc[-k:]
        out.append(sum(acc) / len(acc))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", action="append", default=[], help="RUN=STEP: the step RUN starts at")
    args = parser.parse_args()
    starts = {name: int(step) for name, step in (s.split("=", 1) for s in args.start)}
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(12, 4.5))
    offset = 0
    for run in args.runs:
        records = load(run)
        if run.name in starts:
            offset = starts[run.name]
        steps = [r["step"] + offset for r in records]
        ax_train.plot(steps, smooth([r["loss"] for r in records]), label=run.name)
        val = [(r["step"] + offset, r["val_loss"], r.get("val_loss_focus")) for r in records if "val_loss" in r]
        if val:
            ax_val.plot([v[0] for v in val], [v[1] for v in val], "o-", label=f"{run.name}: all pianists")
            ax_val.plot([v[0] for v in val], [v[2] for v in val], "s--", label=f"{run.name}: Art Tatum")
        if run.name.startswith("pretrain"):  # later runs continue from it
            offset = steps[-1] if steps else 0
    ax_train.set(title="training loss (sum of 4 field NLLs, smoothed)", xlabel="step", ylabel="nats per note")
    ax_val.set(title="validation loss (held-out recordings)", xlabel="step", ylabel="nats per note")
    for ax in (ax_train, ax_val):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
