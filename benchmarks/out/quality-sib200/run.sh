#!/usr/bin/env bash
# What ran for benchmarks/RESULTS.md "Transfer quality ablation" (SIB-200): two processes of one
# thread, one shard each, K = 16 first and then `full`, in the cache shared with the
# sib200-all-languages run (its seed-13 cells are the same cells); then one `xprompt run` writes the
# results and report. Resumable: rerun it and cached cells are skipped. SHOTS="full" runs one half;
# XPROMPT_CACHE names the cache folder.
set -uo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
P=pipelines/quality-sib200.yaml
OUT=benchmarks/out/quality-sib200
CACHE=${XPROMPT_CACHE:-/work/cache}
for SHOTS in ${SHOTS:-16 full}; do
  for I in 1 2; do
    ( /usr/bin/time -v nice -n 5 python -m xprompt.cli run $P --quiet --keep-going --set cache_dir=$CACHE \
        --set "shots=[$SHOTS]" --shard $I/2 ) > $OUT/shard-$SHOTS-$I.log 2>&1 &
  done
  wait
done
python -m xprompt.cli run $P --quiet --set cache_dir=$CACHE > $OUT/results.txt 2> $OUT/results.err
echo done > $OUT/DONE
