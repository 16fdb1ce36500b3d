#!/usr/bin/env bash
# Here, on the CPU machine: pack what a GPU run carries (the device tool sends the repo, nothing beside it):
# the token cache, xz-compressed (~35 MB of ~107), and wheels of the packages its Python lacks.
#     bash benchmarks/training/gpu/pack.sh /work/runs/cache
# then `run` with carry [".gpucarry"] and the command in README.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cache=${1:?usage: pack.sh TOKEN_CACHE_DIR}
mkdir -p .gpucarry/whl
cp "$cache/index.json" .gpucarry/index.json
xz -T2 -3 -c "$cache/steps.npy" > .gpucarry/steps.npy.xz
# the GPU image holds torch, numpy, safetensors, typer, rich (device KINDS.md); tatumflow also imports these:
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpucarry/whl mido==1.3.3 python-rtmidi==1.5.8 packaging
du -sh .gpucarry
