"""The cell graph's types: a `Cell` (one cached step: stage, params, inputs, key) and a `Plan`
(the cells of a run, every cell after its inputs), with the stage versions its keys hash."""

from __future__ import annotations

from dataclasses import dataclass, field

from xprompt.pipeline.cache import stage_key

# Bump a stage's version when its code changes what it outputs: its entries are then recomputed.
VERSIONS = {"prepare": "1", "sample": "1", "train": "3", "adapt": "3", "evaluate": "2", "average": "1",
            "ensemble": "1", "pseudo_label": "1", "interpolate": "1"}
SCORED = ("evaluate", "ensemble")  # the stages whose outputs are predictions and metrics (results rows)
TRAINED = ("train", "adapt")  # the stages that train a model (data-parallel under a launcher: distributed.py)
# Train fields that change how fast or how verbosely work is done, never its result, or that add
# cells after the train cell (seed averaging, self-training, interpolation) without changing it.
NOT_IN_KEYS = {"checkpoint_every", "gradient_checkpointing", "average_seeds", "self_training", "interpolate"}


@dataclass
class Cell:
    stage: str
    name: str
    params: dict
    inputs: dict[str, "Cell"] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    group: str = ""  # cells of one group go to one shard
    meta: dict = field(default_factory=dict)  # what a results row needs (method, shots, seed, target)
    key: str = ""

    def __post_init__(self):
        input_keys = {name: cell.key for name, cell in self.inputs.items()}
        self.key = stage_key(self.stage, VERSIONS[self.stage], self.params, {}, input_keys, self.files)

    @property
    def input_keys(self) -> dict[str, str]:
        return {name: cell.key for name, cell in self.inputs.items()}


@dataclass
class Plan:
    config: object
    card: object
    source: str
    targets: list[str]
    cells: list[Cell]

    def evaluations(self) -> list[Cell]:
        return [c for c in self.cells if c.stage in SCORED]

    def source_evaluation(self, cell: Cell) -> Cell | None:
        """The zero-shot source-language evaluation of the same trained model, scored the same way
        (a calibrated evaluation's is the calibrated one)."""
        for other in self.evaluations():
            if (other.group == cell.group and other.meta["method"] == cell.meta["method"]
                    and other.meta["target"] == self.source and other.meta["adapt_shots"] == 0):
                return other
        return None

    def groups(self) -> list[str]:
        return sorted({c.group for c in self.cells if c.group})


def method_of(cell: Cell) -> tuple[str, dict]:
    """(method name, settings) of a model-making cell, from the params its key hashes: a train
    cell's own; an adapt cell's trained model's; an average's seeds' (all alike)."""
    while cell.stage != "train":
        cell = cell.inputs["model"] if "model" in cell.inputs else next(iter(cell.inputs.values()))
    return cell.params["method"], cell.params["settings"]


def with_dependencies(cells: list[Cell]) -> list[Cell]:
    """Every cell after its inputs, each once, in first-needed order."""
    ordered, seen = [], set()

    def visit(cell: Cell):
        if id(cell) in seen:
            return
        seen.add(id(cell))
        for dependency in cell.inputs.values():
            visit(dependency)
        ordered.append(cell)

    for cell in cells:
        visit(cell)
    return ordered
