"""The headline section is built from a run folder's own intervals and comparisons: the goal
check calls a method ahead only when its paired interval excludes 0 and it is 3 points ahead."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks.results_page import END, START, main, section
from xprompt.errors import ConfigError

SPAN_COLUMNS = ["method", "shots", "adapt_shots", "target", "metric", "estimate", "ci_low", "ci_high", "n_seeds", "n"]
PAIR_COLUMNS = ["shots", "adapt_shots", "method", "versus", "target", "metric", "difference", "ci_low", "ci_high",
                "p_value", "significant", "n_seeds"]


def write_run(folder, pairs, targets=("de",)):
    """A run folder with three methods at K=16 and `full`; `pairs` maps (shots, method, versus) to
    (difference, low, high) on the average over targets."""
    folder.mkdir()
    spans = []
    for shots, base in (("16", 0.70), ("full", 0.75)):
        for method, shift in (("uniprompt", 0.05), ("uniprompt+self-training", 0.07), ("finetune", 0.0)):
            for target in ("en", *targets, "avg"):
                estimate = base + shift
                spans.append((method, shots, 0, target, "accuracy", estimate, estimate - 0.02, estimate + 0.02, 3, 200))
    pd.DataFrame(spans, columns=SPAN_COLUMNS).to_csv(folder / "intervals.csv", index=False)
    rows = [(shots, 0, method, versus, "avg", "accuracy", d, low, high, 0.01, low > 0 or high < 0, 3)
            for (shots, method, versus), (d, low, high) in pairs.items()]
    pd.DataFrame(rows, columns=PAIR_COLUMNS).to_csv(folder / "comparisons.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"config": {"name": "grid", "task": {"name": "toy"},
                                                            "seeds": [13, 21, 42]}}))
    return folder


def test_goal_is_met_only_with_three_points_and_an_interval_above_zero(tmp_path):
    run = write_run(tmp_path / "grid", {
        ("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07),                 # met
        ("full", "uniprompt", "finetune"): (0.05, -0.01, 0.11),               # interval includes 0
        ("16", "uniprompt+self-training", "finetune"): (0.07, 0.01, 0.12),    # met (its own setting)
        ("full", "finetune", "uniprompt+self-training"): (0.02, 0.005, 0.03),  # the baseline ahead
    })
    text = section([run], ["finetune"], tmp_path / "figures", tmp_path)
    goal = text.split("### Goal check")[1].split("### toy")[0]
    lines = [line for line in goal.splitlines() if line.startswith("| toy")]
    assert lines == [
        "| toy | grid | 16 | zero-shot | uniprompt | best on these test rows | finetune | +5.0 [+3.1, +7.0] | yes |",
        "| toy | grid | 16 | zero-shot + unlabelled target text | uniprompt+self-training | best on these test rows "
        "| finetune | +7.0 [+1.0, +12.0] | yes |",
        "| toy | grid | full | zero-shot | uniprompt | best on these test rows | finetune | +5.0 [-1.0, +11.0] "
        "| no (interval includes 0) |",
        "| toy | grid | full | zero-shot + unlabelled target text | uniprompt+self-training | best on these test rows "
        "| finetune | -2.0 [-3.0, -0.5] | no (behind) |"]
    assert "**+5.0 [+3.1, +7.0]**" in text and "**+5.0 [-1.0, +11.0]**" not in text
    summary = text.split("### Where xprompt is ahead, and where it is not")[1].split("### Goal check")[0]
    picked = " (best on these test rows)"
    assert ("- **Ahead**:\n  - toy K = 16 (grid, zero-shot): uniprompt − finetune +5.0 [+3.1, +7.0]" + picked + "\n"
            "  - toy K = 16 (grid, zero-shot + unlabelled target text): "
            "uniprompt+self-training − finetune +7.0 [+1.0, +12.0]" + picked + "\n"
            "- **Behind**:\n  - toy full (grid, zero-shot + unlabelled target text): "
            "uniprompt+self-training − finetune -2.0 [-3.0, -0.5]" + picked + "\n"
            "- **No difference shown (the interval includes 0)**:\n"
            "  - toy full (grid, zero-shot): uniprompt") in summary
    assert "No baseline run yet" not in summary
    alone = section([run], ["probe"], None, None)  # a baseline no cell of the run has
    assert "- **Ahead**: none.\n" in alone
    assert "- **No baseline run yet**:\n  - toy K = 16 (grid)\n  - toy full (grid)\n" in alone
    assert (tmp_path / "figures" / "accuracy_by_size_grid.png").stat().st_size > 0
    published = text.split("### Beside the published numbers")[1].split("### toy")[0]
    assert "Adelani et al. 2023" in published and "69.10" in published and "uniprompt not run yet" in published
    assert "Not set beside a paper yet: MARC few-shot on the UniPrompt paper's own English split files" in published
    assert "figures/accuracy_by_size_grid.png" in text
    across = text.split("### Across tasks")[1].split("### Goal check")[0]  # zero-shot rows only
    assert ("| task | run | baseline | K = 16 | full |\n|---|---|---|---|---|\n"
            "| toy | grid | finetune | **+5.0 [+3.1, +7.0]** | +5.0 [-1.0, +11.0] |") in across
    assert "uniprompt minus each baseline" in across


def test_a_lead_that_vanishes_without_a_collapsed_seed_is_not_called_ahead(tmp_path):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07),
                                        ("full", "uniprompt", "finetune"): (0.098, 0.0004, 0.26)})
    (run / "collapsed.csv").write_text("method,shots,adapt_shots,seed,majority\nfinetune,full,0,42,1.0\n")
    pd.DataFrame([("full", 0, "uniprompt", "finetune", "avg", "accuracy", 0.010, -0.005, 0.024, 0.17, False, 2)],
                 columns=PAIR_COLUMNS).to_csv(run / "comparisons_without_collapsed.csv", index=False)
    text = section([run], ["finetune"], None, None, ["uniprompt"])
    summary = text.split("### Where xprompt is ahead, and where it is not")[1].split("### Across tasks")[0]
    ahead = summary.split("- **Ahead**:")[1].split("- **Behind**")[0]
    assert "K = 16" in ahead and "full" not in ahead  # the K = 16 lead has no collapsed seed on either side
    assert ("- **Apart only through a seed that collapsed (without it the interval includes 0, or no seed is left to "
            "pair)**:\n"
            "  - toy full (grid, zero-shot): uniprompt − finetune +9.8 [+0.0, +26.0]; without finetune's collapsed "
            "seed 42: +1.0 [-0.5, +2.4]") in summary
    assert ("| toy | grid | full | zero-shot | uniprompt | declared beforehand | finetune | +9.8 [+0.0, +26.0] "
            "(without finetune's collapsed seed 42: +1.0 [-0.5, +2.4]) | no (only with a collapsed seed) |") in text
    assert "| toy | grid | finetune | **+5.0 [+3.1, +7.0]** | +9.8 [+0.0, +26.0]† |" in text  # not bold, marked
    assert "Seeds that collapsed (one class predicted for at least 99% of the target items" in text
    assert "finetune full seed 42 (100.0%)" in text
    table = text.split("Source data: the whole training set")[1]
    assert "| +9.8 [+0.0, +26.0] (without the collapsed seeds: +1.0 [-0.5, +2.4]) |" in table  # not bold
    ensembles = write_run(tmp_path / "ensembles", {("full", "uniprompt", "finetune+ensemble"): (0.023, 0.008, 0.037)})
    (ensembles / "collapsed.csv").write_text("method,shots,adapt_shots,seed,majority\nfinetune,full,0,42,1.0\n")
    spans = pd.read_csv(ensembles / "intervals.csv")
    extra = spans[spans["method"] == "finetune"].assign(method="finetune+ensemble", n_seeds=1)
    pd.concat([spans, extra]).to_csv(ensembles / "intervals.csv", index=False)
    member = section([ensembles], ["finetune+ensemble"], None, None, ["uniprompt"])
    assert ("uniprompt − finetune+ensemble +2.3 [+0.8, +3.7]; an ensemble here includes finetune's collapsed "
            "seed 42") in member.split("- **Ahead**:")[1].split("- **Behind**")[0]  # noted, still ahead
    healthy = section([write_run(tmp_path / "healthy", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})],
                      ["finetune"], None, None, ["uniprompt"])
    assert "collapsed" not in healthy


def test_a_lead_paired_only_on_a_collapsed_seed_is_not_called_ahead(tmp_path):
    """An interim run where the method under test has one seed so far, and the baseline's seed of
    that number collapsed: without it no seed is left to pair, and the lead is not a result."""
    run = write_run(tmp_path / "grid", {("full", "uniprompt", "finetune"): (0.227, 0.205, 0.249)})
    (run / "collapsed.csv").write_text("method,shots,adapt_shots,seed,majority\nfinetune,full,0,21,1.0\n")
    pd.DataFrame(columns=PAIR_COLUMNS).to_csv(run / "comparisons_without_collapsed.csv", index=False)
    text = section([run], ["finetune"], None, None, ["uniprompt"])
    summary = text.split("### Where xprompt is ahead, and where it is not")[1].split("### Across tasks")[0]
    assert "- **Ahead**: none." in summary
    assert ("- **Apart only through a seed that collapsed (without it the interval includes 0, or no seed is left to "
            "pair)**:\n"
            "  - toy full (grid, zero-shot): uniprompt − finetune +22.7 [+20.5, +24.9]; without finetune's "
            "collapsed seed 21: no seed left to pair") in summary
    assert "no (only with a collapsed seed)" in text and "**+22.7" not in text
    table = text.split("Source data: the whole training set")[1]
    assert "| +22.7 [+20.5, +24.9] (without the collapsed seeds: no seed left to pair) |" in table
    before = write_run(tmp_path / "older", {("full", "uniprompt", "finetune"): (0.227, 0.205, 0.249)})
    (before / "collapsed.csv").write_text("method,shots,adapt_shots,seed,majority\nfinetune,full,0,21,1.0\n")
    assert "**+22.7" in section([before], ["finetune"], None, None, ["uniprompt"])  # no without-file: not judged


def test_across_tasks_tells_a_size_not_run_yet_from_one_not_planned(tmp_path):
    from benchmarks.interval_summary import load
    from benchmarks.goal_check import across_tasks, goal_rows

    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    spans, comparisons, _ = load(run)
    goals = goal_rows(spans, comparisons, "toy", "grid", ["finetune"], {"finetune"}, ["uniprompt"])
    table = across_tasks(goals, {"grid": ["16", "64"]})
    assert "| toy | grid | finetune | **+5.0 [+3.1, +7.0]** | not run yet |" in table[-2]  # 64 planned, not run
    other = goal_rows(spans, comparisons, "toy", "later", ["finetune"], {"finetune"}, ["uniprompt"])
    assert "later" not in "\n".join(across_tasks(goals + other, {"grid": ["16"]}))  # a task's first run only
    assert across_tasks([], {}) == []


def test_across_tasks_gives_each_method_under_test_its_own_table():
    """A headline grid (its best configuration) and an every-method grid (plain UniPrompt) of the same
    task each get a table; the every-method grid is not hidden behind the task's first run."""
    from benchmarks.goal_check import CARRIED, Goal, across_tasks

    def goal(run, method, shots, difference, verdict):
        return Goal("toy", run, shots, "zero-shot", method, "finetune", difference, verdict, declared=True)
    goals = [goal("headline", "uniprompt+ensemble", "16", "+1.0 [-1.0, +3.0]", "no (interval includes 0)"),
             goal("methods", "uniprompt", "16", "+5.0 [+3.1, +7.0]", "yes"),
             goal("methods", "uniprompt", "full", "+9.8 [+0.0, +26.0]", CARRIED)]
    text = "\n".join(across_tasks(goals, {"headline": ["16"], "methods": ["16", "64", "full"]}))
    first, second = text.split("uniprompt+ensemble minus each baseline:")[1].split("uniprompt minus each baseline:")
    assert "| toy | headline | finetune | +1.0 [-1.0, +3.0] |" in first and "methods" not in first
    assert ("| toy | methods | finetune | **+5.0 [+3.1, +7.0]** | not run yet | +9.8 [+0.0, +26.0]† |" in second
            and "headline" not in second)


