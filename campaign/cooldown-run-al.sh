#!/usr/bin/env bash
# A cooldown branch of run al (warmup-stable-decay): go on from run al's checkpoint with the
# learning rate falling linearly from 2.5e-5 towards 0 over COOL steps, in its own run folder,
# leaving run al to continue at the constant rate next time. Stop run al first (SIGTERM: it
# writes its checkpoint), then: campaign/cooldown-run-al.sh NAME [COOL]
#   NAME  the branch's name (its model: /work/models/sbd-unet-mix-NAME.safetensors)
#   COOL  cooldown steps (default 3000)
# Resumes from its own checkpoint when rerun with the same arguments.
set -e
cd /work/main
NAME=$1
COOL=${2:-3000}
THREADS=${THREADS:-2}
RUN=/work/models/sbd-unet-mix-al.run
OUT=/work/models/sbd-unet-mix-$NAME
if [ -f $OUT.run/train.yaml ]; then
    STEPS=$(sed -n 's/^steps: //p' $OUT.run/train.yaml)
else
    AT=$(.venv/bin/python -c "from sbdenoise.training.checkpoint import read_checkpoint; print(read_checkpoint('$RUN/checkpoint.safetensors')['trainer']['step'])")
    STEPS=$((AT + COOL))
fi
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o $OUT \
    --spec /work/models/run-al.yaml --init-from src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \
    --branch-from $RUN --cooldown-steps $COOL \
    --architecture unet --scales 5 --base-channels 32 --crop 128 --batch 8 --contrast white \
    --mix /work/data/shipped-wide,crop=256,batch=2 \
    --steps $STEPS --validate-every 250 --checkpoint-minutes 5 --seed 32 --threads $THREADS \
    --lr 2.5e-5 --ema-decay 0.999 --vacuum-weight 10 --edge-weight 30 --edge-width 4 \
    --freeze-batch-norm --rotation 90 --scale-range 0.955,1.055 --dose-range 40,400 \
    --normalization frame_mean --precision auto --loss-weighting dose --keep-every 500 \
    --quiet >> /work/models/train-$NAME.log 2>&1
