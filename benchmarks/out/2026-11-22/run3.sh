#!/bin/bash
# third: the training steps again with one torch thread and 5 repeats (timing only; memory is in train-step.md)
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1
python -m benchmarks train-step --batch 8 --repeats 5 --threads 1 --no-memory --json benchmarks/out/2026-11-22/train-step-1thread.json > benchmarks/out/2026-11-22/train-step-1thread.md 2> benchmarks/out/2026-11-22/train-step-1thread.err
