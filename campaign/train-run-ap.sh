#!/usr/bin/env bash
# Run ap: run ao (v25 fine-tuned with --loss-norm l1, campaign/train-run-ao.sh) at 5x the rate
# (5e-5, 100 warm-up steps); run ao at 1e-5 had not moved the detector's view of the output in
# 1,000 steps. Resumes from its own checkpoint.
RUN=ap LR=5e-5 WARMUP=100 exec bash "$(dirname "$0")/train-run-ao.sh"
