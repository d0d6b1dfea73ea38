#!/usr/bin/env bash
# Runs one benchmark pipeline in two one-thread shards (one per core), then one `xprompt run` that
# writes its results, intervals and report, and packs its evaluations into
# benchmarks/out/<pipeline name>/evaluations.tar.gz. A pack found there first is unpacked into the
# cache, so a run resumes across machines or after the cache was lost: cells whose results are in
# the pack are not computed again, nor are the models that only fed them.
#   bash benchmarks/grid.sh pipelines/quality-grid-sib200.yaml [--set KEY=VALUE ...]
# XPROMPT_CACHE names the cache folder (default /work/cache). Pack what is done at any time with
#   xprompt cache pack PIPELINE --set cache_dir=$XPROMPT_CACHE -o benchmarks/out/<name>/evaluations.tar.gz
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
P=$1; shift
NAME=$(basename "$P" .yaml)
OUT=benchmarks/out/$NAME
CACHE=${XPROMPT_CACHE:-/work/cache}
SET=(--set "cache_dir=$CACHE" "$@")
mkdir -p "$OUT"
[ -f "$OUT/evaluations.tar.gz" ] && python -m xprompt.cli cache unpack "$OUT/evaluations.tar.gz" --cache-dir "$CACHE"
for I in 1 2; do
  ( /usr/bin/time -v nice -n 5 python -m xprompt.cli run "$P" --quiet --keep-going "${SET[@]}" --shard $I/2 ) \
    > "$OUT/shard-$I.log" 2>&1 &
done
wait
python -m xprompt.cli run "$P" --quiet "${SET[@]}" > "$OUT/results.txt" 2> "$OUT/results.err"
python -m xprompt.cli cache pack "$P" "${SET[@]}" -o "$OUT/evaluations.tar.gz"
echo done > "$OUT/DONE"
