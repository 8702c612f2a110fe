#!/usr/bin/env bash
# Gate one snapshot of a running campaign run, pausing the run while the checks use the cores
# (about 7 min on 2 cores for a base-32 UNet): its half-precision copy (scripts/soup_models.py),
# every check of scripts/candidate_checks.sh, and the vacuum judge on the validation frames
# (benchmarks/vacuum_frame_size.py). The run is paused with SIGSTOP, not stopped, and continued
# when this script ends, also when a check fails. Prints the ship_model.py command at the end.
#
#   scripts/gate_snapshot.sh RUN_DIR STEP NAME
#     RUN_DIR  the run folder (train -o X keeps it in X.run), e.g. /work/models/sbd-unet-mix-am.run
#     STEP     a kept snapshot (--keep-every), e.g. 20000
#     NAME     the candidate's name, e.g. am20000
#
# Outputs: MODELS/NAME-half.safetensors (MODELS default /work/models) and the checks under
# STUDY/cand-NAME (STUDY default /work/study), the judge under STUDY/judge.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 3 ]; then
    echo "usage: $0 RUN_DIR STEP NAME" >&2
    exit 2
fi
RUN_DIR=$1
STEP=$2
NAME=$3
MODELS=${MODELS:-/work/models}
STUDY=${STUDY:-/work/study}
MODEL=${RUN_DIR%.run}  # what `train -o` was given
SNAPSHOT=$(.venv/bin/python -c "from sbdenoise.training.trainer import snapshot_path
print(snapshot_path('$MODEL', $STEP))")
CANDIDATE=$MODELS/$NAME-half.safetensors
[ -f "$SNAPSHOT" ] || { echo "no snapshot $SNAPSHOT" >&2; exit 2; }
PIDS=$(pgrep -f "sbdenoise train" || true)
resume() { [ -z "$PIDS" ] || kill -CONT $PIDS; }
trap resume EXIT
[ -z "$PIDS" ] || kill -STOP $PIDS
echo "[$(date +%H:%M:%S)] paused training (${PIDS:-none running})"
# --run: the card records the candidate's validation PSNR on the run's crops (val_psnr_db), as
# a shipped model's card must.
[ -f "$CANDIDATE" ] || .venv/bin/python scripts/soup_models.py --half-precision -o "$CANDIDATE" \
    --run "$MODEL" "1=$SNAPSHOT"
scripts/candidate_checks.sh "$CANDIDATE" "$NAME" "$STUDY/cand-$NAME"
echo "[$(date +%H:%M:%S)] judge: vacuum candidates on the validation frames"
.venv/bin/python benchmarks/vacuum_frame_size.py --dataset /work/data/shipped-s5 \
    --modes "whole frame" --sides 512,1024,1536 --validation-images 48 \
    --model "$NAME=$CANDIDATE" --threads 2 --output "$STUDY/judge" --stem "judge_$NAME" |
    tail -n 12
echo "[$(date +%H:%M:%S)] done; training continues"
