#!/bin/bash
# third: the training steps again with one torch thread and 5 repeats (timing only; memory is in train-step.md)
cd /work/main
export HF_HUB_OFFLINE=1
python -m benchmarks train-step --batch 8 --repeats 5 --threads 1 --no-memory --json benchmarks/out/train-step-1thread.json > benchmarks/out/train-step-1thread.md 2> benchmarks/out/train-step-1thread.err
