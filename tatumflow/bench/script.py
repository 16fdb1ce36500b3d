"""The shared entry point of the per-benchmark scripts under benchmarks/: run some parts, write results beside."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from .report import markdown, write_results
from .run import BenchConfig, run_bench


def script_main(doc: str | None, parts: Sequence[str], here: Path) -> None:
    """Parse the common options, run `parts`, write results_<device>.{json,md,png} into `here`, print the table."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--no-notochord", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run_bench(BenchConfig(device=args.device, threads=args.threads, checkpoint=args.checkpoint,
                                   rounds=args.rounds, notochord=not args.no_notochord, parts=tuple(parts)))
    tag = result["environment"]["device"].split(":")[0]
    write_results(result, here / f"results_{tag}.json", here / f"results_{tag}.md", here / f"results_{tag}.png")
    print(markdown(result))
