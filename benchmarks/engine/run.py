"""The engine while the model runs: scheduler send jitter, the jam engine in process (reply, jitter), and JACK
end to end over a dummy server (when jackd is installed).

    .venv/bin/python benchmarks/engine/run.py [--device cpu|cuda] [--threads 1] [--checkpoint DIR]

Writes results_<device>.json, results_<device>.md and results_<device>.png next to this script.
"""

from pathlib import Path

from tatumflow.bench.script import script_main

if __name__ == "__main__":
    script_main(__doc__, ("jitter", "engine", "jack"), Path(__file__).resolve().parent)
