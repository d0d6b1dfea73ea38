"""Published numbers that xprompt's runs are set beside, with the setting each was measured in,
and the table that puts a run's own average next to them (benchmarks.results_page --published).

Every figure here is the paper's own (average target-language accuracy, %); the differences
between its setting and xprompt's run are stated in the row, never hidden."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.common import markdown_table


@dataclass(frozen=True)
class Published:
    task: str  # the card name of the matching xprompt run
    shots: str  # the run's source data: "16" (per class) or "full"
    setting: str
    targets: int  # how many target languages the paper averages over; a run is set beside it only with as many
    paper: str
    model: str
    numbers: dict[str, float]  # the paper's method -> its average target accuracy (%)
    ours: tuple[str, ...]  # xprompt methods to set beside them, in this order
    differences: str


PUBLISHED = (
    Published("sib200", "full", "English training set (701 rows) -> the other 204 languages, zero-shot", 204,
              "Adelani et al. 2023 (SIB-200), Table 4", "XLM-R large (560M)",
              {"fine-tuning": 69.1}, ("uniprompt", "finetune", "probe"),
              "xprompt: multilingual-e5-small (118M), 204 targets of the offline copy"),
    Published("xnli", "16", "48 English examples (16 per class) -> 14 languages, zero-shot", 14,
              "Zhao & Schütze 2021", "XLM-R base",
              {"fine-tuning": 33.74, "discrete prompts": 36.43, "soft prompts": 38.79},
              ("finetune", "soft", "uniprompt", "finetune+checkpoint-average", "deep+checkpoint-average",
               "uniprompt+checkpoint-average"),
              "xprompt: multilingual-e5-small, English shots from XNLI's English dev file, 501 test rows per "
              "language; the plain methods each with its own defaults (pipelines/methods-grid-xnli.yaml), the "
              "+checkpoint-average ones from the headline grid"),
    Published("xnli", "16", "16 English examples per class -> 14 languages, zero-shot", 14,
              "Dual prompt augmentation (DPA), Findings of ACL 2023", "XLM-R base",
              {"fine-tuning": 34.99, "DPA": 46.54},
              ("finetune", "uniprompt", "finetune+checkpoint-average", "uniprompt+checkpoint-average"),
              "xprompt: multilingual-e5-small, as the row above"),
)

# Settings the results page should set beside a paper but cannot yet, each with the reason.
NOT_TRANSCRIBED = (
    "MARC few-shot on the UniPrompt paper's own English split files (Huang et al., EMNLP 2022, XLM-R base): "
    "xprompt's MARC grid trains on those very files (16, 64 and 256 reviews per star), but the paper's table "
    "was not at hand offline when this page was written, and its figures are not quoted from memory.",
)


def published_table(ours: dict[tuple[str, str, str, int], str]) -> str:
    """One row per published setting: the paper's numbers beside xprompt's averages, `ours`
    mapping (task, shots, method, number of targets) to 'estimate [95% interval]'; a run over
    fewer targets than the paper's is not set beside it ('not run yet')."""
    rows = []
    for item in PUBLISHED:
        theirs = "; ".join(f"{name} {value:.2f}" for name, value in item.numbers.items())
        mine = "; ".join(f"{method} {ours.get((item.task, item.shots, method, item.targets), 'not run yet')}"
                         for method in item.ours)
        rows.append([item.setting, f"{item.paper}: {item.model}", theirs, mine, item.differences])
    table = markdown_table(["task and setting", "published (model)", "published, avg %", "xprompt, avg % [95% CI]",
                            "differences in setting"], rows)
    return table + "".join(f"\n\nNot set beside a paper yet: {reason}" for reason in NOT_TRANSCRIBED)
