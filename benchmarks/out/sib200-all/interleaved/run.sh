#!/usr/bin/env bash
# Evaluation rows/s over the whole 204-language SIB-200 run against the plain encoder, UniPrompt
# trained on the whole 701-row English split, seed 13: one process of one thread; after every 4th
# evaluation the plain encoder runs over the same test rows in the same process (side by side, so
# the load of the two background grid shards moves both rates alike).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=benchmarks/out/sib200-all/interleaved
( time nice -n 5 python -m benchmarks.eval_throughput pipelines/sib200-all-languages.yaml \
    --set "shots=[full]" --set "methods=[{name: uniprompt}]" --set cache_dir=${XPROMPT_CACHE:-/work/cache} \
    --set output_dir=/work/tp204-runs --plain-every 4 --out $OUT/throughput.json ) > $OUT/throughput.txt 2>&1
