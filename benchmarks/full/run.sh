#!/usr/bin/env bash
# Every part of `tatumflow bench` in one run (what is compared across machines): results_<device>.{json,md,png} here.
# PYTHON picks the interpreter (default: the set-up venv), e.g. PYTHON=python3 on a GPU box whose image has torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${1:-cpu}
"${PYTHON:-.venv/bin/python}" -m tatumflow.cli bench --device "$DEVICE" --threads 1 \
    --json "benchmarks/full/results_$DEVICE.json" --markdown "benchmarks/full/results_$DEVICE.md" \
    --plot "benchmarks/full/results_$DEVICE.png"
