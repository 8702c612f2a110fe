#!/usr/bin/env bash
# Every check a candidate model needs before scripts/ship_model.py, in one command (8 min on 2
# cores for v25's base-32 UNet, plus 9 for its ensemble-8 surface null): the gate table and dose
# sweep, the rotation check, the candidate's surface nulls (plain and -p ensemble=8), and the
# trust runs of the candidate and of the shipped model on four noise streams of the held-out
# surface images (STREAMS, default "13 14 15 16"), with their candidates for
# benchmarks/surface_power.py (run at the end). Four streams, not two, since
# 2026-12-04 (late): the paired surface-FDR difference of one candidate went from +1.8 points on
# streams 13-14 to +0.1 on 15-16, more than the image bootstrap's standard error allows
# (campaign/README.md). Results go to OUT (default /tmp/candidate-NAME);
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
STREAMS=${STREAMS:-13 14 15 16}
# Self-ensemble sizes that get their own surface null beside the candidate (ship_model.py installs
# each), so that `likelihood -p ensemble=8` stays calibrated after a ship: about 9 min for a
# base-32 UNet. ENSEMBLE_NULLS="" skips it.
ENSEMBLE_NULLS=${ENSEMBLE_NULLS-8}
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
for ensemble in $ENSEMBLE_NULLS; do
    step "surface null of -p ensemble=$ensemble"
    .venv/bin/sbdenoise surface-null "$SURFACE_DATA" --model "$MODEL" --exclude "$HELD_OUT" \
        -p "ensemble=$ensemble"
done
for stream in $STREAMS; do
    for pair in "$NAME=$MODEL" "shipped=$SHIPPED"; do
        step "trust, stream $stream, ${pair%%=*}"
        $PY benchmarks/trust.py --dataset "$SURFACE_DATA" --model "${pair#*=}" --images 24 \
            --exclude-spread 12 24 --stream "$stream" --draws 2 --bootstrap 0 --methods sbd \
            --variants lattice:surface --output "$OUT" --name "trust_${pair%%=*}_$stream" \
            --candidates "$OUT/candidates_${pair%%=*}_$stream.csv" --quiet
    done
done
step "surface columns confirmed at a matched FDR, paired over the held-out images"
csvs() { for stream in $STREAMS; do printf '%s,' "$OUT/candidates_$1_$stream.csv"; done; }
SHIPPED_CSVS=$(csvs shipped)
CANDIDATE_CSVS=$(csvs "$NAME")
$PY benchmarks/surface_power.py --run "shipped=${SHIPPED_CSVS%,}" --run "$NAME=${CANDIDATE_CSVS%,}" \
    --output "$OUT" --name "surface_power_$NAME" | sed -n '/^| model/,/^Command/p'
TRUST=""
for stream in $STREAMS; do
    TRUST="$TRUST --trust $OUT/trust_${NAME}_$stream.json $OUT/trust_shipped_$stream.json"
done
step "done; to ship it:"
echo "$PY scripts/ship_model.py $MODEL --gate $OUT/gate/dose_sweep.json" \
    "--rotation $OUT/rotation_$NAME.json$TRUST" \
    "--surface-power $OUT/surface_power_$NAME.json --name $NAME" \
    "--cpu-hours HOURS --steps STEPS"
