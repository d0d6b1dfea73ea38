#!/usr/bin/env bash
# Runs one benchmark pipeline in two one-thread shards (one per core), then one `xprompt run` that
# writes its results, intervals and report, and packs the evaluations no earlier pack holds into
# benchmarks/out/<pipeline name>/evaluations-<date>.tar.gz, with ledger-<date>.csv: every cached cell of
# the pipeline, where and when it ran and its wall and CPU seconds (`xprompt cache ledger`; the
# results page adds up a grid's ledgers across sessions). Packs found there first are unpacked into
# the cache, so a run resumes across machines or after the cache was lost: cells whose results are
# in a pack are not computed again, nor are the models that only fed them. Checkpoints of trainings
# stopped on the way are packed too (checkpoints-<date>.tar.gz) and go on from there.
#   bash benchmarks/grid.sh pipelines/quality-grid-sib200.yaml [--set KEY=VALUE ...]
# XPROMPT_CACHE names the cache folder (default /work/cache). Pack what is done at any time with
#   bash benchmarks/grid.sh PIPELINE --pack-only [--set ...]
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
P=$1; shift
PACK_ONLY=0; [ "${1:-}" = "--pack-only" ] && { PACK_ONLY=1; shift; }
NAME=$(basename "$P" .yaml)
OUT=benchmarks/out/$NAME
CACHE=${XPROMPT_CACHE:-/work/cache}
SET=(--set "cache_dir=$CACHE" "$@")
mkdir -p "$OUT"
PACKS=("$OUT"/evaluations*.tar.gz); [ -e "${PACKS[0]}" ] || PACKS=()
CHECKPOINTS=("$OUT"/checkpoints*.tar.gz); [ -e "${CHECKPOINTS[0]}" ] || CHECKPOINTS=()
pack() {  # the new evaluations, and the ledger of every cached cell (where, when, wall and CPU seconds)
  local stamp; stamp=$(date -u +%Y%m%d-%H%M%S)
  python -m xprompt.cli cache pack "$P" "${SET[@]}" -o "$OUT/evaluations-$stamp.tar.gz" \
    ${PACKS[@]:+--skip-in "${PACKS[@]}"}
  # the checkpoints of trainings stopped on the way, so that the next session goes on from the step
  # they reached, on this machine or another; those committed to git are kept under 8 MB (a prompt's
  # or adapter's is 1-3 MB; P-tuning's LSTM with its AdamW state 33 MB, fine-tuning's hundreds)
  python -m xprompt.cli cache pack "$P" "${SET[@]}" --checkpoints -o "$OUT/checkpoints-$stamp.tar.gz" --max-checkpoint-mb 8 \
    ${CHECKPOINTS[@]:+--skip-in "${CHECKPOINTS[@]}"}
  python -m xprompt.cli cache ledger "$P" "${SET[@]}" --csv "$OUT/ledger-$stamp.csv" | tail -1
  # nothing new: every cell in it is in an earlier ledger (a cache rebuilt from the packs holds fewer)
  python - "$OUT/ledger-$stamp.csv" "$OUT"/ledger-*.csv <<'PY'
import csv, pathlib, sys
new, *all_ = map(pathlib.Path, sys.argv[1:])
keys = lambda path: {row["key"] for row in csv.DictReader(path.open())}
earlier = set().union(*(keys(p) for p in all_ if p != new))
if keys(new) <= earlier:
    new.unlink()
PY
}
# DONE (never committed) records the finished runs of the same pipeline file, content and options on
# this machine: an edited pipeline runs again (from the cache, so only what the edit changed)
RUN_ID="$P $* $(sha256sum < "$P" | cut -c1-16)"
if [ $PACK_ONLY = 0 ] && grep -qxF "$RUN_ID" "$OUT/DONE" 2>/dev/null; then
  echo "$P $*: done already ($OUT/DONE)"; exit 0
fi
# the committed packs first, --pack-only too: a cache holding only part of the grid (cells it shares
# with another grid run on this machine, or a cache rebuilt elsewhere) would pack and time that part
[ $(( ${#PACKS[@]} + ${#CHECKPOINTS[@]} )) -gt 0 ] \
  && python -m xprompt.cli cache unpack "${PACKS[@]}" "${CHECKPOINTS[@]}" --cache-dir "$CACHE"
if [ $PACK_ONLY = 1 ]; then pack; exit; fi
# --then-help: a shard whose part is cached (a grid resumed from an interim) works on the other's cells
for I in 1 2; do
  ( /usr/bin/time -v nice -n 5 python -m xprompt.cli run "$P" --quiet --keep-going "${SET[@]}" --shard $I/2 --then-help ) \
    > "$OUT/shard-$I.log" 2>&1 &
done
wait
python -m xprompt.cli run "$P" --quiet "${SET[@]}" > "$OUT/results.txt" 2> "$OUT/results.err"
pack
# done only when nothing of the plan is left to run: a shard that was killed or a cell that failed
# (--keep-going) leaves the run to be resumed, not recorded as finished
if python -m xprompt.cli status "$P" "${SET[@]}" | grep -qE '^[0-9]+ cells: 0 to run'; then
  echo "$RUN_ID" >> "$OUT/DONE"  # one line per finished run: two option sets of one pipeline both stay done
else
  echo "$P $*: cells are left to run; not recorded as done"
fi
