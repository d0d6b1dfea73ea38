#!/usr/bin/env bash
# What ran for benchmarks/RESULTS.md "SIB-200, every language": two processes of one thread, one
# shard each, through benchmarks.eval_throughput (it runs the cells and times evaluation against the
# plain encoder in the same process), then one `xprompt run` to write results and the report.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=pipelines/sib200-all-languages.yaml
OUT=benchmarks/out/sib200-all
( time nice python -m benchmarks.eval_throughput $P --shard 1/2 --plain-every 4 --out $OUT/throughput-1.json ) > $OUT/shard-1.log 2>&1 &
( time nice python -m benchmarks.eval_throughput $P --shard 2/2 --plain-every 4 --out $OUT/throughput-2.json ) > $OUT/shard-2.log 2>&1 &
wait
xprompt run $P --quiet > $OUT/results.txt 2> $OUT/results.err
python -m benchmarks.interval_summary runs/sib200-all-languages > $OUT/intervals.md 2>&1 || true
