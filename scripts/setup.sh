#!/usr/bin/env bash
# Set up TatumFlow on a fresh Debian/Ubuntu machine: system packages, a virtual environment in .venv, the package.
# Idempotent: a second run only checks. Needs root or sudo for apt-get. Without apt-get (macOS, Fedora, ...) it says
# which system packages to install there (scripts/other_platforms.sh) and sets up the virtual environment anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(jackd2 fluidsynth libfluidsynth3 libportaudio2 timgm6mb-soundfont)
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then  # (body not re-indented)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
else
  bash scripts/other_platforms.sh  # no apt-get (macOS, Fedora, ...): what to install there; on with the venv
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# pip runs only when pyproject.toml (the dependencies) changed since the last install here, or the package is gone:
# a second run of this script only checks.
STAMP=.venv/.tatumflow-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(pwd)"
if [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] && .venv/bin/python -c "import tatumflow" 2>/dev/null; then
  echo "the tatumflow package is current (pyproject.toml unchanged since its install)"
else
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$want" > "$STAMP"
fi
# The native decode step (C, for this CPU): built once here so that the first session does not wait for it; where
# it cannot be built the engine decodes on the torch path and says why.
.venv/bin/python -m tatumflow.generate.native || true
# The benchmark's peer (Notochord, random weights) lives apart from our packages; optional, so never fatal.
[ -d .notochord/notochord ] || bash scripts/install_notochord.sh || echo "warning: Notochord not installed (tatumflow bench will skip that comparison)"
echo "TatumFlow is set up in .venv"
