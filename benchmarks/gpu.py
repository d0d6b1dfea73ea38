"""Training-step and evaluation throughput and peak memory of xprompt's methods against a plain
`AutoModelForSequenceClassification` step of the same shape, in float32 and bfloat16, on any
device, with no downloaded weights: the encoder is built with random weights in the shape of
xlm-roberta-large (or base, or a small one for CPUs) and uses the offline model's tokenizer.
Random weights are fine for speed and memory, never for accuracy.

    python -m benchmarks.gpu --shape large --device cuda --dtypes float32,bfloat16   # one GPU
    python -m benchmarks.gpu --shape small --device cpu --dtypes float32,bfloat16    # this CPU

Per (method, dtype): median seconds per training step (batch --batch of --length tokens, AdamW,
interleaved with the other variants), evaluation rows per second, and on CUDA the peak memory
allocated during the steps; ratios are to the plain Hugging Face step in the same dtype."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time

import pandas as pd
import torch

from benchmarks.common import DEFAULT_MODEL, loadavg, markdown_table, median
from xprompt.encoder.precision import DTYPES, autocast

SHAPES = {"large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
          "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
          "small": dict(hidden_size=384, num_hidden_layers=4, num_attention_heads=6, intermediate_size=1536)}
METHODS = {"finetune": ("finetune", {}), "uniprompt (all)": ("uniprompt", {}),
           "uniprompt (prompt)": ("uniprompt", {"trained": "prompt"}), "prefix": ("prefix", {}),
           "deep": ("deep", {}), "lora": ("lora", {})}
HF = "AutoModelForSequenceClassification"


XLMR_VOCAB = 250002  # xlm-roberta's vocabulary: the embedding matrix keeps its real size whatever the tokenizer
WORDS = "the council approved a new plan for the city and its people after a long debate".split()


def stand_in_tokenizer():
    """A word-level tokenizer built here, for a machine without the offline model's files (a lent
    GPU gets the working tree, not the Hugging Face cache). The benchmark's words are one token
    each, as they are in XLM-R's own vocabulary, so rows have the same length; speed and memory do
    not depend on which ids the tokens get."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from xprompt.data import load_card

    card = load_card("sib200")
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    words = WORDS + card.template(card.source_language).split() + " ".join(card.labels).split()
    vocabulary = {token: index for index, token in enumerate(dict.fromkeys(specials + words))}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>")


