# Re-run of (a), (b), (f) on a quiet machine (nothing else running), 2026-11-22.
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1
python -m benchmarks speed-inference --rows 32 --repeats 5 --json benchmarks/out/2026-11-22/quiet/inference.json > benchmarks/out/2026-11-22/quiet/inference.md 2> benchmarks/out/2026-11-22/quiet/inference.err
python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --tasks xnli,marc --json benchmarks/out/2026-11-22/quiet/padding.json > benchmarks/out/2026-11-22/quiet/padding.md 2> benchmarks/out/2026-11-22/quiet/padding.err
python -m benchmarks naive-loss --batch 8 --repeats 3 --no-memory --json benchmarks/out/2026-11-22/quiet/naive-loss.json > benchmarks/out/2026-11-22/quiet/naive-loss.md 2> benchmarks/out/2026-11-22/quiet/naive-loss.err
python -m benchmarks train-step --batch 8 --repeats 3 --json benchmarks/out/2026-11-22/quiet/train-step.json > benchmarks/out/2026-11-22/quiet/train-step.md 2> benchmarks/out/2026-11-22/quiet/train-step.err
