#!/usr/bin/env bash
# The benchmark runs still owed by the open issues, in the order they are worth the machine's time;
# each resumes from the evaluation packs committed under benchmarks/out/<pipeline name>/ (see
# benchmarks/grid.sh). Start it in the background at the beginning of a session:
#   nohup bash benchmarks/queue.sh > /work/queue.log 2>&1 &
# and before the session ends pack what each finished or running step has done:
#   bash benchmarks/grid.sh <pipeline> --pack-only [the same --set options]
set -uo pipefail
cd "$(dirname "$0")/.."
G=benchmarks/grid.sh
# 1. transfer-quality ablation, the `full` half (its K = 16 half: benchmarks/out/quality-sib200/interim-k16)
bash $G pipelines/quality-sib200.yaml --set "shots=[full]"
# 2. SIB-200 on all 204 targets: the probe with its own defaults (UniPrompt and fine-tuning are in RESULTS.md)
bash $G pipelines/sib200-all-languages.yaml --set "methods=[{name: probe}]"
# 3. XNLI, the whole English pool, 1,002 test rows per language
bash $G pipelines/xnli-full.yaml
# 4. the headline grid
for TASK in sib200 marc xnli; do bash $G pipelines/quality-grid-$TASK.yaml; done
