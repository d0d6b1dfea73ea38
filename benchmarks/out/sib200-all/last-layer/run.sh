#!/usr/bin/env bash
# Evaluation rows/s against the plain encoder, before and after UniPrompt's last fused layer
# computes the <mask> position only at inference; the same 22 SIB-200 languages as
# ../throughput-20.yaml, one process each, one thread, in turn (beside the background grid).
set -u
HERE="$(cd "$(dirname "$0")/../../../.." && pwd)"
BEFORE=${BEFORE:-/work/before-wt}   # a worktree of the commit before the change
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=$HERE/benchmarks/out/sib200-all/throughput-20.yaml
OUT=$HERE/benchmarks/out/sib200-all/last-layer
for SIDE in before after; do
  ROOT=$HERE; [ $SIDE = before ] && ROOT=$BEFORE
  (cd "$ROOT" && PYTHONPATH="$ROOT" nice python -m benchmarks.eval_throughput $P \
     --set cache_dir=/work/tp-cache-$SIDE --set output_dir=/work/tp-runs-$SIDE --out $OUT/throughput-$SIDE.json) \
     > $OUT/throughput-$SIDE.txt 2>&1
done
