"""Numeric precision of training and evaluation: weights stay float32 (the optimizer's master
copy), forward passes run under autocast in bfloat16 or float16 when asked, float16 with a
gradient scaler; TF32 matmuls on GPUs that have them. bfloat16 autocast also runs on a CPU."""

from __future__ import annotations

import contextlib

import torch

from xprompt.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 on a GPU that supports it, float32 otherwise; else the named dtype."""
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name not in DTYPES:
        raise ConfigError(f"model.dtype is {name!r}; accepted: auto, {', '.join(DTYPES)}")
    if name == "float16" and device.type != "cuda":
        raise ConfigError("model.dtype float16 needs a GPU (its gradient scaler is CUDA-only); use bfloat16 on a CPU")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)


def autocast(device: torch.device, dtype: torch.dtype):
    """Forward passes in `dtype` (a no-op for float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype) -> torch.amp.GradScaler:
    """Loss scaling for float16 (disabled, a pass-through, otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def enable_tf32(device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
