#!/usr/bin/env bash
# Run al: v17 (run ai at 7,500, the shipped model) continued with run ai's recipe; fresh optimiser
# (the machine kept no files: run ai's checkpoint at 9,018 was lost). Resumes from its checkpoint.
cd /work/main
THREADS=${THREADS:-2}
printf 'dataset: /work/data/shipped-s5\nval_crops: 96\nval_crop: 160\nval_orientations: true\nearly_stop_patience: 100\nlr_patience: 40\n' > /work/models/run-al.yaml
exec .venv/bin/sbdenoise train /work/data/shipped-s5 -o /work/models/sbd-unet-mix-al \
    --spec /work/models/run-al.yaml --init-from src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors \
    --architecture unet --scales 5 --base-channels 32 --crop 128 --batch 8 --contrast white \
    --mix /work/data/shipped-wide,crop=256,batch=2 \
    --steps 200000 --validate-every 250 --checkpoint-minutes 5 --seed 32 --threads $THREADS \
    --lr 2.5e-5 --ema-decay 0.999 --vacuum-weight 10 --edge-weight 30 --edge-width 4 \
    --freeze-batch-norm --rotation 90 --scale-range 0.955,1.055 --dose-range 40,400 \
    --normalization frame_mean --precision auto --loss-weighting dose --keep-every 500 \
    --quiet >> /work/models/train-al.log 2>&1
