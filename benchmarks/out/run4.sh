#!/bin/bash
# fourth: padding again with one torch thread (the 2-thread run was noisy under load)
cd /work/main
export HF_HUB_OFFLINE=1
python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --threads 1 --tasks xnli,marc --json benchmarks/out/padding-1thread.json > benchmarks/out/padding-1thread.md 2> benchmarks/out/padding-1thread.err
