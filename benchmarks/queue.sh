#!/usr/bin/env bash
# The benchmark runs still owed by the open issues, in the order they are worth the machine's time;
# each resumes from the evaluation packs committed under benchmarks/out/<pipeline name>/ (see
# benchmarks/grid.sh). Start it in the background at the beginning of a session:
#   nohup bash benchmarks/queue.sh > /work/queue.log 2>&1 &
# and before the session ends stop it and pack what each grid has done, with the page regenerated:
#   pkill -f benchmarks/queue.sh; pkill -f benchmarks/grid.sh; pkill -f "xprompt.cli run"
#   bash benchmarks/session_end.sh
# `bash benchmarks/queue.sh --from N` starts at step N; a step finished on this machine is skipped.
# A session's machine may not come back (its cache goes with it: on 2026-12-05 the fifteenth
# session found none). Since the sixteenth, session_end.sh packs the checkpoints of the trainings it
# stopped (a prompt's or adapter's, under a MB; not full fine-tuning's) and grid.sh unpacks them, so
# those go on from their last checkpoint on any machine; a fine-tuning stopped on the way is lost.
# Steps 1-4 finished on 2026-12-04, and all of step 5: the headline grids of SIB-200, MARC and XNLI,
# PAWS-X's K = 16 column, the ablation's K = 16 half and the every-method SIB-200 grid (their packs
# are committed); PAWS-X's K = 64 column, the every-method XNLI grid (all three sizes) and the
# every-method grids of MARC and PAWS-X at K = 16 and 64 (step 7 but MARC's 256) on 2026-12-05.
# Steps 8 and 9 (the PAWS-X whole pool of the every-method grid, then of the headline grid) finished
# on 2026-12-06: every grid the results page's issue asks for is complete. The next session starts
# with --from 10 (MARC's 256 column of the every-method grid, beyond what the issue asks).
set -uo pipefail
cd "$(dirname "$0")/.."
G=benchmarks/grid.sh
FROM=1; [ "${1:-}" = "--from" ] && FROM=$2
step() { local n=$1; shift; [ "$n" -ge "$FROM" ] && bash $G "$@"; true; }
# 1. transfer-quality ablation, the `full` half (done 2026-12-04; its K = 16 half: interim-k16)
step 1 pipelines/quality-sib200.yaml --set "shots=[full]"
# 2. SIB-200 on all 204 targets: the probe with its own defaults (UniPrompt and fine-tuning are in RESULTS.md)
step 2 pipelines/sib200-all-languages.yaml --set "methods=[{name: probe}]"
# 3. configuration choice on ten validation languages (no reported target), before the headline grid
step 3 pipelines/selection-sib200.yaml
# 4. XNLI, the whole English pool, 1,002 test rows per language
step 4 pipelines/xnli-full.yaml
# 5. the headline grid; the few-shot columns of MARC and XNLI first (XNLI K = 16, run on its own
#    first, fills the published table's rows: 16 per class is both papers' setting), then their large
#    columns (MARC's 256 per class costs about 16 times K = 16's training)
step 5 pipelines/quality-grid-sib200.yaml
step 5 pipelines/quality-grid-marc.yaml --set "shots=[16, 64]"
step 5 pipelines/quality-grid-xnli.yaml --set "shots=[16]"
# PAWS-X's K = 16 column next (about 40 min here): the fourth task of the page, before the long runs
step 5 pipelines/quality-grid-pawsx.yaml --set "shots=[16]"
# XNLI's K = 64 column next: the cell the transfer-quality issue started from (fine-tuning ahead of
# every prompt method at 64 shots), so it comes before the every-method grid
step 5 pipelines/quality-grid-xnli.yaml --set "shots=[16, 64]"
# MARC's `full` column (256 reviews per star) next: with it and XNLI's K = 64 the transfer-quality
# goal has every cell but XNLI's `full`. The goal check's three methods first (UniPrompt and the two
# baselines, each with checkpoint averaging; entries as in the pipeline file, so the cells are the
# same), about two hours here; then the rest of the column (plain UniPrompt, VPT-deep,
# self-training), about two more
step 5 pipelines/quality-grid-marc.yaml --set "shots=[256]" --set "methods=[{name: uniprompt, label: uniprompt+checkpoint-average, train: {average: checkpoints, interpolate: [0.75]}}, {name: finetune, label: finetune+checkpoint-average, train: {average: checkpoints, lr: 1.0e-4, interpolate: [0.75]}}, {name: probe, label: probe+checkpoint-average, train: {average: checkpoints}}]"
# XNLI's `full` column (2,001 English pairs) for the goal check's three methods next: the last cells of
# the transfer-quality goal's grid (about 1 h 45 min here in two shards), then the rest of MARC's 256
step 5 pipelines/quality-grid-xnli.yaml --set "shots=[full]" --set "methods=[{name: uniprompt, label: uniprompt+checkpoint-average, train: {average: checkpoints, interpolate: [0.75]}}, {name: finetune, label: finetune+checkpoint-average, train: {average: checkpoints, lr: 1.0e-4, interpolate: [0.75]}}, {name: probe, label: probe+checkpoint-average, train: {average: checkpoints}}]"
step 5 pipelines/quality-grid-marc.yaml
# the rest of XNLI's `full` column (plain UniPrompt, VPT-deep, self-training; about 1 h of compute
# by the ledgers' estimate on 2026-12-04): with it XNLI's headline grid is complete
step 5 pipelines/quality-grid-xnli.yaml
# 5b. the ablation's K = 16 half again (its cache was lost and its earlier packs hold cells of older
#     cache keys; the page has its interim of 569 of 583 evaluations): 88 of its 732 cells are the
#     headline grid's, the rest about 1 h 30 min of compute by the ledgers' estimate
step 5 pipelines/quality-sib200.yaml --set "shots=[16]"
# 5c. every method at every size on SIB-200 (the results page's "every method" grid; the cheapest task
#     to run it on in full: about 70 trainings and 700 evaluations; 410 of its 994 cells were cached
#     on 2026-12-04)
step 5 pipelines/methods-grid-sib200.yaml
# 6. PAWS-X's few-shot columns (its `full`, 8,000 pairs, runs over sessions: step 8)
step 6 pipelines/quality-grid-pawsx.yaml --set "shots=[16, 64]"
# 7. every method at every size on the other three tasks (the results page's "every method" grids;
#    their plain UniPrompt cells are the headline grids'): XNLI's K = 16 column first (about 1 h 20 min
#    of compute by the ledgers' estimate): it is the published papers' setting (16 pairs per class), so
#    it sets plain fine-tuning and soft prompts beside theirs; then XNLI's K = 64 column and its whole
#    pool (about 3 h of compute by the estimate on 2026-12-05: with it XNLI's grid is complete), then
#    MARC's few-shot columns (about 2 h 30 min), PAWS-X's few-shot columns, and MARC's 256 column
#    last (step 10): the results page's issue asks every task at K = 16 and 64, and a whole-pool
#    column only where the task has a source training pool (SIB-200, XNLI, PAWS-X), so MARC's 256,
#    its largest split, is the one column beyond it.
# 8. PAWS-X's whole pool (8,000 English pairs, 75-81 minutes per training on one core; 5,000 steps of
#    batch 8): the page's comparison first (UniPrompt, fine-tuning and the probe, entries as in the
#    pipeline file so the cells are the same), then the other methods. Trainings write a resumable
#    checkpoint every 250 steps (train.checkpoint_every is not part of any cache key), so a training
#    stopped at a session's end goes on from there in the next one. These come before MARC's 256
#    column: the issue asks for them, and not for that
step 7 pipelines/methods-grid-xnli.yaml --set "shots=[16]"
step 7 pipelines/methods-grid-xnli.yaml --set "shots=[16, 64]"
step 7 pipelines/methods-grid-xnli.yaml
step 7 pipelines/methods-grid-marc.yaml --set "shots=[16, 64]"
step 7 pipelines/methods-grid-pawsx.yaml --set "shots=[16, 64]"
step 8 pipelines/methods-grid-pawsx.yaml --set "shots=[full]" --set "methods=[{name: uniprompt}, {name: finetune, train: {lr: 1.0e-4}}, {name: probe}]" --set train.checkpoint_every=250
# the released UniPrompt recipe next: 1,000 steps of batch 2 whatever the pool (about 20 minutes a
# training, its dev passes most of it), so its three seeds fit the end of a session; then the rest
step 8 pipelines/methods-grid-pawsx.yaml --set "shots=[full]" --set "methods=[{name: uniprompt, label: uniprompt-paper, settings: {recipe: paper}, train: {max_steps: 1000, batch_size: 2, eval_every_steps: 100, lr: 1.0e-5, prompt_lr: 1.0e-5}}]" --set train.checkpoint_every=250
step 8 pipelines/methods-grid-pawsx.yaml --set train.checkpoint_every=250
# 9. the headline grid's PAWS-X `full` column (its plain UniPrompt cells are step 8's): the page's
#    goal check and "Across tasks" table have every other task's whole pool, and RESULTS.md says this
#    column follows (it finished on 2026-12-06, the twenty-third session); a fine-tuning (about 72 minutes)
#    stopped by a session's end goes on from its checkpoint only if the machine comes back with its
#    cache; the other trainings resume from their packed checkpoints anywhere. So the probe
#    (the plain probe's whole-pool training took 225-251 s by the ledgers) and VPT-deep (its prompt's
#    checkpoints are packed into git, so it goes on from them on any machine) come first, and what
#    would be lost at a session's end starts after them: UniPrompt trains 37.5M parameters and
#    fine-tuning 21.5M (RESULTS.md, "Cost per method"); fine-tuning's checkpoints measured 258-516 MB,
#    over grid.sh's 8 MB for git, so they stay in this machine's cache
step 9 pipelines/quality-grid-pawsx.yaml --set "shots=[full]" --set "methods=[{name: probe, label: probe+checkpoint-average, train: {average: checkpoints}}, {name: deep, label: deep+checkpoint-average, train: {average: checkpoints, prompt_lr: 1.0e-2}}]" --set train.checkpoint_every=250
step 9 pipelines/quality-grid-pawsx.yaml --set train.checkpoint_every=250
# 10. MARC's 256 column of the every-method grid (beyond what the results page's issue asks; 3 h 17 min
#     of compute for its 154 cells by the ledgers' estimate on 2026-12-06), with resumable checkpoints
step 10 pipelines/methods-grid-marc.yaml --set train.checkpoint_every=250