def test_into_replaces_only_the_marked_section(tmp_path, capsys):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    page = tmp_path / "RESULTS.md"
    page.write_text(f"# Results\n\nbefore\n{START}\nold text\n{END}\nafter\n")
    assert main([str(run), "--versus", "finetune", "--declared", "uniprompt", "--into", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Results\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "old text" not in text and "--versus finetune --declared uniprompt`" in text
    assert "| toy | grid | 16 | zero-shot | uniprompt | declared beforehand | finetune |" in text
    page.write_text("no markers\n")
    assert main([str(run), "--versus", "finetune", "--into", str(page)]) == 2
    assert "results_page start" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        section([tmp_path / "missing"], ["finetune"], None, None)


def test_published_table_sets_a_runs_own_average_beside_the_paper(tmp_path):
    pairs = {("full", "uniprompt", "finetune"): (0.05, 0.031, 0.07)}
    ten = write_run(tmp_path / "ten", pairs, targets=tuple(f"l{i}" for i in range(10)))
    every = write_run(tmp_path / "every", pairs, targets=tuple(f"l{i}" for i in range(204)))
    for run in (ten, every):
        info = json.loads((run / "run.json").read_text())
        info["config"]["task"]["name"] = "sib200"
        (run / "run.json").write_text(json.dumps(info))
    row = next(line for line in section([ten], ["finetune"], None, None).splitlines() if "Adelani et al. 2023" in line)
    assert "uniprompt not run yet" in row  # ten targets are not the paper's 204
    text = section([ten, every], ["finetune"], None, None)
    row = next(line for line in text.splitlines() if "Adelani et al. 2023" in line)
    assert "fine-tuning 69.10" in row and "uniprompt 80.0 [78.0, 82.0]" in row and "finetune 75.0 [73.0, 77.0]" in row
    assert "probe not run yet" in row


def test_an_interim_runs_unfinished_method_is_not_set_beside_a_paper(tmp_path):
    pairs = {("full", "uniprompt", "finetune"): (0.05, 0.031, 0.07)}
    run = write_run(tmp_path / "every", pairs, targets=tuple(f"l{i}" for i in range(204)))
    spans = pd.read_csv(run / "intervals.csv", dtype={"shots": str})
    spans.loc[(spans["method"] == "finetune") & (spans["shots"] == "full"), "n_seeds"] = 2  # a seed still to run
    spans.to_csv(run / "intervals.csv", index=False)
    info = json.loads((run / "run.json").read_text())
    info["config"]["task"]["name"] = "sib200"
    (run / "run.json").write_text(json.dumps({**info, "interim": True, "evaluations": [10, 12]}))
    row = next(line for line in section([run], ["finetune"], None, None).splitlines() if "Adelani et al. 2023" in line)
    assert "uniprompt 80.0 [78.0, 82.0]" in row and "finetune not run yet" in row
    (run / "run.json").write_text(json.dumps(info))  # the same cells in a finished run are quoted
    row = next(line for line in section([run], ["finetune"], None, None).splitlines() if "Adelani et al. 2023" in line)
    assert "finetune 75.0 [73.0, 77.0]" in row


def test_speed_tables_come_from_the_suite_folder_under_their_commands(tmp_path, capsys):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    suite = tmp_path / "quiet"
    suite.mkdir()
    (suite / "inference.md").write_text("machine: x\n\n### (a) inference, marc\n| variant | ratio to plain |\n"
                                        "|---|---|\n| plain | 1 |\n| precomputed | 0.94 |\n")
    (suite / "rerun.txt").write_text("cold 96.8 s wall, 1 kB peak\nwarm 5.7 s wall, 1 kB peak\n")
    assert main([str(run), "--versus", "finetune", "--speed", str(suite)]) == 0
    text = capsys.readouterr().out.split("## Cost and speed")[1]
    assert "    python -m benchmarks speed-inference --tasks marc,xnli --rows 64 --repeats 5 --data-root DATA" in text
    assert "-f 'warm %e s wall, %M kB peak' python -m xprompt.cli run pipelines/demo.yaml" in text
    assert "#### (a) inference, marc" in text and "| precomputed | 0.94 |" in text
    assert "```\ncold 96.8 s wall, 1 kB peak\nwarm 5.7 s wall, 1 kB peak\n```" in text
    assert "Not in this run: costs.md, padding.md" in text  # what the suite did not write is named
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(run), "--versus", "finetune", "--speed", str(empty)]) == 2
    assert "python -m benchmarks.speed_suite" in capsys.readouterr().err


