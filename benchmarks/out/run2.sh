#!/bin/bash
# second batch of the commands behind RESULTS.md (after fixing the split used for training inputs)
cd /work/main
export HF_HUB_OFFLINE=1
python -m benchmarks naive-loss --batch 8 --repeats 3 --json benchmarks/out/naive-loss.json > benchmarks/out/naive-loss.md 2> benchmarks/out/naive-loss.err
python -m benchmarks train-step --batch 8 --repeats 3 --json benchmarks/out/train-step.json > benchmarks/out/train-step.md 2> benchmarks/out/train-step.err
python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --json benchmarks/out/padding.json > benchmarks/out/padding.md 2> benchmarks/out/padding.err
python -m benchmarks speed-inference --rows 16 --repeats 3 --threads 1 --json benchmarks/out/inference-1thread.json > benchmarks/out/inference-1thread.md 2> benchmarks/out/inference-1thread.err
