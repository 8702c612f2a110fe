#!/usr/bin/env bash
# Run al: v17 (run ai at 7,500, the shipped model) continued with run ai's recipe; fresh optimiser
# (the machine kept no files: run ai's checkpoint at 9,018 was lost). Resumes from its checkpoint.
cd /work/main
source campaign/run-al-options.sh
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-al \
    "${RUN_AL_OPTIONS[@]}" --steps 200000 >> /work/models/train-al.log 2>&1