def test_the_ledger_section_adds_up_each_grid_over_its_sessions(tmp_path, capsys):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    folder = tmp_path / "out" / "quality-grid-x"
    folder.mkdir(parents=True)
    head = "stage,cell,key,created,host,cpu,seconds,cpu_seconds\n"
    (folder / "ledger-1.csv").write_text(head + "train,train a,k1,2026-12-03T10:00:00+00:00,not recorded,"
                                         "not recorded,,\n")
    (folder / "ledger-2.csv").write_text(head + "train,train a,k1,2026-12-03T10:00:00+00:00,not recorded,"
                                         "not recorded,,\ntrain,train b,k2,2026-12-04T07:00:00+00:00,vm-1,AMD EPYC,"
                                         "3600,7200\nevaluate,evaluate b,k3,2026-12-04T07:10:00+00:00,vm-1,AMD EPYC,"
                                         "1800,1800\n")
    assert main([str(run), "--versus", "finetune", "--ledger", str(folder)]) == 0
    text = capsys.readouterr().out.split("### Where and when the cells ran")[1]
    assert "(2 ledgers)" in text
    assert "| 2026-12-03 | not recorded | not recorded | 1 | 0 | – | – |" in text
    assert "| 2026-12-04 | AMD EPYC | vm-1 | 2 | 2 | 1.50 | 2.50 |" in text
    assert "| total |  |  | 3 | 2 | 1.50 | 2.50 |" in text
    assert main([str(run), "--versus", "finetune", "--ledger", str(tmp_path / "grid")]) == 2
    assert "holds no ledger-*.csv" in capsys.readouterr().err


