"""Pruning masks: global magnitude pruning (IMP's step), random pruning, density.

A mask maps each pruned tensor's name to a boolean tensor of its shape (True: kept).
Only the tensors of ``models.pruned_layer_names`` have masks; every other tensor is
dense. ``apply`` is the one place where masks multiply weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import store
from .errors import CacheError, ConfigError

Mask = dict[str, torch.Tensor]


def ones(state: dict, names) -> Mask:
    """The dense mask (nothing pruned) for the tensors ``names`` of ``state``."""
    return {name: torch.ones_like(state[name], dtype=torch.bool) for name in names}


def density(mask: Mask) -> float:
    """Density: the fraction of maskable weights remaining."""
    total = sum(m.numel() for m in mask.values())
    return sum(int(m.sum()) for m in mask.values()) / total


def _check_fraction(name: str, value: float, low_open: bool = True) -> None:
    if not isinstance(value, (int, float)) or not (0 < value <= 1 if low_open else 0 <= value < 1):
        bounds = "(0, 1]" if low_open else "[0, 1)"
        raise ConfigError(f"{name} must be in {bounds}, got {value!r}")


def magnitude_prune(weights: dict, mask: Mask, fraction: float = 0.2) -> Mask:
    """The mask after pruning ``fraction`` of the remaining weights with the smallest
    magnitude, ranked globally across all masked tensors (open_lth ``sparse_global``).

    ``ceil(fraction × remaining)`` weights are pruned; ties are broken by position, so
    exactly that many go. Pruned weights stay pruned.
    """
    _check_fraction("fraction", fraction, low_open=False)
    remaining = sum(int(m.sum()) for m in mask.values())
    return prune_to_count(weights, mask, remaining - math.ceil(fraction * remaining))


def prune_to_density(weights: dict, mask: Mask, target: float) -> Mask:
    """One-shot magnitude pruning straight to density ``target`` (of all maskable weights)."""
    _check_fraction("density", target)
    total = sum(m.numel() for m in mask.values())
    keep = round(target * total)
    if keep > sum(int(m.sum()) for m in mask.values()):
        raise ConfigError(f"density {target} is above the mask's current density {density(mask):.4f}")
    return prune_to_count(weights, mask, keep)


def prune_to_count(weights: dict, mask: Mask, keep: int) -> Mask:
    """The mask keeping the ``keep`` largest-magnitude weights among those ``mask`` keeps."""
    names = list(mask)
    scores = torch.cat([torch.where(mask[n], weights[n].detach().abs().float(), -1.0).flatten().cpu()
                        for n in names])
    kept = torch.zeros(scores.numel(), dtype=torch.bool)
    kept[torch.argsort(scores, descending=True, stable=True)[:keep]] = True
    out, start = {}, 0
    for n in names:
        size = mask[n].numel()
        out[n] = kept[start:start + size].view_as(mask[n]).to(mask[n].device) & mask[n]
        start += size
    return out


def random_mask(like: Mask, generator: torch.Generator, layerwise: bool = False) -> Mask:
    """A random mask with the density of ``like``: globally (the default, open_lth's
    ``randomly_prune`` branch) or with each tensor's own density (``layerwise``)."""
    names = list(like)
    if layerwise:
        out = {}
        for n in names:
            order = torch.randperm(like[n].numel(), generator=generator)
            flat = torch.zeros(like[n].numel(), dtype=torch.bool)
            flat[order[:int(like[n].sum())]] = True
            out[n] = flat.view_as(like[n]).to(like[n].device)
        return out
    sizes = [like[n].numel() for n in names]
    order = torch.randperm(sum(sizes), generator=generator)
    flat = torch.zeros(sum(sizes), dtype=torch.bool)
    flat[order[:sum(int(like[n].sum()) for n in names)]] = True
    return {n: part.view_as(like[n]).to(like[n].device) for n, part in zip(names, flat.split(sizes), strict=True)}


@torch.no_grad()
def apply(state: dict, mask: Mask) -> dict:
    """Zero the pruned weights of ``state`` in place (the one place masks multiply weights)."""
    for name, keep in mask.items():
        state[name].mul_(keep.to(state[name].dtype))
    return state


def stored(config: dict, compute: Callable[[], Mask]) -> str:
    """The identity (hash) of the mask described by ``config``, computing and storing it once.

    A mask is content-addressed like a run: ``config`` names everything it derives from
    (for IMP, the run whose trained weights were pruned, the previous mask, the fraction).
    """
    run = store.open_run({"kind": "mask", **config})
    if store.load_mask(run) is None:
        with store.lock(run):
            if store.load_mask(run) is None:  # missing, or damaged and moved aside: (re)compute
                store.save_mask(run, compute())
    return run.hash


def is_stored(config: dict) -> bool:
    """Whether the mask described by ``config`` (as for ``stored``) is already stored and readable."""
    return store.load_mask(store.open_run({"kind": "mask", **config})) is not None


def load(mask_hash: str, device="cpu") -> Mask:
    """The stored mask with identity ``mask_hash``."""
    mask = store.load_mask(store.get(mask_hash), device)
    if mask is None:
        raise CacheError(f"mask {mask_hash} has a record but no readable mask file; run the "
                         f"experiment again (it recomputes the mask from its cached runs)")
    return mask

