#!/usr/bin/env bash
# Run ao: v25 (run an at 2,500, shipped 2026-12-06) fine-tuned with the absolute error
# (--loss-norm l1: the network estimates the posterior median instead of the mean), run al's
# recipe otherwise, at 1e-5 with 200 warm-up steps. Asks whether an estimator that draws a
# column at its height or not at all recovers the short surface columns the mean draws too faint
# (benchmarks/results/surface_separability.md). Starts from a copy of v25 under /work/models;
# resumes from its own checkpoint. RUN, LR and WARMUP (default ao, 1e-5, 200) name a branch with
# another rate (campaign/train-run-ap.sh).
cd /work/main
mkdir -p /work/models
[ -f /work/models/v25.safetensors ] || {
    git show ece77b2:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors > /work/models/v25.safetensors
    git show ece77b2:src/sbdenoise/pretrained/sbd-unet-pt-ceo2.json > /work/models/v25.json
}
source campaign/run-al-options.sh
RUN=${RUN:-ao}
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-$RUN \
    "${RUN_AL_OPTIONS[@]}" --init-from /work/models/v25.safetensors --lr ${LR:-1e-5} \
    --warmup-steps ${WARMUP:-200} --loss-norm l1 --steps ${STEPS:-200000} \
    >> /work/models/train-$RUN.log 2>&1
