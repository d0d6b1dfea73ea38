#!/usr/bin/env bash
# Before a session on this machine ends, once the queue is stopped
#   pkill -f benchmarks/queue.sh; pkill -f benchmarks/grid.sh; pkill -f "xprompt.cli run"
# run `bash benchmarks/session_end.sh`: for every grid of the results page that has started, it packs
# the evaluations no committed pack holds, with the ledger (benchmarks/grid.sh --pack-only); writes
# the run folder of an unfinished grid from what the cache holds (benchmarks.interim, its run.json
# says how many of the plan's evaluations it found) or copies a finished grid's run folder; and
# regenerates the results page's section from them. Commit benchmarks/out and benchmarks/RESULTS.md.
# The goal check tests the configuration the headline grids were planned around (checkpoint
# averaging with a seed ensemble; with unlabelled target text, self-training added; plain UniPrompt
# in the runs without techniques), never the variant that happens to average highest on test rows.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH=$PWD
CACHE=${XPROMPT_CACHE:-/work/cache}
GRIDS="quality-grid-sib200 quality-grid-marc quality-grid-xnli quality-grid-pawsx methods-grid-sib200
       methods-grid-marc methods-grid-xnli methods-grid-pawsx"
RUNS=(); LEDGERS=()
for NAME in $GRIDS; do
  P=pipelines/$NAME.yaml OUT=benchmarks/out/$NAME
  [ -d "$OUT" ] || { echo "$NAME: not started by benchmarks/grid.sh"; continue; }  # cells it shares may be cached
  if [ -f "$OUT/$NAME/intervals.csv" ]; then  # finished and committed: a cache holding part of it adds nothing
    echo "$NAME: finished ($OUT/$NAME)"; RUNS+=("$OUT/$NAME"); LEDGERS+=("$OUT"); continue
  fi
  STATUS=$(python -m xprompt.cli status "$P" --set "cache_dir=$CACHE" | grep -E "^[0-9]+ cells: ")  # "N cells: A to run, B cached"
  echo "$NAME: $STATUS"
  case "$STATUS" in
    *" 0 cached"*) ;;                               # not started
    *" 0 to run"*)          # finished: grid.sh packed it, and its final run wrote runs/$NAME
      if [ -f "runs/$NAME/intervals.csv" ]; then
        mkdir -p "$OUT/$NAME" && cp "runs/$NAME"/{run.json,intervals.csv,comparisons.csv} "$OUT/$NAME/"
        for F in collapsed.csv comparisons_without_collapsed.csv; do  # written since 2026-12-05
          [ -f "runs/$NAME/$F" ] && cp "runs/$NAME/$F" "$OUT/$NAME/"
        done
        rm -rf "$OUT/$NAME-interim"
      fi ;;
    *)
      # grid.sh unpacks the grid's committed packs before it packs, so the interim below is of the
      # whole grid, not of the part a cache shares with another grid run on this machine
      bash benchmarks/grid.sh "$P" --pack-only
      # the committed interim stays unless a new one is written (a cache that lost the grid holds none)
      python -m benchmarks.interim "$P" --set "cache_dir=$CACHE" -o "$OUT/$NAME-interim.new" \
        && rm -rf "$OUT/$NAME-interim" && mv "$OUT/$NAME-interim.new" "$OUT/$NAME-interim" \
        && rm -f "$OUT/$NAME-interim/items.parquet"
      rm -rf "$OUT/$NAME-interim.new" ;;
  esac
  for D in "$OUT/$NAME" "$OUT/$NAME-interim"; do [ -f "$D/intervals.csv" ] && RUNS+=("$D"); done
  ls "$OUT"/ledger-*.csv > /dev/null 2>&1 && LEDGERS+=("$OUT")
done
ls benchmarks/out/quality-sib200/ledger-*.csv > /dev/null 2>&1 && LEDGERS+=(benchmarks/out/quality-sib200)  # the ablation
# the page's other run folders: the ablation's two halves, XNLI's whole pool, SIB-200's 204 targets
python -m benchmarks.results_page "${RUNS[@]}" benchmarks/out/quality-sib200/quality-sib200-16 \
  benchmarks/out/quality-sib200/quality-sib200-full \
  benchmarks/out/xnli-full/xnli-full benchmarks/out/sib200-all-languages/sib200-all-languages-full \
  --versus finetune+checkpoint-average+ensemble,finetune+checkpoint-average+wise-0.75+ensemble,probe+checkpoint-average+ensemble,finetune,probe \
  --declared uniprompt+checkpoint-average+ensemble,uniprompt+checkpoint-average+self-training+ensemble,uniprompt \
  --figures benchmarks/figures --speed benchmarks/out/quiet-20261204 \
  ${LEDGERS[@]:+--ledger "${LEDGERS[@]}"} --into benchmarks/RESULTS.md
for NAME in $GRIDS; do  # the shards' logs of a stopped run (the ledger has their times), unless committed
  for F in benchmarks/out/$NAME/shard-*.log benchmarks/out/$NAME/results.err; do
    [ -f "$F" ] && ! git ls-files --error-unmatch "$F" > /dev/null 2>&1 && rm -f "$F"
  done
done
true
