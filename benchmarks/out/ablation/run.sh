#!/usr/bin/env bash
set -u
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=pipelines/uniprompt-recipe-ablation-marc.yaml
( time nice xprompt run $P --shard 1/2 --quiet ) > benchmarks/out/ablation/a.log 2>&1 &
sleep 60
( time nice xprompt run $P --shard 2/2 --quiet ) > benchmarks/out/ablation/b.log 2>&1 &
wait
xprompt run $P --quiet > benchmarks/out/ablation/marc.txt 2> benchmarks/out/ablation/marc.err
echo done > benchmarks/out/ablation/DONE
