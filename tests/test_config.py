"""Typed configs: YAML load, strict keys, type errors, dotted overrides, YAML errors
with file and line, non-default fields for cache keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from xprompt.pipeline.config import (PipelineConfig, TrainConfig, apply_overrides, key_params, load_pipeline,
                                     method_train_config)
from xprompt.strict import from_dict
from xprompt.errors import ConfigError
from xprompt.methods import method_config
from xprompt.methods.options import LabelInit

PIPELINE = """\
name: toy-run
model:
  name: tiny/model
task:
  name: sib200
  targets: [deu_Latn, fra_Latn]
shots: [8, 16]
seeds: [13, 21]
methods:
  - name: uniprompt
    settings:
      fused_layers: 2
train:
  epochs: 3
  lr: 1e-4
"""


def write(tmp_path: Path, text: str, name: str = "toy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_pipeline_yaml(tmp_path):
    config = load_pipeline(write(tmp_path, PIPELINE))
    assert isinstance(config, PipelineConfig)
    assert config.name == "toy-run" and config.model.name == "tiny/model"
    assert config.task.targets == ["deu_Latn", "fra_Latn"]
    assert config.shots == [8, 16] and config.seeds == [13, 21]
    assert config.methods[0].name == "uniprompt" and config.methods[0].settings == {"fused_layers": 2}
    assert config.train.epochs == 3
    assert config.train.lr == 1e-4 and isinstance(config.train.lr, float)  # YAML reads 1e-4 as a string
    assert config.train.batch_size == TrainConfig().batch_size  # defaults fill the rest


def test_name_defaults_to_file_stem(tmp_path):
    config = load_pipeline(write(tmp_path, "shots: [4]\n", name="my-run.yaml"))
    assert config.name == "my-run"
    assert config.shots == [4]


def test_empty_file_is_all_defaults(tmp_path):
    config = load_pipeline(write(tmp_path, ""))
    assert config.train == TrainConfig() and config.name == "toy"


def test_single_value_reads_as_a_list(tmp_path):
    config = load_pipeline(write(tmp_path, "task:\n  targets: de\nshots: 16\n"))
    assert config.task.targets == "de" and config.shots == [16]  # one language; the plan reads it as [de]


def test_shipped_pipelines_load():
    paths = sorted(Path(__file__).resolve().parents[1].glob("pipelines/*.yaml"))
    assert len(paths) >= 20  # the grids, ablations and demos the README and queue.sh name
    for path in paths:
        config = load_pipeline(path)
        assert config.methods and config.seeds and config.shots, path.name
        for method in config.methods:  # each method's own train keys reach its effective train section
            train = method_train_config(config, method)
            for key, value in method.train.items():
                if not isinstance(value, dict):
                    assert getattr(train, key) == value, (path.name, method.display, key)


@pytest.mark.parametrize("task", ["marc", "xnli", "pawsx"])
def test_an_every_method_grid_shares_its_plain_uniprompt_cells_with_the_headline_grid(task):
    from xprompt.pipeline.cells import plan

    folder = Path(__file__).resolve().parents[1] / "pipelines"
    every, headline = (plan(load_pipeline(folder / f"{grid}-{task}.yaml")) for grid in ("methods-grid", "quality-grid"))
    keys = [{cell.name: cell.key for cell in grid.cells if cell.meta.get("method") == "uniprompt"}
            for grid in (every, headline)]
    assert keys[0] and keys[0] == keys[1]  # every train, evaluation and data cell: run once for both pages


def test_unknown_key_names_it_and_the_accepted_ones(tmp_path):
    path = write(tmp_path, "name: x\nepochs: 3\n")
    with pytest.raises(ConfigError) as error:
        load_pipeline(path)
    message = str(error.value)
    assert str(path) in message
    assert "unknown key 'pipeline.epochs'" in message
    accepted = message.split("accepted keys of pipeline: ")[1].split(", ")
    assert {"name", "model", "task", "shots", "seeds", "methods", "train", "eval"} <= set(accepted)


def test_nested_unknown_key(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_pipeline(write(tmp_path, "train:\n  epochs: 3\n  learning_rate: 1e-4\n"))
    message = str(error.value)
    assert "unknown key 'pipeline.train.learning_rate'" in message
    accepted = message.split("accepted keys of pipeline.train: ")[1].split(", ")
    assert {"epochs", "batch_size", "lr", "prompt_lr", "warmup_ratio"} <= set(accepted)


def test_unknown_key_in_a_list_item(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'pipeline\.methods\[0\]\.kind'"):
        load_pipeline(write(tmp_path, "methods:\n  - name: uniprompt\n    kind: x\n"))


def test_unknown_method_setting():
    with pytest.raises(ConfigError) as error:
        method_config("uniprompt", {"fused": 2}, "methods[uniprompt]")
    assert "unknown key 'methods[uniprompt].settings.fused'" in str(error.value)
    assert "fused_layers" in str(error.value)


@pytest.mark.parametrize("text, fragment", [
    ("train:\n  epochs: ten\n", "pipeline.train.epochs is 'ten'; expected int"),
    ("train:\n  epochs: 2.5\n", "pipeline.train.epochs is 2.5; expected int"),
    ("train:\n  epochs: true\n", "pipeline.train.epochs is True; expected int"),
    ("train:\n  lr: fast\n", "pipeline.train.lr is 'fast'; expected float"),
    ("shots: [8, many]\n", "shots[1] is 'many'; accepted: a whole number of shots per class (1 or more) or `full`"),
    ("task:\n  test_size: all\n", "pipeline.task.test_size is 'all'; expected int"),
    ("model: intfloat/multilingual-e5-small\n", "pipeline.model must be a mapping of ModelConfig keys"),
    ("methods:\n  - name: uniprompt\n    settings: [1]\n", "pipeline.methods[0].settings must be a mapping"),
])
def test_type_errors_name_the_key(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as error:
        load_pipeline(write(tmp_path, text))
    assert fragment in str(error.value)


def test_int_is_accepted_for_float():
    assert from_dict(TrainConfig, {"lr": 1}, "train").lr == 1.0


def test_optional_accepts_null(tmp_path):
    config = load_pipeline(write(tmp_path, "task:\n  test_size: null\n  source: null\n"))
    assert config.task.test_size is None and config.task.source is None


def test_enum_setting_names_the_accepted_values():
    assert method_config("uniprompt", {"label_init": "words"}).label_init is LabelInit.WORDS
    with pytest.raises(ConfigError, match="label_init is 'mean'; accepted: dynamic, words, random"):
        method_config("uniprompt", {"label_init": "mean"})


def test_post_init_conflicts(tmp_path):
    with pytest.raises(ConfigError, match="warmup_ratio"):
        load_pipeline(write(tmp_path, "train:\n  warmup_ratio: 1.5\n"))
    with pytest.raises(ConfigError, match="epochs"):
        from_dict(TrainConfig, {"epochs": 0}, "train")


def test_dotted_overrides(tmp_path):
    path = write(tmp_path, PIPELINE)
    config = load_pipeline(path, ["train.lr=1e-4", "task.targets=[de,fr]", "train.batch_size=4",
                                  "model.revision=null", "eval.batch_size=2", "seeds=[1, 2, 3]"])
    assert config.train.lr == 1e-4
    assert config.task.targets == ["de", "fr"]
    assert config.train.batch_size == 4 and config.train.epochs == 3  # siblings kept
    assert config.model.revision is None and config.model.name == "tiny/model"
    assert config.eval.batch_size == 2 and config.seeds == [1, 2, 3]


def test_override_creates_missing_section(tmp_path):
    config = load_pipeline(write(tmp_path, "name: x\n"), ["adapt.shots=[4]", "train.epochs=1"])
    assert config.train.epochs == 1


def test_override_value_with_equals_sign():
    data = apply_overrides({}, ["model.name=./models/a=b"])
    assert data == {"model": {"name": "./models/a=b"}}


@pytest.mark.parametrize("override", ["train.lr", "=3", "train.lr 1e-4"])
def test_bad_override_syntax(tmp_path, override):
    with pytest.raises(ConfigError) as error:
        load_pipeline(write(tmp_path, PIPELINE), [override])
    assert repr(override) in str(error.value) and "key=value" in str(error.value)


def test_override_through_a_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"'name' is not a section"):
        load_pipeline(write(tmp_path, PIPELINE), ["name.first=1"])


def test_override_with_unknown_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'pipeline.train.lrate'"):
        load_pipeline(write(tmp_path, PIPELINE), ["train.lrate=1e-4"])


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "name: x\ntrain:\n\tepochs: 3\n")
    with pytest.raises(ConfigError) as error:
        load_pipeline(path)
    message = str(error.value)
    assert f"{path} line 3" in message and "not valid YAML" in message


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = write(tmp_path, "- name: x\n")
    for overrides in ([], ["train.lr=1e-4"]):
        with pytest.raises(ConfigError) as error:
            load_pipeline(path, overrides)
        assert str(path) in str(error.value) and "mapping" in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(tmp_path / "nope.yaml")


def test_key_params_hold_every_resolved_value_but_neutral_ones():
    resolved = key_params(TrainConfig())
    assert resolved["lr"] == TrainConfig().lr and resolved["epochs"] == 10  # defaults are in the key too
    assert "max_steps" not in resolved and "eval_every_steps" not in resolved  # neutral: as before they existed
    assert key_params(TrainConfig(max_steps=5))["max_steps"] == 5
    assert "checkpoint_every" not in key_params(TrainConfig(), {"checkpoint_every"})
    coerced = method_config("uniprompt", {"label_init": "dynamic", "trained": "prompt"})
    params = key_params(coerced)
    assert params["trained"] == "prompt" and params["label_init"] == "dynamic"  # enums as their values
    assert "recipe" not in params and key_params(method_config("uniprompt", {"recipe": "paper"}))["recipe"] == "paper"


def test_building_the_command_line_imports_no_torch():
    """`xprompt --help` must answer at once: building the parser imports neither torch nor
    transformers (a subprocess, so this test's own imports do not count)."""
    import subprocess
    import sys

    code = ("import sys, xprompt.cli; xprompt.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_config_reference_in_docs_is_current():
    from pathlib import Path

    from xprompt.pipeline.reference import markdown
    path = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"
    assert path.read_text(encoding="utf-8") == markdown(), \
        "docs/CONFIG.md is stale: python -m xprompt.pipeline.reference > docs/CONFIG.md"
    assert "| `train.average` | `'none'` |" in markdown() and "`eval.calibration`" in markdown()


def test_a_method_s_own_training_defaults_sit_between_the_pipeline_and_its_entry():
    from xprompt.pipeline.config import MethodConfig, method_train_config
    config = from_dict(PipelineConfig, {"train": {"epochs": 5, "prompt_lr": 1e-3, "lr": 5e-5}}, "pipeline")
    probe = method_train_config(config, MethodConfig(name="probe"))
    assert (probe.epochs, probe.prompt_lr, probe.lr) == (30, 1e-2, 5e-5)  # the probe's own, the pipeline's lr
    assert method_train_config(config, MethodConfig(name="probe", train={"epochs": 7})).epochs == 7
    assert method_train_config(config, MethodConfig(name="uniprompt")).epochs == 5
