#!/bin/bash
# second batch of the commands behind RESULTS.md (after fixing the split used for training inputs)
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1
python -m benchmarks naive-loss --batch 8 --repeats 3 --json benchmarks/out/2026-11-22/naive-loss.json > benchmarks/out/2026-11-22/naive-loss.md 2> benchmarks/out/2026-11-22/naive-loss.err
python -m benchmarks train-step --batch 8 --repeats 3 --json benchmarks/out/2026-11-22/train-step.json > benchmarks/out/2026-11-22/train-step.md 2> benchmarks/out/2026-11-22/train-step.err
python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --json benchmarks/out/2026-11-22/padding.json > benchmarks/out/2026-11-22/padding.md 2> benchmarks/out/2026-11-22/padding.err
python -m benchmarks speed-inference --rows 16 --repeats 3 --threads 1 --json benchmarks/out/2026-11-22/inference-1thread.json > benchmarks/out/2026-11-22/inference-1thread.md 2> benchmarks/out/2026-11-22/inference-1thread.err
