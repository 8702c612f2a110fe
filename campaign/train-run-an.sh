#!/usr/bin/env bash
# Run an: v24 (run am at 9,000, the shipped model since 2026-12-05) continued with run al's recipe
# at 0.4x the rate (1e-5) and a fresh optimiser (200 warm-up steps). Run am's later snapshots
# made the surface verdicts bolder (am14000: surface FDR 2.4 % against 0.9 %); this branch asks
# whether a smaller step from v24 keeps them as they are. Starts from a copy of v24 under
# /work/models so that a later ship does not change the start it records; resumes from its own
# checkpoint.
cd /work/main
mkdir -p /work/models
[ -f /work/models/v24.safetensors ] || {
    git show f63b819:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors > /work/models/v24.safetensors
    git show f63b819:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.json > /work/models/v24.json
}
source campaign/run-al-options.sh
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-an \
    "${RUN_AL_OPTIONS[@]}" --init-from /work/models/v24.safetensors --lr 1e-5 --warmup-steps 200 \
    --steps 200000 >> /work/models/train-an.log 2>&1
