#!/usr/bin/env bash
# Run am: v23 (run al's moving average at 80,000, the shipped model on 2026-12-05) continued with
# run al's recipe and a fresh optimiser (500 warm-up steps): the machine kept no files, so run
# al's checkpoint at 84,005 was lost. Starts from a copy of v23 under /work/models, so that a
# later ship does not change the start this run records; resumes from its own checkpoint.
cd /work/main
mkdir -p /work/models
[ -f /work/models/v23.safetensors ] || {
    git show fb0df3a:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors > /work/models/v23.safetensors
    git show fb0df3a:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.json > /work/models/v23.json
}
source campaign/run-al-options.sh
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-am \
    "${RUN_AL_OPTIONS[@]}" --init-from /work/models/v23.safetensors --warmup-steps 500 \
    --steps 200000 >> /work/models/train-am.log 2>&1
