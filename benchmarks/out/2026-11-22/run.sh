#!/bin/bash
# the exact commands behind RESULTS.md
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1
python -m benchmarks naive-loss --batch 8 --repeats 3 --json benchmarks/out/2026-11-22/naive-loss.json > benchmarks/out/2026-11-22/naive-loss.md 2> benchmarks/out/2026-11-22/naive-loss.err
python -m benchmarks speed-inference --rows 16 --repeats 3 --json benchmarks/out/2026-11-22/inference.json > benchmarks/out/2026-11-22/inference.md 2> benchmarks/out/2026-11-22/inference.err
python -m benchmarks train-step --batch 8 --repeats 3 --json benchmarks/out/2026-11-22/train-step.json > benchmarks/out/2026-11-22/train-step.md 2> benchmarks/out/2026-11-22/train-step.err
python -m benchmarks padding --padding-rows 8 --repeats 3 --json benchmarks/out/2026-11-22/padding.json > benchmarks/out/2026-11-22/padding.md 2> benchmarks/out/2026-11-22/padding.err
