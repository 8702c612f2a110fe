#!/usr/bin/env bash
# One device command of the SBD campaign on a lent GPU (issue 11, item 5): train from the latest
# campaign model on the packed training set for MINUTES and bring the model back through $OUT.
#
# Prepare here (CPU), once per training set:
#   .venv/bin/python scripts/pack_training_set.py /work/data/shipped-part2 data/packed  # ~25 MB
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
#       typing-inspection==0.4.5 ase==3.29.0   # what the device image lacks (~6 MB)
# Then with the device tool (one call, <= 10 min; the tracked tree is ~21 MB, 64 MiB travel):
#   run(command="MINUTES=7 bash scripts/train_device.sh", carry=["data/packed", ".whl"],
#       timeout_s=600)
# and copy the files it returns (model, card, log, checkpoint) to /work/models/<run>/. A second
# call on the same warm machine resumes the run (its folder stays there); a fresh machine starts
# again from INIT unless the checkpoint is carried back (data/device-run.run, ~24 MB).
#
# Settings (environment): MINUTES (training budget, default 7), INIT (weights to start from,
# default the campaign's latest), RUN (run path, default data/device-run), BATCH (default 32),
# LR (default 5e-5), ROTATION (default 90), SEED (default 11).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-7}
INIT=${INIT:-campaign/sbd-unet-dose.safetensors}
RUN=${RUN:-data/device-run}
BATCH=${BATCH:-32}
LR=${LR:-5e-5}
ROTATION=${ROTATION:-90}
SEED=${SEED:-11}
OUT=${OUT:-out}
mkdir -p "$OUT"

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src
else
    export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

start=$(date +%s)
python3 -m sbdenoise train data/packed -o "$RUN" --init-from "$INIT" --architecture unet \
    --scales 5 --base-channels 16 --crop 128 --batch "$BATCH" --contrast white --steps 1000000 \
    --validate-every 500 --checkpoint-minutes 2 --seed "$SEED" --lr "$LR" \
    --rotation "$ROTATION" --dose-range 40,400 --normalization frame_mean --precision auto \
    --loss-weighting dose --budget-minutes "$MINUTES" --quiet 2>&1 | tee "$OUT/train.log"
echo "wall seconds: $(( $(date +%s) - start ))" | tee -a "$OUT/train.log"

cp "$RUN.safetensors" "$RUN.json" "$OUT/"
cp "$RUN.run/log.csv" "$OUT/log.csv"
cp "$RUN.run/train.yaml" "$OUT/train.yaml"
cp "$RUN.run/checkpoint.safetensors" "$OUT/checkpoint.safetensors"
ls -la "$OUT"
