#!/usr/bin/env bash
# Every check a candidate model needs before scripts/ship_model.py, in one command (13 min on
# 2 cores for a base-16 UNet): the gate table and dose sweep, the rotation check, the
# candidate's surface null, and the trust runs of the candidate and of the shipped model on two
# noise streams of the held-out surface images, with their candidates for
# benchmarks/surface_power.py (run at the end). Results go to OUT (default /tmp/candidate-NAME);
# the ship_model.py command that uses them is printed at the end.
#
#   scripts/candidate_checks.sh /work/models/t-b.safetensors t_b
#
# Data (rebuild recipes in campaign/README.md): GATE_DATA (default /work/data/shipped-part, the
# gate's test split) and SURFACE_DATA (default /work/data/surface, the `surface` preset).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: $0 MODEL.safetensors NAME [OUT]" >&2
    exit 2
fi
MODEL=$1
NAME=$2
OUT=${3:-/tmp/candidate-$NAME}
GATE_DATA=${GATE_DATA:-/work/data/shipped-part}
SURFACE_DATA=${SURFACE_DATA:-/work/data/surface}
SHIPPED=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors
PY=.venv/bin/python
# The surface images the trust runs below hold out (--images 24 --exclude-spread 12 24), as
# benchmarks/trust.py chooses them: the surface null must not be made from them.
HELD_OUT=$($PY -c "
import sys
sys.path.insert(0, 'benchmarks')
from trust import test_images
from sbdenoise.simulate.store import SimulatedDataset
print(','.join(map(str, test_images(SimulatedDataset('$SURFACE_DATA'), 24, [12, 24]))))")
mkdir -p "$OUT"
step() { echo "[$(date +%H:%M:%S)] $*"; }

step "gate and dose sweep"
$PY benchmarks/dose_sweep.py --dataset "$GATE_DATA" --model "shipped=$SHIPPED,ensemble=1" \
    --model "$NAME=$MODEL,ensemble=1" --max-images 1 --no-progress --output "$OUT/gate"
step "rotation"
$PY benchmarks/rotation.py --dataset "$GATE_DATA" --model "shipped=$SHIPPED" \
    --model "$NAME=$MODEL" --max-images 16 --no-bm3d --no-progress --name "rotation_$NAME" \
    --output "$OUT"
step "surface null"
.venv/bin/sbdenoise surface-null "$SURFACE_DATA" --model "$MODEL" --exclude "$HELD_OUT"
for stream in 13 14; do
    for pair in "$NAME=$MODEL" "shipped=$SHIPPED"; do
        step "trust, stream $stream, ${pair%%=*}"
        $PY benchmarks/trust.py --dataset "$SURFACE_DATA" --model "${pair#*=}" --images 24 \
            --exclude-spread 12 24 --stream "$stream" --draws 2 --bootstrap 0 --methods sbd \
            --variants lattice:surface --output "$OUT" --name "trust_${pair%%=*}_$stream" \
            --candidates "$OUT/candidates_${pair%%=*}_$stream.csv" --quiet
    done
done
step "surface columns confirmed at a matched FDR, paired over the held-out images"
$PY benchmarks/surface_power.py --run "shipped=$OUT/candidates_shipped_13.csv,$OUT/candidates_shipped_14.csv" \
    --run "$NAME=$OUT/candidates_${NAME}_13.csv,$OUT/candidates_${NAME}_14.csv" \
    --output "$OUT" --name "surface_power_$NAME" | sed -n '/^| model/,/^Command/p'
step "done; to ship it:"
echo "$PY scripts/ship_model.py $MODEL --gate $OUT/gate/dose_sweep.json" \
    "--rotation $OUT/rotation_$NAME.json" \
    "--trust $OUT/trust_${NAME}_13.json $OUT/trust_shipped_13.json" \
    "--trust $OUT/trust_${NAME}_14.json $OUT/trust_shipped_14.json" \
    "--surface-power $OUT/surface_power_$NAME.json --name $NAME" \
    "--cpu-hours HOURS --steps STEPS"