def load_tokenizer(tokenizer_id: str):
    """The named tokenizer, or the stand-in when its files are not on this machine: (tokenizer, what it is)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(tokenizer_id), tokenizer_id
    except OSError as error:
        print(f"benchmarks.gpu: tokenizer {tokenizer_id} is not on this machine ({str(error).splitlines()[0]}); "
              "using a word-level stand-in built here (speed and memory are the same)", file=sys.stderr)
        return stand_in_tokenizer(), "stand-in (built here)"


def build_model_dir(shape: str, tokenizer, folder: str, vocab: int = XLMR_VOCAB) -> str:
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    config = XLMRobertaConfig(vocab_size=max(len(tokenizer), vocab), max_position_embeddings=514,
                              pad_token_id=1, type_vocab_size=1, **SHAPES[shape])
    torch.manual_seed(0)
    XLMRobertaForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def texts(rows: int, length: int) -> pd.DataFrame:
    """English-like rows of about `length` tokens (the content does not matter for speed)."""
    text = " ".join(WORDS[i % len(WORDS)] for i in range(int(length * 0.8)))
    return pd.DataFrame({"id": [str(i) for i in range(rows)], "text": [text] * rows, "text_pair": None,
                         "label": [i % 7 for i in range(rows)], "lang": "eng_Latn", "split": "test"})


def xprompt_variant(name: str, model_dir: str, device: str, dtype, df: pd.DataFrame, batch: int):
    from xprompt.encoder.backbone import load_backbone
    from xprompt.pipeline.config import TrainConfig
    from xprompt.data import load_card
    from xprompt.training.evaluate import predict_proba
    from xprompt.methods import build_method
    from xprompt.training.loop import backward_step, make_optimizer

    method_name, settings = METHODS[name]
    backbone = load_backbone(model_dir, device=device)
    method = build_method(method_name, settings, backbone, load_card("sib200"))
    optimizer = make_optimizer(method, TrainConfig())
    rows = method.featurize(df)
    dev = torch.device(device)

    def step():
        method.train()
        backward_step(method, method, rows, [list(range(batch))], dev, dtype)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def evaluate():
        predict_proba(method, df, batch_size=batch * 2, dtype=dtype)
    return step, evaluate


def hf_variant(model_dir: str, device: str, dtype, df: pd.DataFrame, batch: int):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=7).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    encoded = tokenizer(list(df["text"]), padding=True, return_tensors="pt").to(device)
    labels = torch.tensor(df["label"].to_numpy(), device=device)
    dev = torch.device(device)

    def step():
        model.train()
        with autocast(dev, dtype):
            out = model(input_ids=encoded["input_ids"][:batch], attention_mask=encoded["attention_mask"][:batch],
                        labels=labels[:batch])
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def evaluate():
        model.eval()
        with torch.no_grad(), autocast(dev, dtype):
            for start in range(0, len(df), batch * 2):
                model(input_ids=encoded["input_ids"][start:start + batch * 2],
                      attention_mask=encoded["attention_mask"][start:start + batch * 2])
    return step, evaluate


def measure(make, device: str, steps: int, eval_rows: int) -> dict:
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    step, evaluate = make()
    step()  # warm-up (allocates the optimizer state)
    times = []
    for _ in range(steps):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    start = time.perf_counter()
    evaluate()
    if cuda:
        torch.cuda.synchronize()
    rows_per_second = eval_rows / (time.perf_counter() - start)
    del step, evaluate
    gc.collect()
    return {"step_seconds": median(times), "eval_rows_per_second": rows_per_second, "peak_gib": peak}


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="large")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tokenizer", default=DEFAULT_MODEL,
                        help="its files, or a word-level stand-in built here when they are not on this machine")
    parser.add_argument("--vocab", type=int, default=XLMR_VOCAB, help="rows of the embedding matrix (XLM-R's)")
    parser.add_argument("--json", help="also write the numbers here")
    return parser


def ratio_table(rows: list[dict]) -> list[list]:
    """Each measured row with its step time, evaluation speed and peak memory, and each as a ratio to
    the plain Hugging Face model's row of the same dtype (peak: NaN where that was not measured)."""
    table = []
    for row in rows:
        hf = next(r for r in rows if r["method"] == HF and r["dtype"] == row["dtype"])
        table.append([row["method"], row["dtype"], row["step_seconds"], row["step_seconds"] / hf["step_seconds"],
                      row["eval_rows_per_second"], row["eval_rows_per_second"] / hf["eval_rows_per_second"],
                      row["peak_gib"],
                      row["peak_gib"] / hf["peak_gib"] if hf["peak_gib"] == hf["peak_gib"] else float("nan")])
    return table


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    df = texts(args.batch * 8, args.length)
    results = {"shape": args.shape, **SHAPES[args.shape], "device": args.device, "batch": args.batch,
               "length": args.length, "loadavg_before": loadavg(), "rows": []}
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        results["gpu"] = torch.cuda.get_device_name()
    tokenizer, results["tokenizer"] = load_tokenizer(args.tokenizer)
    with tempfile.TemporaryDirectory() as folder:
        model_dir = build_model_dir(args.shape, tokenizer, folder, args.vocab)
        for dtype_name in args.dtypes.split(","):
            dtype = DTYPES[dtype_name]
            makers = {HF: lambda: hf_variant(model_dir, args.device, dtype, df, args.batch)}
            makers.update({name: (lambda n=name: xprompt_variant(n, model_dir, args.device, dtype, df, args.batch))
                           for name in METHODS})
            for name, make in makers.items():
                row = {"method": name, "dtype": dtype_name, **measure(make, args.device, args.steps, len(df))}
                results["rows"].append(row)
                print(json.dumps(row), file=sys.stderr)
    results["loadavg_after"] = loadavg()
    table = ratio_table(results["rows"])
    print(f"### {args.shape}-shaped XLM-R (random weights), {args.device}"
          f"{' ' + results['gpu'] if 'gpu' in results else ''}, batch {args.batch} x {args.length} tokens, "
          f"tokenizer {results['tokenizer']}; "
          f"load {results['loadavg_before']} -> {results['loadavg_after']}\n")
    print(markdown_table(["method", "dtype", "s/step", "x HF step", "eval rows/s", "x HF eval", "peak GiB",
                          "x HF peak"], table))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
