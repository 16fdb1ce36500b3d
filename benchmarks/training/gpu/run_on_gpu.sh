#!/usr/bin/env bash
# On the GPU machine (the device tool runs it in the repo's root; $OUT comes back): train the large checkpoint
# for a time budget, decay it, export it in 16 bits split into <= 15 MiB parts, and benchmark it on the GPU.
#
#     bash benchmarks/training/gpu/run_on_gpu.sh            # defaults: config large, cuda, 5 minutes
#
# Tested on the CPU with the tiny config first (README.md):
#     CONFIG=tiny DEVICE=cpu MINUTES=0.3 OUT=/tmp/out CARRY=.gpucarry bash benchmarks/training/gpu/run_on_gpu.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
CONFIG=${CONFIG:-large} DEVICE=${DEVICE:-cuda} MINUTES=${MINUTES:-5} CARRY=${CARRY:-.gpucarry}
OUT=${OUT:?the device tool sets OUT}
PY=${PYTHON:-python3}
work=$(mktemp -d)
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log"; }

if ls "$CARRY"/whl/*.whl >/dev/null 2>&1 && ! $PY -c "import mido" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" "$CARRY"/whl/*.whl
    export PYTHONPATH="$work/site"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log "python $($PY -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
[ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/run.log"

mkdir -p "$work/cache"
cp "$CARRY/index.json" "$work/cache/"
$PY -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'), 1 << 24)" \
    "$CARRY/steps.npy.xz" "$work/cache/steps.npy"
log "token cache unpacked: $(du -sh "$work/cache" | cut -f1)"

train() { $PY -m tatumflow.cli train --cache "$work/cache" --device "$DEVICE" "$@" 2>&1 | tr '\r' '\n' | tail -n 3 | tee -a "$OUT/run.log"; }
log "stable phase: --config $CONFIG for $MINUTES min"
train --out "$work/run" --config "$CONFIG" --max-minutes "$MINUTES"
steps=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['step'])" "$work/run/last/train_state.json")
decay_steps=$(( steps / 6 > 20 ? steps / 6 : 20 ))
decay_config=$CONFIG-decay
$PY -c "from tatumflow.train.config import CONFIGS; import sys; sys.exit(sys.argv[1] not in CONFIGS)" "$decay_config" \
    || decay_config=$CONFIG
log "stable phase done at step $steps; decay: --config $decay_config for $decay_steps steps"
train --out "$work/decay" --config "$decay_config" --init "$work/run/last" --max-steps "$decay_steps"
cat "$work/run/metrics.jsonl" "$work/decay/metrics.jsonl" | grep val_loss | gzip > "$OUT/val_metrics.jsonl.gz" || true

best=$work/decay/checkpoint
[ -f "$best/model.safetensors" ] || best=$work/decay/last
$PY - "$best" "$work/export" <<'PY'
import sys
from tatumflow.model.checkpoint import export_checkpoint
export_checkpoint(sys.argv[1], sys.argv[2])
PY
cp "$work/export/config.json" "$OUT/config.json"
split -b 15M -d "$work/export/model.safetensors" "$OUT/model.safetensors.part"
(cd "$work/export" && sha256sum model.safetensors) > "$OUT/model.safetensors.sha256"
log "exported: $(du -sh "$work/export/model.safetensors" | cut -f1) in $(ls "$OUT"/model.safetensors.part* | wc -l) parts"

log "bench on $DEVICE"
$PY -m tatumflow.cli bench --device "$DEVICE" --threads 1 --checkpoint "$work/export" --no-notochord \
    --only prefill --only decode --only windows --only reply --only guidance ${QUICK:+--quick} \
    --json "$OUT/bench_$DEVICE.json" 2>&1 | tail -n 40 | tee -a "$OUT/run.log"
log "done"
