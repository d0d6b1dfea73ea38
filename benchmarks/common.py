"""Shared helpers: machine facts, stratified subsets, interleaved timing, tables."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
# $XPROMPT_DATA, else the offline copy in the `shared` folder beside this clone (as CI lays them out)
DEFAULT_DATA_ROOT = os.environ.get("XPROMPT_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"


def machine_info() -> dict:
    import torch
    import transformers

    cpu = "n/a"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        memory = "n/a"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu": cpu, "free_g": memory, "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(), "loadavg": loadavg()}


def stratified(card, lang: str, split: str, rows: int, seed: int = 0, data_root: str | None = None):
    """rows // classes examples of every class (xprompt's own K-shot sampler, seeded)."""
    from xprompt.data import load_split

    df = load_split(card, lang, split, data_root or DEFAULT_DATA_ROOT)
    return stratify(df, rows, seed, list(card.labels))


def stratify(df, rows: int, seed: int = 0, label_names=None):
    """Exactly `rows` rows, classes as even as possible: a seeded K-shot draw with
    K = ceil(rows / classes), taken round-robin over the classes."""
    from xprompt.data import sample_k_shot

    classes = df["label"].nunique()
    sample = sample_k_shot(df, -(-rows // classes), seed, label_names=label_names)
    rank = sample.groupby("label").cumcount()
    return sample.assign(_rank=rank).sort_values(["_rank", "label"], kind="stable").head(rows) \
        .drop(columns="_rank").reset_index(drop=True)


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each call of each variant, run A B C A B C ... after `warmup` rounds
    (also interleaved), so background load falls on all variants alike."""
    for _ in range(warmup):
        for run in variants.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value):
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
