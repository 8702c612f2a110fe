#!/usr/bin/env bash
# The checks after a ship, on the newly shipped model (about 15 min on 2 cores), each into its own
# folder under STUDY (default /work/study): the demo and its trust verdicts, the two-pixel-size
# dose sweep against VST+BM3D with its best bin, the noise-free ceiling next to earlier versions
# (taken from git history, where every shipped model is), and the surface evaluation (5 draws).
# Pauses a running `sbdenoise train` while it works and continues it at the end.
#
#   scripts/post_ship_checks.sh VNEW
#     VNEW  the version now in src/sbdenoise/pretrained, e.g. v24
#
# Results to copy into benchmarks/results afterwards: STUDY/sweep-bins-VNEW/dose_sweep.*,
# STUDY/ceiling-VNEW/noiseless_ceiling.*, STUDY/surf_VNEW/surface_evaluation_VNEW.*; the demo's
# trust table is written to benchmarks/results/demo_trust_VNEW.* directly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
    echo "usage: $0 VNEW" >&2
    exit 2
fi
NEW=$1
STUDY=${STUDY:-/work/study}
DATA=${DATA:-/work/data}
MODEL=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors
PY=.venv/bin/python
# Shipped versions the ceiling compares with, and the commits that shipped them.
OLD_VERSIONS="v5=6b3c6d5 v10=0f515ac v15=7433db3 v20=316e703 v21=5040737 v22=6f0ef01 v23=fb0df3a v24=f63b819 v25=ece77b2 v26=9958785"
PIDS=$(pgrep -f "sbdenoise train" || true)
resume() { [ -z "$PIDS" ] || kill -CONT $PIDS; }
trap resume EXIT
[ -z "$PIDS" ] || kill -STOP $PIDS
step() { echo "[$(date +%H:%M:%S)] $*"; }
mkdir -p "$STUDY/old"

step "demo and its trust verdicts"
.venv/bin/sbdenoise demo --output "$STUDY/demo-$NEW" | tail -n 8
$PY benchmarks/demo_trust.py --demo "$STUDY/demo-$NEW" --draws 20 --name "demo_trust_$NEW" | tail -n 12

step "dose sweep at two pixel sizes"
$PY benchmarks/dose_sweep.py --dataset "$DATA/shipped-part" --model "$NEW=$MODEL,ensemble=1" \
    --small-pixel-data "$DATA/robustness-pixel-0.8" --small-pixel-structures 1 --max-images 4 \
    --bm3d-bins 4,6,12,16 --no-progress --output "$STUDY/sweep-bins-$NEW" | tail -n 30

step "noise-free ceiling"
CEILING=()
for item in $OLD_VERSIONS; do
    version=${item%%=*}
    commit=${item#*=}
    [ "$version" = "$NEW" ] && continue
    old=$STUDY/old/$version.safetensors
    [ -f "$old" ] || git show "$commit:$MODEL" > "$old"
    [ -f "${old%.safetensors}.json" ] || git show "$commit:${MODEL%.safetensors}.json" > "${old%.safetensors}.json"
    CEILING+=(--model "$version=$old,precision=fp32")
done
$PY benchmarks/noiseless_ceiling.py --dataset "$DATA/shipped-part" "${CEILING[@]}" \
    --model "$NEW=$MODEL,precision=fp32" --model "$NEW-bf16=$MODEL" --max-images 4 --threads 2 \
    --no-progress --output "$STUDY/ceiling-$NEW" | tail -n 16

step "surface evaluation, 5 draws"
$PY benchmarks/surface_evaluation.py --dataset "$DATA/surface" --methods sbd --draws 5 \
    --elements Pt --work "/tmp/surf_$NEW" --output "$STUDY/surf_$NEW" \
    --name "surface_evaluation_$NEW" --quiet | tail -n 16
step "done; training continues"
