#!/usr/bin/env bash
# Run ap: run ao at 5x the rate (5e-5, 100 warm-up steps); run ao at 1e-5 had not moved the
# detector's view of the output in 1,000 steps. As run ao: v25 (run an at 2,500, shipped
# 2026-12-06) fine-tuned with the absolute error
# (--loss-norm l1: the network estimates the posterior median instead of the mean), run al's
# recipe otherwise. Asks whether an estimator that draws a
# column at its height or not at all recovers the short surface columns the mean draws too faint
# (benchmarks/results/surface_separability.md). Starts from a copy of v25 under /work/models;
# resumes from its own checkpoint.
cd /work/main
mkdir -p /work/models
[ -f /work/models/v25.safetensors ] || {
    git show ece77b2:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors > /work/models/v25.safetensors
    git show ece77b2:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.json > /work/models/v25.json
}
source campaign/run-al-options.sh
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-ap \
    "${RUN_AL_OPTIONS[@]}" --init-from /work/models/v25.safetensors --lr 5e-5 --warmup-steps 100 \
    --loss-norm l1 --steps ${STEPS:-200000} >> /work/models/train-ap.log 2>&1
