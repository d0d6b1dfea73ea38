"""Typed pipeline configuration: dataclasses are the truth, YAML is only the stored
form. Unknown keys are errors that name the accepted ones."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from xprompt.errors import ConfigError
from xprompt.shots import FULL
from xprompt.strict import from_dict


NEUTRAL = "neutral"


def neutral(value):
    """Metadata for an option added after caches were filled: `value` is what xprompt did before
    the option existed. Cache keys leave the option out while it holds that value, so adding it
    keeps every old entry valid; any other value (including a later default) enters the keys."""
    return {NEUTRAL: value}


UNLABELLED_SOURCES = ("dev", "train", "file")


def _help(text: str, added: dict | None = None, **kwargs):
    return field(metadata={"help": text, **(added or {})}, **kwargs)


@dataclass
class ModelConfig:
    name: str = _help("Hub id or local path of a BERT-family encoder", default="intfloat/multilingual-e5-small")
    revision: str | None = _help("Hub revision (commit, tag or branch)", default=None)
    device: str = _help("auto, cpu, cuda or cuda:N", default="auto")
    dtype: str = _help("auto (bfloat16 on GPUs that have it, else float32), float32, bfloat16 (also on a CPU) or "
                       "float16 (GPU): the precision of forward passes under autocast; weights stay float32",
                       default="auto")


@dataclass
class TaskConfig:
    name: str = _help("known task (xnli, pawsx, marc, sib200) or path to a task card YAML", default="sib200")
    source: str | None = _help("source language; default: the card's", default=None)
    targets: str | dict | list[str] = _help(
        "target languages evaluated zero-shot: a list, `all` (every language of the card but the source), "
        "or {exclude: [...]} (all but these)", default_factory=list)
    data_root: str | None = _help("folder with local copies; default $XPROMPT_DATA; else the Hub", default=None)
    test_size: int | None = _help("stratified test subset per language (None = whole test set)", default=None)
    dev_shots: int | None = _help("English dev examples per class for model selection (default: shots)", default=None)
    dev_size: int | None = _help("with `shots: [full]`: rows of the seeded, label-stratified dev subset used for model "
                                 "selection (None = the whole dev split); rows it takes from a training pool that "
                                 "is the same file (XNLI offline) leave the training set", default=None)
    unlabelled: str = _help("where unlabelled target-language text comes from (calibration, self-training): dev or "
                            "train (that split of each target language, labels dropped), or file (the card's "
                            "`unlabelled` file per language); a text that is also a test text is never used",
                            default="dev")
    sources: list[str] = _help("several source languages to train on (multi-source transfer), the source language "
                               "first, e.g. [en, ar, zh]; empty: the source alone. A method may set its own",
                               default_factory=list)
    source_shots: str = _help("with several sources: split (K per class in total, divided across the sources; "
                              "`full`: the source's items dealt across them, each in one language) or each "
                              "(K per class, or the whole pool, from every source)", default="split")

    def __post_init__(self):
        if self.source_shots not in ("split", "each"):
            raise ConfigError(f"task.source_shots is {self.source_shots!r}; accepted: split, each")
        for name in ("test_size", "dev_shots", "dev_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"task.{name} is {value}; it must be at least 1 (or left out)")
        if self.unlabelled not in UNLABELLED_SOURCES:
            raise ConfigError(f"task.unlabelled is {self.unlabelled!r}; accepted: {', '.join(UNLABELLED_SOURCES)}")


@dataclass
class SelfTrainingConfig:
    rounds: int = _help("rounds of self-training on unlabelled target-language text (0 = off): the trained model "
                        "labels task.unlabelled text of every target language, the confident, class-balanced rows "
                        "join the source training set and the method trains again from the start; evaluated as "
                        "'<method>+self-training' (zero-shot + unlabelled target text)", default=0)
    confidence: float = _help("keep a row only when its top class probability is at least this (0: rank alone "
                              "decides; the encoders here are under-confident: a median top probability of 0.3 "
                              "over SIB-200's 7 classes on German text for UniPrompt and fine-tuning at K=16)",
                              default=0.0)
    per_class: int = _help("at most this many rows per class and language each round, the most confident first",
                           default=8)
    rows: int = _help("unlabelled rows per language labelled each round (a seeded draw, never a test text)",
                      default=256)

    def __post_init__(self):
        if self.rounds < 0 or self.per_class < 1 or self.rows < 1 or not 0 <= self.confidence <= 1:
            raise ConfigError(f"train.self_training is {self}; accepted: rounds 0 or more, per_class and rows 1 or "
                              f"more, 0 <= confidence <= 1")


@dataclass
class TrainConfig:
    epochs: int = _help("passes over the K-shot training set", default=10)
    batch_size: int = _help("training batch size", default=8)
    lr: float = _help("learning rate of pretrained weights", default=3e-5)
    prompt_lr: float = _help("learning rate of new parameters (prompts, label vectors)", default=1e-3)
    weight_decay: float = _help("AdamW weight decay", default=0.01)
    warmup_ratio: float = _help("fraction of steps with linear warmup", default=0.1)
    max_grad_norm: float = _help("gradient clipping norm", default=1.0)
    eval_every: int = _help("evaluate on the dev set every N epochs", default=1)
    accumulate: int = _help("gradient accumulation: batches per optimizer step (effective batch = "
                            "batch_size x accumulate)", neutral(1), default=1)
    gradient_checkpointing: bool = _help("recompute each layer's activations in the backward pass: less "
                                         "memory, about a third more time (does not change results)", default=False)
    max_steps: int = _help("train for exactly this many optimizer steps, passing over the data as often as "
                           "needed (0 = train.epochs decides)", neutral(0), default=0)
    eval_every_steps: int = _help("evaluate on the dev set every N steps and at the end instead of every "
                                  "eval_every epochs (0 = by epochs)", neutral(0), default=0)
    checkpoint_every: int = _help("write a resumable checkpoint every N steps (0 = never)", default=0)
    average_seeds: bool = _help("also average the trained tensors of every seed of a method and shots into one "
                                "model, evaluated as the method '<method>+seed-average' (seed -1 in tables); "
                                "needs two seeds or more", neutral(False), default=False)
    average: str = _help("none: keep the checkpoint with the best English dev accuracy; checkpoints: the uniform "
                         "average of the trained tensors at every evaluation point (each eval_every epochs or "
                         "eval_every_steps steps) replaces it, as in Schmidt et al. 2023 (no target-language "
                         "data needed; one exportable prompt)", neutral("none"), default="none")
    self_training: SelfTrainingConfig = _help("self-training on unlabelled target text (see its keys)",
                                              default_factory=SelfTrainingConfig)
    interpolate: list[float] = _help(
        "also evaluate each trained model with its pretrained weights moved back toward the encoder's own, "
        "w x trained + (1 - w) x pretrained for each weight w listed (0 < w < 1; WiSE-FT, Wortsman et al. 2022); "
        "the parameters a method adds (prompts, label vectors, heads) stay as trained. No target-language data; "
        "one exportable model per w, evaluated as '<method>+wise-<w>'. Only for methods that train pretrained "
        "weights (UniPrompt, fine-tuning, PET, P-tuning with freeze_backbone: false), not the probe, LoRA or "
        "frozen-encoder prompts: a pipeline that sets it for any other method is refused when it loads (set it "
        "in those methods' own train sections)", neutral([]), default_factory=list)

    def __post_init__(self):
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"train.warmup_ratio is {self.warmup_ratio}; accepted: 0 <= value < 1")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("train.epochs and train.batch_size must be at least 1")
        if self.accumulate < 1:
            raise ConfigError(f"train.accumulate is {self.accumulate}; it must be at least 1")
        if self.average not in ("none", "checkpoints"):
            raise ConfigError(f"train.average is {self.average!r}; accepted: none, checkpoints")
        if self.max_steps < 0 or self.eval_every_steps < 0 or self.eval_every < 1:
            raise ConfigError("train.max_steps and train.eval_every_steps must be 0 or more, "
                              "train.eval_every 1 or more")
        for weight in self.interpolate:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1:
                raise ConfigError(f"train.interpolate holds {weight!r}; accepted: weights of the trained model "
                                  f"strictly between 0 and 1, e.g. [0.5, 0.75]")
        if len(set(self.interpolate)) != len(self.interpolate):
            raise ConfigError(f"train.interpolate is {self.interpolate}; it lists a weight twice")


@dataclass
class EvalConfig:
    batch_size: int = _help("evaluation batch size (does not change results)", default=32)
    max_tokens: int = _help("also cap a batch at this many tokens, padding included (0 = rows only); "
                            "long inputs then come in smaller batches (does not change results)", default=0)
    calibration: str = _help("none, or target_text: also evaluate every model with its class prior in each language "
                             "estimated on unlabelled text of that language (the card's dev split, labels dropped; "
                             "never test rows) and divided out (contextual calibration, Zhao et al. 2021); its rows "
                             "are the separate method '<method>+calibration' (zero-shot + unlabelled target text)",
                             default="none")
    ensemble_seeds: bool = _help("also score, per method, shots and language, the mean class probabilities of every "
                                 "seed's predictions, as the method '<method>+ensemble' (seed -1 in tables)",
                                 default=False)
    calibration_rows: int = _help("unlabelled rows per language the class prior is estimated on (a seeded draw)",
                                  default=256)

    def __post_init__(self):
        if self.calibration not in ("none", "target_text"):
            raise ConfigError(f"eval.calibration is {self.calibration!r}; accepted: none, target_text")
        if self.calibration_rows < 1:
            raise ConfigError(f"eval.calibration_rows is {self.calibration_rows}; it must be at least 1")


@dataclass
class AdaptConfig:
    shots: list[int] = _help("K per class of target-language examples for few-shot adaptation "
                             "(empty = zero-shot only)", default_factory=list)
    train: dict = _help("overrides of the train section for adaptation (e.g. epochs: 3)", default_factory=dict)


@dataclass
class MethodConfig:
    name: str = _help("method name from the registry", default="uniprompt")
    label: str | None = _help("display name in tables (default: name)", default=None)
    settings: dict = _help("the method's own options (see `xprompt methods`)", default_factory=dict)
    train: dict = _help("overrides of the pipeline's train section for this method (e.g. prompt_lr)",
                        default_factory=dict)
    sources: list[str] | None = _help("this method's source languages (default: task.sources)", default=None)

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass
class PipelineConfig:
    name: str = _help("run name; outputs go to runs/<name>", default="run")
    model: ModelConfig = _help("backbone", default_factory=ModelConfig)
    task: TaskConfig = _help("data", default_factory=TaskConfig)
    shots: list[int | str] = _help("K per class of source-language training data, or `full` for the whole "
                                   "training split (any mix, e.g. [16, full])", default_factory=lambda: [16])
    seeds: list[int] = _help("seeds; every (method, shots) trains once per seed", default_factory=lambda: [13])
    methods: list[MethodConfig] = _help("methods to compare", default_factory=lambda: [MethodConfig()])
    train: TrainConfig = _help("training loop", default_factory=TrainConfig)
    eval: EvalConfig = _help("evaluation", default_factory=EvalConfig)
    adapt: AdaptConfig = _help("few-shot adaptation to each target language", default_factory=AdaptConfig)
    output_dir: str = _help("where results, tables and reports go", default="runs")
    cache_dir: str = _help("shared stage cache", default=".xprompt-cache")

    def __post_init__(self):
        for index, shots in enumerate(self.shots):
            if shots != FULL and (not isinstance(shots, int) or isinstance(shots, bool) or shots < 1):
                raise ConfigError(f"shots[{index}] is {shots!r}; accepted: a whole number of shots per class "
                                  f"(1 or more) or `{FULL}` (the whole training split)")
        if len(set(self.shots)) != len(self.shots):
            raise ConfigError(f"shots {self.shots} lists a value twice; give each once")


def method_train_config(pipeline: "PipelineConfig", method: "MethodConfig", adapt: bool = False) -> "TrainConfig":
    """The pipeline's train section, then the method's own training defaults (its SPEC's
    `train_defaults`: the probe trains its head longer and faster), then the method entry's
    overrides (and, for adaptation, the adapt section's)."""
    from xprompt.methods import METHODS, method_config, method_spec

    own = method_spec(method.name).train_defaults if method.name in METHODS else {}
    merged = {**dataclasses.asdict(pipeline.train), **own, **method.train, **(pipeline.adapt.train if adapt else {})}
    where = "adapt.train" if adapt else f"methods[{method.display}].train"
    train = from_dict(TrainConfig, merged, where)
    if train.interpolate and method.name in METHODS and not method_spec(method.name).trains_pretrained(
            method_config(method.name, method.settings, f"methods[{method.display}]")):
        raise ConfigError(f"{where}.interpolate is {train.interpolate}, "
                          f"but {method.display} with these settings trains none of the encoder's own weights, "
                          f"so moving them back toward the pretrained ones changes nothing; "
                          f"accepted: interpolate under the train section of a method that trains them "
                          f"(uniprompt, finetune, discrete with trained: all, ptuning with freeze_backbone: false)")
    return train


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`train.lr=1e-4`, `task.targets=[de,fr]`: dotted keys, YAML values."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.lr=1e-4)")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: '{part}' is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_pipeline(path: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"pipeline file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f"{path} line {line + 1}" if line is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline file must be a mapping of keys (name, model, task, ...), "
                          f"got a {type(data).__name__}")
    data = apply_overrides(data, list(overrides))
    data.setdefault("name", path.stem)
    try:
        config = from_dict(PipelineConfig, data, "pipeline")
        for method in config.methods:  # each method's merged train section, checked before any work
            method_train_config(config, method)
        return config
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def to_dict(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def key_params(config, skip: frozenset[str] | set[str] = frozenset()) -> dict:
    """What a cache key sees of a config: the resolved value of every field, so that changing a
    default can never serve an old entry under the new meaning. Fields holding their declared
    neutral value (see `neutral`) and fields in `skip` (speed, verbosity) are left out."""
    result = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in skip or (NEUTRAL in f.metadata and value == f.metadata[NEUTRAL]):
            continue
        result[f.name] = value.value if isinstance(value, enum.Enum) else value
    return result
