#!/usr/bin/env bash
# What ran for benchmarks/RESULTS.md "Methods the literature compares" (issue: true prefix tuning,
# LoRA, UniPrompt's own recipe): two processes of one thread each, each taking one shard of one
# task and the other shard of the other task (so each gets three of the six slow paper-recipe runs),
# then one more run per task to write results and reports from the cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p benchmarks/out/methods
( time (nice xprompt run pipelines/methods-k16-sib200.yaml --shard 1/2 && nice xprompt run pipelines/methods-k16-marc.yaml --shard 2/2) ) > benchmarks/out/methods/a.log 2>&1 &
( time (nice xprompt run pipelines/methods-k16-sib200.yaml --shard 2/2 && nice xprompt run pipelines/methods-k16-marc.yaml --shard 1/2) ) > benchmarks/out/methods/b.log 2>&1 &
wait
xprompt run pipelines/methods-k16-sib200.yaml > benchmarks/out/methods/sib200.txt 2>benchmarks/out/methods/sib200.err
xprompt run pipelines/methods-k16-marc.yaml > benchmarks/out/methods/marc.txt 2>benchmarks/out/methods/marc.err
