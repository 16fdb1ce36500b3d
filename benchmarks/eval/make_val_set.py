"""Link the held-out Art Tatum recordings (the training split's validation side, kong transcription) into a folder,
so that `tatumflow eval --data FOLDER` evaluates on recordings the model never trained on.

    .venv/bin/python benchmarks/eval/make_val_set.py --cache cache/pijama --out /tmp/tatum_val
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tatumflow.model import data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True, help="token cache built by `tatumflow train` over PiJAMA")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--style", default="Art Tatum")
    ap.add_argument("--transcription", default="kong")
    args = ap.parse_args()
    index = data.load_cache(args.cache)
    _, val_ids = data.split_by_recording(index)
    args.out.mkdir(parents=True, exist_ok=True)
    n = 0
    for i in val_ids:
        piece = index.pieces[i]
        if piece.style == args.style and piece.transcription == args.transcription:
            src = (Path(piece.source) / piece.path).resolve()  # absolute: a relative --data would dangle
            link = args.out / f"{n}_{src.name}"
            if not link.exists():
                link.symlink_to(src)
            n += 1
    print(f"{n} recordings linked into {args.out}")


if __name__ == "__main__":
    main()
