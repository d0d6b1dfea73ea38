#!/usr/bin/env bash
# The quality runs behind RESULTS.md (item 1), as run on 2026-11-22 on the 2-core machine.
# Two shard processes with one torch thread each share the cache (not compared with one
# process with two threads); the final unsharded run finds every cell cached
# and writes runs/<name>/report.md, aggregate.csv and the figures.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
tasks=("$@")
[ ${#tasks[@]} -eq 0 ] && tasks=(marc sib200 xnli pawsx)
for task in "${tasks[@]}"; do
  for i in 1 2; do
    /usr/bin/time -f "$task shard $i/2 wall %e s" \
      xprompt run "benchmarks/quality/$task-cpu.yaml" --quiet --shard "$i/2" &
  done
  wait
  xprompt run "benchmarks/quality/$task-cpu.yaml" --quiet
done
python -m benchmarks.quality_summary runs/quality-sib200-cpu runs/quality-marc-cpu \
  runs/quality-xnli-cpu runs/quality-pawsx-cpu
