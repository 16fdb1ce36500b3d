"""Link held-out recordings (the training split's validation side, kong transcription) into a folder, so that
`tatumflow eval --data FOLDER` evaluates on recordings the model never trained on.

    .venv/bin/python benchmarks/eval/make_val_set.py --cache cache/pijama --out /tmp/tatum_val
    .venv/bin/python benchmarks/eval/make_val_set.py --cache cache/pijama --out /tmp/tune_val --other-pianists 24

The first: the held-out Art Tatum recordings (what `benchmarks/eval/` reports). The second: one held-out recording
each of the first 24 other pianists (in piece order), with `styles.json` naming each file's pianist: the set the
sampling controls were tuned on (harmony_sweep.py), so that the Tatum numbers stay untouched by tuning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tatumflow.train import data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True, help="token cache built by `tatumflow train` over PiJAMA")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--style", default="Art Tatum")
    ap.add_argument("--transcription", default="kong")
    ap.add_argument("--other-pianists", type=int, default=0, help="instead: one recording each of N other pianists")
    args = ap.parse_args()
    index = data.load_cache(args.cache)
    _, val_ids = data.split_by_recording(index)
    args.out.mkdir(parents=True, exist_ok=True)
    styles: dict[str, str] = {}
    for i in sorted(val_ids):
        piece = index.pieces[i]
        if piece.transcription != args.transcription:
            continue
        if args.other_pianists:
            if piece.style in (args.style, data.UNKNOWN_STYLE) or piece.style in styles.values():
                continue
            if len(styles) >= args.other_pianists:
                break
        elif piece.style != args.style:
            continue
        src = (Path(piece.source) / piece.path).resolve()  # absolute: a relative --data would dangle
        link = args.out / f"{len(styles)}_{src.name}"
        if not link.exists():
            link.symlink_to(src)
        styles[link.name] = piece.style
    (args.out / "styles.json").write_text(json.dumps(styles, indent=1, ensure_ascii=False))
    print(f"{len(styles)} recordings linked into {args.out}")


if __name__ == "__main__":
    main()
