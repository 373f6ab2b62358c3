"""Distances between two networks (Appendices C and H): pure functions on weights and predictions.

Weights are compared as one flat vector built from the tensors ``names`` of a state
dict, in that order (``weights``): the prunable weights (``models.pruned_layer_names``:
conv and linear weights IMP may prune) or every parameter (``weight_names``). With a
pruning ``mask`` the pruned entries are *left out* of the vector, so a subnetwork is
compared only on the weights it has; tensors the mask does not cover (biases, batch
norm) enter whole. Functions accept either flat tensors or state dicts.

Predictions are compared example by example (``predictions``): the number of examples
two networks classify differently, and the distance between their per-example losses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.func import functional_call

from . import models
from .errors import ConfigError

WEIGHTS = ("prunable", "all")  # which weights the parameter-space distances measure


def weight_names(model: torch.nn.Module, which: str = "prunable") -> list[str]:
    """The tensors the distances measure: the weights IMP prunes ("prunable") or every
    trainable parameter ("all": biases and batch-norm scales too, never running statistics)."""
    if which not in WEIGHTS:
        raise ConfigError(f"unknown weight selection {which!r}; valid: {', '.join(WEIGHTS)}")
    if which == "prunable":
        return models.pruned_layer_names(model)
    return [name for name, _ in model.named_parameters()]


def weights(state, names=None, mask: dict | None = None) -> torch.Tensor:
    """The flat float64 vector of ``state``'s tensors ``names`` (all floating ones when None),
    the entries a ``mask`` prunes left out. A tensor is returned flattened as it is."""
    if isinstance(state, torch.Tensor):
        flat = state.detach().flatten().double()
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.shape != state.shape:
                raise ConfigError("a mask for a single tensor must be a boolean tensor of its shape")
            flat = flat[mask.flatten().bool().to(flat.device)]
        return flat.cpu()
    if not isinstance(state, dict):
        raise ConfigError(f"expected a state dict or a tensor, got {type(state).__name__}")
    names = [k for k, v in state.items() if v.is_floating_point()] if names is None else list(names)
    missing = [n for n in names if n not in state]
    if missing:
        raise ConfigError(f"the state has no tensor {missing[0]!r}; are both networks the same model?")
    unknown = sorted(set(mask or {}) - set(state))
    if unknown:
        raise ConfigError(f"the mask names {unknown[0]!r}, which the state does not hold; use the "
                          f"mask of this network's run (train.mask_of)")
    parts = []
    for name in names:
        part = state[name].detach().flatten().double().cpu()
        if mask is not None and name in mask:
            if mask[name].shape != state[name].shape:
                raise ConfigError(f"the mask of {name!r} has shape {tuple(mask[name].shape)}, the "
                                  f"weights {tuple(state[name].shape)}")
            part = part[mask[name].flatten().bool().cpu()]
        parts.append(part)
    if not parts:
        raise ConfigError("no tensors selected; pass the names of the weights to compare")
    return torch.cat(parts)


def _pair(a, b, names, mask) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = weights(a, names, mask), weights(b, names, mask)
    if x.shape != y.shape:
        raise ConfigError(f"the two networks have {x.numel()} and {y.numel()} compared weights; "
                          f"compare networks of the same model with the same mask")
    return x, y


def l2_distance(a, b, names=None, mask: dict | None = None) -> float:
    """L2 distance ‖W_a − W_b‖₂ between two networks' weights (``weights`` selects them)."""
    x, y = _pair(a, b, names, mask)
    return float(torch.linalg.vector_norm(x - y))


def l2_norm(a, names=None, mask: dict | None = None) -> float:
    """L2 norm ‖W‖₂ of a network's weights (the scale distances are compared against)."""
    return float(torch.linalg.vector_norm(weights(a, names, mask)))


def cosine_similarity(a, b, names=None, mask: dict | None = None) -> float:
    """Cosine similarity ⟨W_a, W_b⟩ / (‖W_a‖ ‖W_b‖) of two networks' weights (1: same
    direction, 0: orthogonal). Cosine *distance* is one minus it. NaN if either is zero."""
    x, y = _pair(a, b, names, mask)
    norms = torch.linalg.vector_norm(x) * torch.linalg.vector_norm(y)
    return float(x @ y / norms) if norms > 0 else math.nan


def disagreements(pred_a: torch.Tensor, pred_b: torch.Tensor) -> int:
    """Number of examples two networks classify differently (predicted labels, example by example)."""
    pred_a, pred_b = torch.as_tensor(pred_a), torch.as_tensor(pred_b)
    if pred_a.shape != pred_b.shape or pred_a.dim() != 1:
        raise ConfigError(f"predictions must be two label vectors over the same examples, got shapes "
                          f"{tuple(pred_a.shape)} and {tuple(pred_b.shape)}")
    return int((pred_a != pred_b.to(pred_a.device)).sum())


def loss_distance(loss_a: torch.Tensor, loss_b: torch.Tensor) -> float:
    """Distance between two networks' losses: the root-mean-square difference of their
    per-example losses (nats). Zero when they assign every example the same loss."""
    loss_a, loss_b = torch.as_tensor(loss_a).double(), torch.as_tensor(loss_b).double()
    if loss_a.shape != loss_b.shape or loss_a.dim() != 1 or not loss_a.numel():
        raise ConfigError(f"losses must be two non-empty vectors over the same examples, got shapes "
                          f"{tuple(loss_a.shape)} and {tuple(loss_b.shape)}")
    return float(torch.sqrt(((loss_a - loss_b.to(loss_a.device)) ** 2).mean()))


@torch.no_grad()
def predictions(model: torch.nn.Module, state: dict, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted labels, per-example cross-entropy loss) of ``model`` with weights ``state``
    over ``batches`` (an iterable of (x, y), e.g. ``dataset.eval_batches("test")``)."""
    model.eval()
    labels, losses = [], []
    for x, y in batches:
        logits = functional_call(model, state, (x,))
        labels.append(logits.argmax(1).cpu())
        losses.append(F.cross_entropy(logits.float(), y, reduction="none").cpu())
    return torch.cat(labels), torch.cat(losses)


def error(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Error (%): the share of examples whose predicted label is not the true one."""
    return 100.0 * disagreements(pred, labels) / len(labels)
