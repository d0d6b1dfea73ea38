#!/usr/bin/env bash
# The one script to run on a lent GPU (the `device` tool: 15 minutes of device time from first use,
# no network, the working tree travels and comes back). It writes the GPU table of the results page
# into benchmarks/out/gpu/<UTC stamp>/: the machine (GPU, driver, torch), then python -m benchmarks.gpu
# for an xlm-roberta-large-shaped and a base-shaped encoder with random weights, float32 and
# bfloat16, every xprompt method against a plain Hugging Face step of the same shape. Each step has
# a time limit, so the session's budget is never overrun; nothing needs the Hugging Face cache (the
# benchmark builds a word-level stand-in tokenizer when the offline model's files are not there).
#   bash benchmarks/gpu_session.sh
# The tree that travels may hold 64 MiB; with the grids' evaluation packs and .git this one is more
# (84 MB tracked on 2026-12-06). Send a lean copy without the packs (25 MB with the checkpoint packs
# then, 17 MB without them) and copy its benchmarks/out/gpu back:
#   rm -rf /work/lean && git clone -q --depth 1 file:///work/main /work/lean
#   rm -rf /work/lean/.git /work/lean/benchmarks/out/*/{evaluations,checkpoints}*.tar.gz
# Then, on this machine: python -m benchmarks.results_page ... --gpu benchmarks/out/gpu/<stamp>
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
OUT=benchmarks/out/gpu/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "no nvidia-smi"
  python -c "import torch, transformers; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|',
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device', '| transformers', transformers.__version__)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
if ! python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
  echo "gpu_session: torch sees no CUDA device here; nothing was measured"; rm -rf "$OUT"; exit 1
fi
shape() {  # NAME MINUTES: one table, stopped after MINUTES
  timeout "${2}m" python -m benchmarks.gpu --shape "$1" --device cuda --dtypes float32,bfloat16 \
    --json "$OUT/$1.json" > "$OUT/$1.md" 2> "$OUT/$1.err"
  echo "gpu_session: $1 exit $? ($OUT/$1.md)"
}
shape large 7
shape base 4
