"""Weight-space interpolation between a trained model and the pretrained one it started from
(WiSE-FT, Wortsman et al. 2022): moving fine-tuned weights part of the way back keeps more of what
the pretrained encoder shares across languages."""

from __future__ import annotations

import torch


def interpolated(trained: dict[str, torch.Tensor], pretrained: dict[str, torch.Tensor],
                 weight: float) -> tuple[dict[str, torch.Tensor], int]:
    """(state, tensors moved): every tensor of `trained` that `pretrained` also holds becomes
    weight x trained + (1 - weight) x pretrained, in float64 and back to its own dtype; the others
    (what a method adds) stay as trained."""
    state, moved = {}, 0
    for name, tensor in trained.items():
        start = pretrained.get(name)
        if start is None:
            state[name] = tensor
            continue
        if start.shape != tensor.shape:
            raise ValueError(f"tensor {name} is {tuple(tensor.shape)} trained but {tuple(start.shape)} pretrained")
        state[name] = (weight * tensor.double() + (1 - weight) * start.double()).to(tensor.dtype)
        moved += 1
    return state, moved
