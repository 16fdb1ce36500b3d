"""What tells a system's continuations from the real ones? Reads the features `tune_texture.py --features` saved
and prints, per variant, the discriminator's cross-validated AUC on each feature group alone and without it, and
the single features that separate most (their own AUC, generated = positive, and both means).

    python benchmarks/eval/discriminator_features.py benchmarks/eval/tuning/x_features.npz [--top 12]
"""

from __future__ import annotations

import argparse

import numpy as np

from tatumflow.eval.discriminator import cross_validated_auc, roc_auc

GROUPS = ("texture", "ioi_bin", "duration_bin", "interval_bin", "register_bin")


def group_of(name: str) -> str:
    return next((g for g in GROUPS[1:] if name.startswith(g)), "texture")


def report(data: np.lib.npyio.NpzFile, variant: str, top: int) -> None:
    names = [str(n) for n in data["names"]]
    real, gen = data["real_x"], data[f"{variant}_x"]
    x = np.vstack([real, gen])
    y_gen = np.array([0] * len(real) + [1] * len(gen))
    groups = [str(g) for g in data["groups"]] + [str(g) for g in data[f"{variant}_groups"]]
    member = np.array([group_of(n) for n in names])
    print(f"\n## {variant}: {len(gen)} continuations against {len(real)} real; all features: "
          f"AUC {cross_validated_auc(x, y_gen, groups):.3f}\n")
    print("| feature group | alone | without it |\n| --- | --- | --- |")
    for g in GROUPS:
        keep = member == g
        print(f"| {g} | {cross_validated_auc(x[:, keep], y_gen, groups):.3f} | "
              f"{cross_validated_auc(x[:, ~keep], y_gen, groups):.3f} |")
    rows = []
    for i, name in enumerate(names):
        col = x[:, i]
        ok = np.isfinite(col)
        auc = roc_auc(col[ok], y_gen[ok])
        rows.append((abs(auc - 0.5), name, auc, np.nanmean(real[:, i]), np.nanmean(gen[:, i])))
    print(f"\n| feature | AUC alone (generated higher > 0.5) | real mean | {variant} mean |\n| --- | --- | --- | --- |")
    for _, name, auc, r, g in sorted(rows, reverse=True)[:top]:
        print(f"| {name} | {auc:.3f} | {r:.4g} | {g:.4g} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    data = np.load(args.features)
    variants = sorted(k[:-2] for k in data.files if k.endswith("_x") and k != "real_x")
    for variant in variants:
        report(data, variant, args.top)


if __name__ == "__main__":
    main()