def test_a_variant_of_a_baseline_is_never_called_the_best_method(tmp_path):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    spans = pd.read_csv(run / "intervals.csv")
    stronger = spans[spans["method"] == "finetune"].assign(method="finetune+checkpoint-average", estimate=0.95)
    pd.concat([spans, stronger]).to_csv(run / "intervals.csv", index=False)
    goal = section([run], ["finetune"], None, None).split("### Goal check")[1].split("### Beside")[0]
    assert ("| toy | grid | 16 | zero-shot | uniprompt | best on these test rows | finetune "
            "| +5.0 [+3.1, +7.0] | yes |") in goal
    assert "| finetune+checkpoint-average |" not in goal


def test_a_declared_configuration_is_tested_even_where_another_variant_averages_higher(tmp_path):
    run = write_run(tmp_path / "grid", {
        ("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07),
        ("16", "uniprompt+ensemble", "finetune"): (0.09, 0.06, 0.12),
        ("full", "uniprompt+ensemble", "finetune"): (0.01, -0.01, 0.03)})
    spans = pd.read_csv(run / "intervals.csv")
    ensembled = spans[spans["method"] == "uniprompt"].assign(method="uniprompt+ensemble", n_seeds=1)
    higher = ensembled.assign(estimate=ensembled["estimate"] + 0.04)
    # at K = 16 the ensemble averages higher than the declared plain method; at `full` it is missing
    pd.concat([spans, higher[higher["shots"] == "16"]]).to_csv(run / "intervals.csv", index=False)
    text = section([run], ["finetune"], None, None, declared=["uniprompt+checkpoint-average", "uniprompt"])
    goal = text.split("### Goal check")[1].split("### Beside")[0]
    assert ("| toy | grid | 16 | zero-shot | uniprompt | declared beforehand | finetune "
            "| +5.0 [+3.1, +7.0] | yes |") in goal
    assert "uniprompt+ensemble" not in goal and "the first of uniprompt+checkpoint-average, uniprompt" in goal
    summary = text.split("### Where xprompt is ahead")[1].split("### Goal check")[0]
    assert "  - toy K = 16 (grid, zero-shot): uniprompt − finetune +5.0 [+3.1, +7.0]\n" in summary
    undeclared = section([run], ["finetune"], None, None)  # no declaration: the best average is tested
    assert ("| toy | grid | 16 | zero-shot | uniprompt+ensemble | best on these test rows | finetune | +9.0 [+6.0, "
            "+12.0] | yes |") in undeclared


def test_an_interim_run_names_the_methods_still_missing_seeds_or_languages(tmp_path):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)}, targets=("de", "fr"))
    spans = pd.read_csv(run / "intervals.csv", dtype={"shots": str})
    partial = (spans["method"] == "finetune") & (spans["shots"] == "16")
    spans.loc[partial, "n_seeds"] = 2                                    # one seed of three still to run
    spans = spans[~(partial & (spans["target"] == "fr"))]                # and one language
    ensemble = spans[(spans["method"] == "uniprompt")].assign(method="uniprompt+ensemble", n_seeds=1)
    pd.concat([spans, ensemble]).to_csv(run / "intervals.csv", index=False)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "interim": True, "evaluations": [10, 12]}))
    text = section([run], ["finetune"], None, None)
    assert text.count("Still incomplete at this size") == 1  # K = 16 only; a one-seed ensemble is complete
    assert "Still incomplete at this size (its average and differences cover only what ran): finetune (2 of 3 " \
           "seeds, 2 of 3 languages)." in text
    assert "10 of the plan's 12 evaluations" in text
    info.pop("interim", None)
    (run / "run.json").write_text(json.dumps(info))  # a finished run says nothing of the kind
    assert "Still incomplete" not in section([run], ["finetune"], None, None)


