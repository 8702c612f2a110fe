# Run al's recipe, shared by campaign/train-run-al.sh (the long constant-rate run) and
# campaign/cooldown-run-al.sh (its cooled-down branches). Sourced, not run: it writes the run's
# spec file and sets RUN_AL_OPTIONS, the options both pass to `sbdenoise train`.
THREADS=${THREADS:-2}
printf 'dataset: /work/data/shipped-s5\nval_crops: 96\nval_crop: 160\nval_orientations: true\nearly_stop_patience: 100\nlr_patience: 40\n' > /work/models/run-al.yaml
RUN_AL_OPTIONS=(
    --spec /work/models/run-al.yaml --init-from src/sbdenoise/pretrained/sbd-unet-pt-ceo2.safetensors
    --architecture unet --scales 5 --base-channels 32 --crop 128 --batch 8 --contrast white
    --mix /work/data/shipped-wide,crop=256,batch=2
    --validate-every 250 --checkpoint-minutes 5 --seed 32 --threads "$THREADS"
    --lr 2.5e-5 --ema-decay 0.999 --vacuum-weight 10 --edge-weight 30 --edge-width 4
    --freeze-batch-norm --rotation 90 --scale-range 0.955,1.055 --dose-range 40,400
    --normalization frame_mean --precision auto --loss-weighting dose --keep-every 500
    --quiet
)
