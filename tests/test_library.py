"""The prompt library (SPoT-style transfer): ranking by task-embedding cosine picks the planted
most similar prompt, only prompts of the same base model are ranked, prompts are found in a
real tiny pipeline's cache and in hand-written cache entries, soft `init: library` starts
exactly from the given tensor (and keys see its content, not its path), mismatches are clear."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import ToyCard, toy_frame
from safetensors.torch import save_file

from xprompt.encoder.backbone import load_backbone
from xprompt.pipeline.cache import Cache
from xprompt.cli import main
from xprompt.pipeline.config import load_pipeline
from xprompt.data import load_card
from xprompt.errors import ConfigError, ModelError
from xprompt.prompts.export import export_prompt
from xprompt.prompts.library import LibraryEntry, PromptLibrary, fit_tokens, probe, prompt_of, task_embedding
from xprompt.prompts.prompt_files import load_init_prompt, save_prompt
from xprompt.methods import build_method, method_config
from xprompt.pipeline.cells import plan
from xprompt.pipeline.identity import card_identity, model_identity
from xprompt.pipeline.runner import Runner

E5 = {"model": "intfloat/multilingual-e5-small", "revision": "r1"}
CARD = {"description": "toy reviews", "labels": ["negative", "positive"], "languages": ["en", "de"],
        "source_language": "en",
        "local": {"files": {s: f"{{lang}}/{s}.csv" for s in ("train", "dev", "test")},
                  "columns": {"text": "text", "label": "label"}},
        "templates": {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>."},
        "verbalizers": {"en": [["bad"], ["good"]], "de": [["schlecht"], ["gut"]]}}


pytestmark = pytest.mark.usefixtures("one_thread")


def planted_library(hidden: int = 32) -> tuple[PromptLibrary, torch.Tensor]:
    """Four prompts whose token means point along four orthogonal directions."""
    torch.manual_seed(0)
    directions = torch.linalg.qr(torch.randn(hidden, 4))[0].T * 5
    library = PromptLibrary()
    for index, task in enumerate(["xnli", "pawsx", "marc", "sib200"]):
        noise = torch.randn(6, hidden) * 0.1
        library.add(LibraryEntry(f"train soft {task}", task, directions[index] + noise - noise.mean(0), seed=13, **E5))
    return library, directions


def test_ranking_picks_the_planted_most_similar_prompt():
    library, directions = planted_library()
    query = 0.8 * directions[2] + 0.2 * directions[0] + torch.randn(32) * 0.05
    ranked = library.rank(query, dict(E5), num_tokens=6)
    assert [entry.task for entry, _ in ranked][:2] == ["marc", "xnli"]
    assert ranked[0][1] > 0.9 and ranked[0][1] > ranked[1][1] > ranked[2][1]
    for entry in library.entries:  # "delta": what training changed, whatever the shared start
        entry.initial = torch.full_like(entry.prompt, 3.0)
        entry.prompt = entry.prompt + 3.0
    assert library.rank(query, dict(E5), kind="delta")[0][0].task == "marc"
    assert library.rank(query, dict(E5), kind="mean")[0][1] < 0.5  # the shared start hides the task
    common = torch.randn(32) * 20  # a direction every prompt moved along: centring removes it
    for entry, direction in zip(library.entries, directions):
        entry.prompt = entry.initial + common + direction
    assert min(c for _, c in library.rank(common + directions[3], kind="delta")) > 0.9  # all look alike
    assert library.rank(common + directions[3], kind="delta", center=True)[0][0].task == "sib200"
    with pytest.raises(ConfigError, match="kind 'cosine' is unknown"):
        library.rank(query, kind="cosine")


def test_prompts_of_other_models_and_sizes_are_left_out():
    library, directions = planted_library()
    same = directions[1] + torch.zeros(4, 32)
    library.add(LibraryEntry("other model", "pawsx", same.clone(), model="xlm-roberta-base", revision="r1"))
    library.add(LibraryEntry("other revision", "pawsx", same.clone(), **{**E5, "revision": "r2"}))
    library.add(LibraryEntry("unknown revision", "pawsx", same.clone(), model=E5["model"]))
    library.add(LibraryEntry("local folder", "pawsx", same.clone(), weights="abc"))
    library.add(LibraryEntry("other hidden size", "pawsx", torch.randn(4, 48), **E5))
    names = [entry.name for entry, _ in library.rank(directions[1], dict(E5), num_tokens=4)]
    assert names[:2] == ["unknown revision", "train soft pawsx"] and len(names) == 5  # ties: same length first
    assert [e.name for e, _ in library.rank(directions[1], {"model_weights": "abc"})] == ["local folder"]
    assert len(library.rank(directions[1])) == 8  # no model given: every prompt of this hidden size


def test_fit_tokens_repeats_or_cuts():
    prompt = torch.arange(6.0).view(3, 2)
    assert fit_tokens(prompt, 2).tolist() == [[0, 1], [2, 3]]
    assert fit_tokens(prompt, 5).tolist() == [[0, 1], [2, 3], [4, 5], [0, 1], [2, 3]]
    torch.testing.assert_close(task_embedding(prompt, torch.ones(3, 2)), torch.tensor([1.0, 2.0]))


# -- a real tiny pipeline's cache ------------------------------------------------------------------

def write_project(root: Path, encoder: Path) -> Path:
    positive, negative = ["the film was good and great", "a great good story", "good acting great music"], \
        ["the film was bad and terrible", "a terrible bad story", "bad acting terrible music"]
    for lang in ("en", "de"):
        (root / "data" / lang).mkdir(parents=True, exist_ok=True)
        rows = [(t, "positive") for t in positive] + [(t, "negative") for t in negative]
        for split in ("train", "dev", "test"):
            pd.DataFrame(rows, columns=["text", "label"]).to_csv(root / "data" / lang / f"{split}.csv", index=False)
    (root / "reviews.yaml").write_text(yaml.safe_dump(CARD))
    config = {"name": "toy", "model": {"name": str(encoder)},
              "task": {"name": str(root / "reviews.yaml"), "data_root": str(root / "data")},
              "shots": [2], "seeds": [13], "train": {"epochs": 2, "batch_size": 2, "prompt_lr": 0.05},
              "methods": [{"name": "soft", "settings": {"num_tokens": 3}},
                          {"name": "ptuning", "settings": {"num_tokens": 2, "encoder": "mlp"}},
                          {"name": "deep", "settings": {"num_tokens": 2}}],
              "cache_dir": str(root / "cache"), "output_dir": str(root / "runs")}
    (root / "toy.yaml").write_text(yaml.safe_dump(config))
    return root / "toy.yaml"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_encoder_dir):
    root = tmp_path_factory.mktemp("library-run")
    pipeline = write_project(root, tiny_encoder_dir)
    assert main(["run", str(pipeline), "--quiet"]) == 0
    return root, Runner(plan(load_pipeline(pipeline)), progress=False)  # everything cached


def test_from_cache_finds_the_prompts_a_pipeline_trained(tiny_run, tiny_encoder_dir):
    root, runner = tiny_run
    library = PromptLibrary.from_cache(root / "cache")
    by_method = {entry.method: entry for entry in library.entries}
    assert sorted(by_method) == ["ptuning", "soft"]  # deep prompts live in the layers: left out
    cells = {c.meta["method_name"]: c for c in runner.plan.cells if c.stage == "train"}
    for name, entry in by_method.items():
        trained = runner.trained_method(cells[name])
        torch.testing.assert_close(entry.prompt, trained.encoder.prompt().detach())
        assert entry.name == cells[name].name and entry.seed == 13 and entry.lang == "en"
        assert entry.task.startswith("card ")  # a user's card is known by its content hash
    assert by_method["soft"].num_tokens == 3 and by_method["ptuning"].num_tokens == 2
    identity = model_identity(str(tiny_encoder_dir), None)
    assert len(library.rank(torch.randn(32), identity)) == 2
    assert library.rank(torch.randn(32), dict(E5)) == []
    for name, entry in by_method.items():  # the trained state recorded each prompt's start, exactly
        fresh_backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
        torch.manual_seed(13)  # as stages.fit: seed, then build
        fresh = build_method(name, runner.plan.config.methods[["soft", "ptuning"].index(name)].settings,
                             fresh_backbone, runner.card)
        torch.testing.assert_close(entry.initial, fresh.encoder.prompt().detach())
        assert not torch.equal(entry.initial, entry.prompt)


def test_from_exports_reads_exported_prompts(tiny_run, tmp_path):
    root, _ = tiny_run
    cached = next(e for e in PromptLibrary.from_cache(root / "cache").entries if e.method == "soft")
    folder = export_prompt(root / "runs" / "toy", "soft", tmp_path / "exported")
    (entry,) = PromptLibrary.from_exports([folder]).entries
    torch.testing.assert_close(entry.prompt, cached.prompt)
    assert (entry.weights, entry.seed, entry.lang, entry.where) == (cached.weights, 13, "en", folder)
    torch.testing.assert_close(entry.initial, cached.initial)  # the export carries the prompt's start
    torch.testing.assert_close(load_init_prompt(str(folder), 3)[0], cached.prompt)


def test_from_cache_reads_hand_written_entries(tmp_path):
    cache, sib = Cache(tmp_path), card_identity(load_card("sib200"))
    with cache.writing("sample", "s1", {"version": "1", "params": {"task": sib, "lang": "eng_Latn", "shots": 8,
                                                                    "seed": 13, "dev_shots": 8}, "inputs": {}}):
        pass
    state = {"encoder.prompt.prompt_embeddings": torch.randn(4, 384), "verbalizer.label_vectors": torch.randn(7, 384)}
    for key, method in (("t1", "soft"), ("t2", "finetune"), ("t3", "soft")):
        params = {**E5, "method": method, "settings": {"num_tokens": 4}, "train": {"epochs": 3}, "seed": 13}
        with cache.writing("train", key, {"version": "2", "params": params, "inputs": {"sample": "s1"},
                                          "cell": f"train {method} k=8 seed=13"}) as out:
            if key == "t3":
                (out / "state.safetensors").write_bytes(b"not safetensors")  # damaged: skipped
            else:
                save_file(state if method == "soft" else {"head.weight": torch.ones(2, 2)},
                          str(out / "state.safetensors"))
    (entry,) = PromptLibrary.from_cache(tmp_path).entries
    assert (entry.task, entry.lang, entry.name, entry.model, entry.revision) == \
        ("sib200", "eng_Latn", "train soft k=8 seed=13", E5["model"], "r1")
    torch.testing.assert_close(entry.prompt, state["encoder.prompt.prompt_embeddings"])
    assert main(["library", "ls", "--cache-dir", str(tmp_path)]) == 0


def test_ptuning_prompt_is_its_encoder_output(tiny_encoder_dir):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    method = build_method("ptuning", {"num_tokens": 3}, backbone, ToyCard())
    state = {name: p.detach() for name, p in method.named_parameters() if p.requires_grad}
    torch.testing.assert_close(prompt_of("ptuning", {"num_tokens": 3}, state), method.encoder.prompt().detach())
    assert prompt_of("ptuning", {"freeze_backbone": False}, state) is None


# -- soft init: library ------------------------------------------------------------------------------

def test_soft_init_library_starts_exactly_from_the_given_tensor(tmp_path, tiny_encoder_dir, tiny_run):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    prompt = torch.randn(4, 32)
    path = save_prompt(tmp_path / "p.safetensors", prompt, source="test")
    method = build_method("soft", {"num_tokens": 4, "init": "library", "init_prompt": str(path)}, backbone, ToyCard())
    assert torch.equal(method.encoder.prompt.prompt_embeddings.detach(), prompt)
    # a cache train entry or an export folder works as well
    entry = next(e for e in PromptLibrary.from_cache(tiny_run[0] / "cache").entries if e.method == "soft")
    torch.testing.assert_close(load_init_prompt(str(entry.where), 3)[0], entry.prompt)
    # keys see the content: the same tensor elsewhere is the same setting, another tensor is not
    copy = Path(shutil.copy(path, tmp_path / "elsewhere.safetensors"))
    first, moved = (method_config("soft", {"num_tokens": 4, "init": "library", "init_prompt": str(p)}).init_prompt
                    for p in (path, copy))
    assert first == moved and first.startswith("sha256:") and str(tmp_path) not in first
    other = save_prompt(tmp_path / "q.safetensors", prompt + 1)
    assert method_config("soft", {"num_tokens": 4, "init": "library", "init_prompt": str(other)}).init_prompt != first
    pipeline = tiny_run[0] / "toy.yaml"
    train_keys = [next(c.key for c in plan(load_pipeline(pipeline, [
        f"methods=[{{name: soft, settings: {{num_tokens: 4, init: library, init_prompt: '{p}'}}}}]"])).cells
        if c.stage == "train") for p in (path, copy, other)]
    assert train_keys[0] == train_keys[1] != train_keys[2]


def test_init_prompt_mismatches_are_clear_errors(tmp_path, tiny_encoder_dir):
    path = save_prompt(tmp_path / "p.safetensors", torch.randn(4, 48))
    with pytest.raises(ConfigError, match=r"prompt of 4 tokens but num_tokens is 8; set num_tokens: 4"):
        method_config("soft", {"init": "library", "init_prompt": str(path)})
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    with pytest.raises(ModelError, match="vectors of size 48, but .* has hidden size 32"):
        build_method("soft", {"num_tokens": 4, "init": "library", "init_prompt": str(path)}, backbone, ToyCard())
    with pytest.raises(ConfigError, match="init_prompt is needed with soft.init: library"):
        method_config("soft", {"init": "library"})
    with pytest.raises(ConfigError, match="init_prompt is needed with soft.init: library, and only"):
        method_config("soft", {"init_prompt": str(path)})
    with pytest.raises(ConfigError, match="missing.safetensors cannot be read"):
        method_config("soft", {"num_tokens": 4, "init": "library",
                               "init_prompt": str(tmp_path / "missing.safetensors")})
    save_file({"a": torch.zeros(4, 32), "b": torch.zeros(4, 32)}, str(tmp_path / "two.safetensors"))
    with pytest.raises(ConfigError, match="holds no \\[num_tokens, hidden\\] soft prompt"):
        method_config("soft", {"num_tokens": 4, "init": "library", "init_prompt": str(tmp_path / "two.safetensors")})


def test_rank_command_probes_ranks_and_writes_a_usable_prompt(tiny_run, tiny_encoder_dir, tmp_path, capsys):
    root, _ = tiny_run
    out = tmp_path / "best.safetensors"
    assert main(["library", "rank", "--cache-dir", str(root / "cache"), "--task", str(root / "reviews.yaml"),
                 "--data-root", str(root / "data"), "--shots", "2", "--probe-steps", "2", "--num-tokens", "5",
                 "--model", str(tiny_encoder_dir), "--device", "cpu", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train soft k=2 seed=13" in printed and "train ptuning k=2 seed=13" in printed
    assert f"init_prompt: {out}" in printed
    prompt, _ = load_init_prompt(str(out), 5)  # fitted to --num-tokens
    assert prompt.shape == (5, 32)


def test_probe_moves_a_fresh_prompt(tiny_encoder_dir):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    initial, trained = probe(backbone, ToyCard(), toy_frame(repeats=1), steps=3, seed=0, settings={"num_tokens": 2})
    assert initial.shape == trained.shape == (2, 32) and not torch.equal(initial, trained)
    assert not any(p.requires_grad is False and p.grad is not None for p in backbone.encoder.parameters())


def test_a_state_that_never_recorded_its_start_is_ranked_by_mean_only(tiny_run, tmp_path):
    """Entries trained before states recorded the initial prompt: no RNG replay guesses it."""
    from safetensors.torch import load_file
    root, _ = tiny_run
    shutil.copytree(root / "cache", tmp_path / "cache")
    for state_file in (tmp_path / "cache").rglob("state.safetensors"):
        state = load_file(str(state_file))
        save_file({k: v for k, v in state.items() if not k.endswith("initial_prompt")}, str(state_file))
    library = PromptLibrary.from_cache(tmp_path / "cache")
    assert len(library.entries) == 2 and all(e.initial is None for e in library.entries)
    query = torch.randn(32)
    assert library.rank(query, kind="delta") == [] and len(library.rank(query, kind="mean")) == 2


def test_soft_and_ptuning_train_keys_carry_their_output_version(tiny_run):
    _, runner = tiny_run
    for cell in runner.plan.cells:
        if cell.stage == "train":
            method = cell.params["method"]
            assert cell.params.get("method_output") == (2 if method in ("soft", "ptuning") else None), cell.name