def test_interval_widths_are_set_against_the_aim_and_what_the_test_rows_allow(tmp_path):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)},
                    targets=tuple(f"l{i}" for i in range(4)))  # 4 targets x 200 rows; every interval ±2 points
    text = section([run], ["finetune"], None, None)
    line = next(line for line in text.splitlines() if line.startswith("Interval widths"))
    # mean accuracy p = 0.765 over the six averages: ±196 * sqrt(p(1-p) / 800) = ±2.9 points;
    # ±1.5 needs p(1-p) * (1.96 / 0.015)^2 = 3,070 rows, 768 per target, more than the 200 there are
    assert line == ("Interval widths: the averages' 95% intervals are ±2.0 to ±2.0 points; 0 of 6 are within "
                    "the ±1.5 aimed at. The test rows alone allow about ±2.9 here (800 target rows at 76% "
                    "accuracy); ±1.5 would need about 768 rows per target, more than the whole test sets hold.")
    assert "spread between seeds" not in line  # nothing is wider than the rows allow


def test_on_a_parallel_task_the_width_note_says_the_targets_share_their_sentences(tmp_path):
    from benchmarks.page_notes import parallel_task, width_note

    assert parallel_task({"task": {"name": "sib200"}}) and not parallel_task({"task": {"name": "marc"}})
    assert not parallel_task({"task": {"name": "toy"}})  # a card this installation does not have
    average = pd.DataFrame({"estimate": [0.8], "ci_low": [0.76], "ci_high": [0.84]})  # ±4 points
    line = width_note(average, 204, 10, True, parallel=True)
    # p = 0.8: one language's 204 sentences allow ±196 * sqrt(0.16 / 204) = ±5.5, ten independent ±1.7;
    # ±1.5 could need 0.16 * (1.96 / 0.015)^2 = 2,732 sentences
    assert line == ("Interval widths: the averages' 95% intervals are ±4.0 to ±4.0 points; 0 of 1 are within the "
                    "±1.5 aimed at. The 10 targets' test rows translate the same 204 sentences, so the rows alone "
                    "allow between about ±1.7 (had the languages erred on different sentences) and ±5.5 (had they "
                    "all erred on the same ones) at 80% accuracy, and more languages do not narrow an average; ±1.5 "
                    "could need up to 2,732 sentences, more than the whole test sets hold.")


