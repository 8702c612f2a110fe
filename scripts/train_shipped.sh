#!/usr/bin/env bash
# The SBD training campaign on CPU: simulate the `shipped` preset (resumable, cached in DATA), then
# train or continue training the dose-robust UNet in the background. Run it again in a new session:
# the simulation and the training both resume from what is on disk.
#
#   scripts/train_shipped.sh DATA_DIR RUN_DIR [INIT_MODEL]
#
# DATA_DIR    dataset folder (default /work/data/shipped)
# RUN_DIR     model path without suffix (default /work/models/sbd-unet-dose); the run folder
#             RUN_DIR.run/ holds the spec, log and checkpoint (weights + optimiser state)
# INIT_MODEL  warm start for a new run (default: the shipped model)
#
# Then gate and ship (only if it beats the shipped model on the test split):
#   .venv/bin/python benchmarks/dose_sweep.py --dataset DATA_DIR \
#       --model shipped=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \
#       --model candidate=RUN_DIR.safetensors --small-pixel-data DATA_DIR-pixel-0.8
#   .venv/bin/python benchmarks/rotation.py --dataset DATA_DIR --no-bm3d \
#       --model shipped=src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \
#       --model candidate=RUN_DIR.safetensors
#   .venv/bin/python scripts/ship_model.py RUN_DIR.safetensors --gate benchmarks/results/dose_sweep.json \
#       --rotation benchmarks/results/rotation.json
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/work/data/shipped}
run=${2:-/work/models/sbd-unet-dose}
init=${3:-src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors}
.venv/bin/sbdenoise simulate --preset shipped -o "$data" --workers 2
init_option=()
if [ ! -e "$run.run/checkpoint.safetensors" ]; then
    init_option=(--init-from "$init")
fi
exec .venv/bin/sbdenoise train "$data" -o "$run" --architecture unet --scales 5 \
    --base-channels 16 --crop 128 --batch 8 --contrast white --steps 200000 \
    --validate-every 100 --checkpoint-minutes 5 --seed 1 --threads 2 --lr 1e-4 \
    --dose-range 40,400 --normalization frame_mean --precision auto --loss-weighting dose "${init_option[@]}" --quiet
