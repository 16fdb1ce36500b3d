#!/usr/bin/env bash
# Optional: Notochord (PyPI `notochord`) for the side-by-side benchmark, in .notochord/ (git-ignored).
# Its wheel pins torch < 2.11, so it goes in with --no-deps next to our torch, plus its light dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --no-deps --target .notochord notochord tqdm joblib appdirs toml-file pandas sf2utils cloudpickle
echo "Notochord installed in .notochord/ (used by tatumflow bench)"