def test_gpu_table_comes_from_the_session_folder_or_the_page_says_it_was_not_measured(tmp_path, capsys):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    suite = tmp_path / "quiet"
    suite.mkdir()
    (suite / "costs.md").write_text("| method | trainable |\n|---|---|\n| uniprompt | 1 |\n")
    assert main([str(run), "--versus", "finetune", "--speed", str(suite)]) == 0
    text = capsys.readouterr().out.split("### On a GPU")[1]
    assert "Not measured: no session has had a GPU yet. `bash benchmarks/gpu_session.sh`" in text
    gpu = tmp_path / "gpu"
    gpu.mkdir()
    (gpu / "machine.txt").write_text("NVIDIA H200, 143771 MiB, 570.00\ntorch 2.13.0 | CUDA 12.8 | NVIDIA H200\n")
    (gpu / "large.md").write_text("### large-shaped XLM-R (random weights), cuda NVIDIA H200\n\n| method | s/step |\n"
                                  "|---|---|\n| finetune | 0.05 |\n")
    assert main([str(run), "--versus", "finetune", "--speed", str(suite), "--gpu", str(gpu)]) == 0
    text = capsys.readouterr().out.split("### On a GPU")[1]
    assert "NVIDIA H200, 143771 MiB" in text and "#### large-shaped XLM-R" in text and "| finetune | 0.05 |" in text
    assert "Not measured" not in text
    (gpu / "large.md").write_text("")  # a table the time limit cut off before it printed
    assert main([str(run), "--versus", "finetune", "--gpu", str(gpu)]) == 2
    assert "holds no machine.txt and large.md or base.md" in capsys.readouterr().err


def test_a_run_with_transfer_gaps_shows_them_beside_each_average(tmp_path):
    run = write_run(tmp_path / "grid", {("16", "uniprompt", "finetune"): (0.05, 0.031, 0.07)})
    spans = pd.read_csv(run / "intervals.csv")
    gap = spans[(spans["target"] == "avg") & (spans["method"] == "uniprompt")].assign(
        metric="transfer_gap", estimate=0.04, ci_low=0.01, ci_high=0.07)
    pd.concat([spans, gap]).to_csv(run / "intervals.csv", index=False)
    text = section([run], ["finetune"], None, None)
    assert ("| method | setting | avg over targets [95% interval] "
            "| transfer gap: source − avg [95% interval] | seeds |") in text
    assert "| uniprompt | zero-shot | 75.0 [73.0, 77.0] | 4.0 [1.0, 7.0] | 3 |" in text
    assert "| finetune | zero-shot | 70.0 [68.0, 72.0] | – | 3 |" in text
