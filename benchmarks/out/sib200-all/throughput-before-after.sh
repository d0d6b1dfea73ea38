#!/usr/bin/env bash
# Evaluation rows/s against the plain encoder, before (a10fe81: a model rebuilt for every language)
# and after (this commit), on the same 21 SIB-200 languages; one process each, one thread, in turn.
set -u
HERE="$(cd "$(dirname "$0")/../../.." && pwd)"
BEFORE=${BEFORE:-/work/before-wt}   # a worktree of commit a10fe81
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=$HERE/benchmarks/out/sib200-all/throughput-20.yaml
OUT=$HERE/benchmarks/out/sib200-all
[ "${ONLY:-before}" != after ] && (cd "$BEFORE" && PYTHONPATH="$BEFORE" nice python "$HERE/benchmarks/eval_throughput.py" $P \
   --set cache_dir=/work/tp-cache-before --set output_dir=/work/tp-runs-before --out $OUT/throughput-before.json) \
   > $OUT/throughput-before.txt 2>&1
[ "${ONLY:-after}" != before ] && (cd "$HERE" && PYTHONPATH="$HERE" nice python -m benchmarks.eval_throughput $P \
   --set cache_dir=/work/tp-cache-after --set output_dir=/work/tp-runs-after --out $OUT/throughput-after.json) \
   > $OUT/throughput-after.txt 2>&1
