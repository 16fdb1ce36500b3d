"""Model speed: prefill, decode side by side (before / ours / no KV cache / Notochord), 22-note windows, reply,
guidance lanes, fp16-weight quality.

    .venv/bin/python benchmarks/decode/run.py [--device cpu|cuda] [--threads 1] [--checkpoint DIR]

Writes results_<device>.json, results_<device>.md and results_<device>.png next to this script.
"""

from pathlib import Path

from tatumflow.bench.script import script_main

if __name__ == "__main__":
    script_main(__doc__, ("prefill", "decode", "windows", "reply", "guidance", "quality"),
                Path(__file__).resolve().parent)
