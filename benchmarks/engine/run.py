"""The engine while the model runs: scheduler send jitter, the jam engine in process (reply, jitter), and JACK
end to end over a dummy server (when jackd is installed).

    .venv/bin/python benchmarks/engine/run.py [--device cpu|cuda] [--threads 1] [--checkpoint DIR]

Writes results_<device>.json, results_<device>.md and results_<device>.png next to this script.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tatumflow.bench.report import markdown, write_results
from tatumflow.bench.run import BenchConfig, run_bench

HERE = Path(__file__).resolve().parent
PARTS = ("jitter", "engine", "jack")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--no-notochord", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run_bench(BenchConfig(device=args.device, threads=args.threads, checkpoint=args.checkpoint,
                                   rounds=args.rounds, notochord=not args.no_notochord, parts=PARTS))
    tag = result["environment"]["device"].split(":")[0]
    write_results(result, HERE / f"results_{tag}.json", HERE / f"results_{tag}.md", HERE / f"results_{tag}.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
