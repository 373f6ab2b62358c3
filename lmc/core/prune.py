"""Pruning masks: global magnitude pruning (IMP's step), random pruning, density.

A mask maps each prunable tensor's name to a boolean tensor of its shape (True: kept).
As in open_lth (``pruning/mask.py``, ``pruning/sparse_global.py``), the mask covers every
prunable tensor (``models.prunable_layer_names``: conv and linear weights), including the
ones a model never prunes (its ``prune_ignore``, e.g. LeNet's output layer ``fc.weight``,
kept whole). Those count among the remaining weights: each round of IMP prunes 20% of *all*
remaining prunable weights, taken from the tensors that may be pruned, and ``density``
counts every prunable tensor, so "3.5%" means what Table 1 means. Biases and batch-norm
tensors have no mask. ``apply`` is the one place where masks multiply weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import models, store
from .errors import CacheError, ConfigError, choose

Mask = dict[str, torch.Tensor]


def ones(state: dict, names) -> Mask:
    """The dense mask (nothing pruned) for the tensors ``names`` of ``state``."""
    return {name: torch.ones_like(state[name], dtype=torch.bool) for name in names}


def dense_mask(model_name: str, state: dict) -> Mask:
    """IMP's level-0 mask for the network ``model_name``: every prunable tensor, nothing pruned
    (open_lth ``Mask.ones_like``), the tensors it never prunes included."""
    return ones(state, models.prunable_layer_names(models.build(model_name)))


def density(mask: Mask) -> float:
    """Density: the fraction of prunable weights remaining (every tensor of the mask, the
    ones a model never prunes included, as open_lth's ``Mask.density``)."""
    total = sum(m.numel() for m in mask.values())
    return sum(int(m.sum()) for m in mask.values()) / total


def _check_fraction(name: str, value: float, low_open: bool = True) -> None:
    if not isinstance(value, (int, float)) or not (0 < value <= 1 if low_open else 0 <= value < 1):
        bounds = "(0, 1]" if low_open else "[0, 1)"
        raise ConfigError(f"{name} must be in {bounds}, got {value!r}")


def magnitude_prune(weights: dict, mask: Mask, fraction: float = 0.2, prunable=None) -> Mask:
    """The mask after pruning ``fraction`` of the remaining weights with the smallest
    magnitude, ranked globally across the tensors in ``prunable`` (open_lth ``sparse_global``).

    The count is ``ceil(fraction × remaining)``, where *remaining* counts every tensor of the
    mask, also those outside ``prunable`` (default: all of them), which are kept as they are
    (open_lth's ``pruning_layers_to_ignore``). Ties are broken by position, so exactly that many
    go. Pruned weights stay pruned.
    """
    _check_fraction("fraction", fraction, low_open=False)
    remaining = sum(int(m.sum()) for m in mask.values())
    return prune_to_count(weights, mask, remaining - math.ceil(fraction * remaining), prunable)


def prune_to_density(weights: dict, mask: Mask, target: float, prunable=None) -> Mask:
    """One-shot magnitude pruning straight to density ``target`` (of every tensor of the mask;
    only those in ``prunable`` lose weights)."""
    _check_fraction("density", target)
    total = sum(m.numel() for m in mask.values())
    keep = round(target * total)
    if keep > sum(int(m.sum()) for m in mask.values()):
        raise ConfigError(f"density {target} is above the mask's current density {density(mask):.4f}")
    return prune_to_count(weights, mask, keep, prunable)


def prune_to_count(weights: dict, mask: Mask, keep: int, prunable=None) -> Mask:
    """The mask keeping ``keep`` weights in all: every weight it keeps outside ``prunable``
    (default: every tensor is prunable) and the largest-magnitude ones among the rest."""
    names = [n for n in mask if prunable is None or n in set(prunable)]
    fixed = {n: m for n, m in mask.items() if n not in names}
    keep -= sum(int(m.sum()) for m in fixed.values())
    if keep < 0:
        raise ConfigError(f"cannot keep {keep + sum(int(m.sum()) for m in fixed.values())} weights: the "
                          f"tensors that are never pruned ({', '.join(fixed)}) alone hold more")
    scores = torch.cat([torch.where(mask[n], weights[n].detach().abs().float(), -1.0).flatten().cpu()
                        for n in names])
    kept = torch.zeros(scores.numel(), dtype=torch.bool)
    kept[torch.argsort(scores, descending=True, stable=True)[:keep]] = True
    out, start = {}, 0
    for n in mask:
        if n in fixed:
            out[n] = fixed[n].clone()
            continue
        size = mask[n].numel()
        out[n] = kept[start:start + size].view_as(mask[n]).to(mask[n].device) & mask[n]
        start += size
    return out


STRATEGIES = ("layerwise", "global")  # random pruning (open_lth lottery/branch/randomly_prune.py)


def random_mask(like: Mask, generator: torch.Generator, strategy: str = "layerwise") -> Mask:
    """A random mask with the density of ``like``, as open_lth's ``randomly_prune`` branch draws it:
    ``layerwise`` (its default) shuffles each tensor's mask, so every tensor keeps the count
    ``like`` keeps there; ``global`` shuffles the mask of all tensors as one vector, so only the
    total count is kept (a tensor ``like`` keeps whole, such as LeNet's output layer, is then
    randomly pruned too, as open_lth's vectorised shuffle does)."""
    choose("random pruning strategy", strategy, STRATEGIES)
    names = list(like)
    if strategy == "layerwise":
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

