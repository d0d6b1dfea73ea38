#!/usr/bin/env bash
# What ran for benchmarks/RESULTS.md "XNLI, the whole English pool": two processes of one thread
# (shards of the three methods) through benchmarks.eval_throughput, then one `xprompt run` to
# write results and the report.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=pipelines/xnli-full.yaml
OUT=benchmarks/out/xnli-full
( time nice python -m benchmarks.eval_throughput $P --shard 1/2 --out $OUT/throughput-1.json ) > $OUT/shard-1.log 2>&1 &
( time nice python -m benchmarks.eval_throughput $P --shard 2/2 --out $OUT/throughput-2.json ) > $OUT/shard-2.log 2>&1 &
wait
xprompt run $P --quiet > $OUT/results.txt 2> $OUT/results.err
python -m benchmarks.interval_summary runs/xnli-full > $OUT/intervals.md 2>&1 || true
