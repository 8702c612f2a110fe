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
source campaign/run-al-options.sh
RUN=/work/models/sbd-unet-mix-al.run
OUT=/work/models/sbd-unet-mix-$NAME
if [ -f $OUT.run/train.yaml ]; then
    STEPS=$(sed -n 's/^steps: //p' $OUT.run/train.yaml)
else
    AT=$(.venv/bin/python -c "from sbdenoise.training.checkpoint import read_checkpoint; print(read_checkpoint('$RUN/checkpoint.safetensors')['trainer']['step'])")
    STEPS=$((AT + COOL))
fi
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o $OUT \
    "${RUN_AL_OPTIONS[@]}" --branch-from $RUN --cooldown-steps $COOL \
    --steps $STEPS >> /work/models/train-$NAME.log 2>&1
