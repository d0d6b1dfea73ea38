#!/usr/bin/env bash
# SIB-200 on all 204 targets, the whole 701-row English split, seed 13: UniPrompt, fine-tuning and the
# probe with item-level predictions in one cache (earlier UniPrompt and fine-tuning predictions were
# lost with a machine), one process of one thread beside the background grid; then its evaluations
# are packed beside the earlier pack. UniPrompt's evaluations come from
# benchmarks/out/sib200-all/interleaved/run.sh when it ran first in the same cache.
set -uo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD
P=pipelines/sib200-all-languages.yaml
OUT=benchmarks/out/sib200-all-languages
SET=(--set cache_dir=${XPROMPT_CACHE:-/work/cache} --set "shots=[full]")
python -m xprompt.cli cache unpack "$OUT"/evaluations-*.tar.gz --cache-dir ${XPROMPT_CACHE:-/work/cache}
/usr/bin/time -v nice -n 5 python -m xprompt.cli run $P --quiet --keep-going "${SET[@]}" > $OUT/full.log 2>&1
python -m xprompt.cli cache pack $P "${SET[@]}" -o $OUT/evaluations-full-$(date -u +%Y%m%d-%H%M%S).tar.gz \
  --skip-in "$OUT"/evaluations-*.tar.gz
