#!/usr/bin/env bash
# The speed and memory tables of benchmarks/RESULTS.md, one after another, on a quiet machine
# (nothing else running: stop background grids first, e.g. `kill -STOP` their processes and
# `kill -CONT` them afterwards). Each table runs its variants side by side in one process and
# reports ratios; every printed table and JSON goes to OUT (default benchmarks/out/quiet-<date>).
#   bash benchmarks/speed_suite.sh [OUT]
# About 25 minutes with the offline model on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH=$PWD
OUT=${1:-benchmarks/out/quiet-$(date -u +%Y%m%d)}
WORK=${WORK:-/tmp/xprompt-speed}
mkdir -p "$OUT"; rm -rf "$WORK"; mkdir -p "$WORK"
DATA=${XPROMPT_DATA:-../shared/data}
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/suite.log"; }
bench() {  # NAME COMMAND ARGS...: `python -m benchmarks COMMAND` (costs: `python -m benchmarks.costs`)
  local name=$1 command=$2; shift 2; log "$name"
  local module=(-m benchmarks "$command"); [ "$command" = costs ] && module=(-m benchmarks.costs)
  python "${module[@]}" "$@" --data-root "$DATA" --json "$OUT/$name.json" > "$OUT/$name.md" 2> "$OUT/$name.err"
}
# (a) precomputed prompt vs live two towers vs plain forward; (b) length-grouped vs padded
bench inference speed-inference --tasks marc,xnli --rows 64 --repeats 5
bench padding padding --padding-rows 32 --batch-size 8 --repeats 3 --tasks xnli,marc
# (e) a training step per method, (f) UniPrompt's loss path vs the released code's
bench train-step train-step --batch 8 --repeats 3
bench naive-loss naive-loss --batch 8 --repeats 3 --no-memory
# cost per method: trainable parameters, seconds per training step, peak memory, export size, inference rows/s
bench costs costs --task sib200
# many-language evaluation vs the plain forward over the same rows (22 SIB-200 languages, K = 16)
log eval-throughput
python -m benchmarks.eval_throughput benchmarks/out/sib200-all/throughput-20.yaml --set "task.data_root=$DATA" \
  --set "cache_dir=$WORK/throughput-cache" --set "output_dir=$WORK/throughput-runs" \
  --out "$OUT/eval-throughput.json" > "$OUT/eval-throughput.md" 2> "$OUT/eval-throughput.err"
# (c) train once and evaluate five languages vs retrain per language, each run from an empty cache
log retrain
python -m benchmarks.retrain --work "$WORK/retrain" > "$OUT/retrain.md" 2> "$OUT/retrain.err"
# (d) the demo pipeline cold, warm, and with one more target language
log rerun
S=(--quiet --set "cache_dir=$WORK/rerun-cache" --set "output_dir=$WORK/rerun-runs" --set "task.data_root=$DATA")
for RUN in cold warm one-more; do
  EXTRA=(); [ $RUN = one-more ] && EXTRA=(--set "task.targets=[deu_Latn, fra_Latn, rus_Cyrl, zho_Hans, hin_Deva, yor_Latn, ita_Latn]")
  /usr/bin/time -f "$RUN %e s wall, %M kB peak" python -m xprompt.cli run pipelines/demo.yaml "${S[@]}" "${EXTRA[@]}" \
    > /dev/null 2>> "$OUT/rerun.txt"
done
# CLI start-up against `import torch` (the demo pipeline is cached by the runs above)
log cli-startup
python -m benchmarks.cli_startup --pipeline pipelines/demo.yaml --repeats 7 \
  --set "cache_dir=$WORK/rerun-cache" --set "output_dir=$WORK/rerun-runs" --set "task.data_root=$DATA" \
  > "$OUT/cli-startup.md" 2> "$OUT/cli-startup.err"
log done
