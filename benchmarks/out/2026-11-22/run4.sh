#!/bin/bash
# fourth: padding again with one torch thread (the 2-thread run was noisy under load)
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1
python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --threads 1 --tasks xnli,marc --json benchmarks/out/2026-11-22/padding-1thread.json > benchmarks/out/2026-11-22/padding-1thread.md 2> benchmarks/out/2026-11-22/padding-1thread.err
