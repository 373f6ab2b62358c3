"""Perturbations of a network's weights at the step where it starts (Frankle, Schwab & Morcos,
ICLR 2020, Figures 4-8): signs or magnitudes taken from step 0 instead of k, weights permuted
within a layer or within each output neuron/filter (optionally only among weights of equal
sign), or Gaussian noise of n·σ with σ the layer's initialization standard deviation.

A perturbation is a JSON-able specification (``perturbation``) and part of a run's identity
(``lmc.core.train.run_config(perturbation=...)``); ``lmc.core.train.starting_state`` applies
it (``apply``) after the mask, so pruned weights stay zero. What is perturbed: the weights of
every conv and linear layer (``models.prunable_layer_names``, the output layer included);
biases and batch-norm parameters are left alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from . import models, prune
from .errors import ConfigError, choose
from .seeds import generator

KINDS = ("signs_magnitudes", "permute", "noise")
SOURCES = ("0", "k")            # where signs / magnitudes come from: step 0 or the rewind step k
ELEMENTS = ("layer", "neuron")  # permutation within a whole layer, or within each output neuron / filter


def perturbation(kind: str, **fields) -> dict:
    """A validated, canonical perturbation specification (a JSON-able dict; part of run identities).

    ``signs_magnitudes``: ``signs`` and ``magnitudes`` each "0" (from step 0) or "k" (from the
    rewind step). ``permute``: ``within`` "layer" or "neuron" (each output neuron of a linear
    layer, each output filter of a convolution), ``same_sign`` (only among weights of equal
    sign), ``seed``. ``noise``: ``scale`` n ≥ 0 (noise n·σ, σ the layer's initialization std), ``seed``.
    """
    choose("perturbation", kind, KINDS)
    allowed = {"signs_magnitudes": {"signs", "magnitudes"}, "permute": {"within", "same_sign", "seed"},
               "noise": {"scale", "seed"}}[kind]
    unknown = set(fields) - allowed
    if unknown:
        raise ConfigError(f"perturbation {kind!r} has no field {', '.join(sorted(unknown))}; "
                          f"its fields: {', '.join(sorted(allowed))}")
    if kind == "signs_magnitudes":
        signs, magnitudes = (str(fields.get(f, "k")) for f in ("signs", "magnitudes"))
        choose("source of signs", signs, SOURCES)
        choose("source of magnitudes", magnitudes, SOURCES)
        return {"kind": kind, "signs": signs, "magnitudes": magnitudes}
    seed = fields.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"perturbation seed must be a non-negative integer, got {seed!r}")
    if kind == "permute":
        within = choose("structural element", fields.get("within", "layer"), ELEMENTS)
        same_sign = fields.get("same_sign", False)
        if not isinstance(same_sign, bool):
            raise ConfigError(f"same_sign must be True or False, got {same_sign!r}")
        return {"kind": kind, "within": within, "same_sign": same_sign, "seed": int(seed)}
    scale = fields.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not scale >= 0 \
            or not math.isfinite(scale):
        raise ConfigError(f"noise scale must be a finite number ≥ 0 (multiples of σ), got {scale!r}")
    return {"kind": kind, "scale": float(scale), "seed": int(seed)}


def is_identity(spec: dict) -> bool:
    """Whether a perturbation leaves every weight as it is (signs and magnitudes both from k,
    or noise of 0·σ)."""
    spec = perturbation(**spec)
    return (spec["kind"] == "signs_magnitudes" and spec["signs"] == spec["magnitudes"] == "k") or \
        (spec["kind"] == "noise" and spec["scale"] == 0)


def needs_origin(spec: dict) -> bool:
    """Whether the perturbation reads the weights at step 0 (signs or magnitudes from step 0)."""
    return spec["kind"] == "signs_magnitudes" and "0" in (spec["signs"], spec["magnitudes"])


def init_std(model: nn.Module, name: str) -> float:
    """σ of a layer's initialization: Kaiming normal, fan-in (``models.initialize``): √(2 / fan_in)."""
    weight = model.get_parameter(name)
    return math.sqrt(2.0 / nn.init._calculate_correct_fan(weight, "fan_in"))


def perturbed_names(model: nn.Module) -> list[str]:
    """The tensors a perturbation changes: conv and linear weights (output layer included)."""
    return models.prunable_layer_names(model)


def _permute(w: torch.Tensor, keep: torch.Tensor, within: str, same_sign: bool,
             g: torch.Tensor) -> torch.Tensor:
    """``w`` with its kept entries shuffled within each element (whole tensor, or each w[j])."""
    rows = w.reshape(1, -1) if within == "layer" else w.reshape(w.shape[0], -1)
    kept = keep.reshape(rows.shape)
    out = rows.clone()
    for r in range(rows.shape[0]):
        groups = [kept[r]] if not same_sign else [kept[r] & (rows[r] > 0), kept[r] & (rows[r] < 0)]
        for group in groups:
            index = group.nonzero().flatten()
            if len(index) > 1:
                order = torch.randperm(len(index), generator=g).to(index.device)
                out[r, index] = rows[r, index[order]]
    return out.reshape(w.shape)


@torch.no_grad()
def apply(state: dict, spec: dict, model_name: str, mask: prune.Mask | None = None,
          origin: dict | None = None) -> dict:
    """The state with its weights perturbed as ``spec`` says (a new dict; ``state`` is unchanged).

    ``state`` holds the weights at the rewind step k (already masked); ``origin`` the weights
    at step 0 (needed for signs or magnitudes from step 0: ``needs_origin``); ``mask`` the
    pruning mask: pruned weights stay exactly zero, and permutations move only kept weights.
    Randomness comes from the ``perturb`` stream of the spec's seed, one sub-stream per layer.
    """
    spec = perturbation(**spec)
    if needs_origin(spec) and origin is None:
        raise ConfigError("signs or magnitudes from step 0 need the weights at step 0 (origin)")
    model = models.build(model_name)
    out = dict(state)
    for index, name in enumerate(perturbed_names(model)):
        w = state[name]
        keep = mask[name].to(w.device) if mask is not None and name in mask else torch.ones_like(w, dtype=torch.bool)
        if spec["kind"] == "signs_magnitudes":
            signs = (origin if spec["signs"] == "0" else state)[name].to(w.device)
            size = (origin if spec["magnitudes"] == "0" else state)[name].to(w.device)
            new = torch.sign(signs) * size.abs()
        elif spec["kind"] == "permute":
            new = _permute(w, keep, spec["within"], spec["same_sign"], generator("perturb", spec["seed"], index))
        else:
            g = generator("perturb", spec["seed"], index)
            noise = torch.randn(w.shape, generator=g, dtype=w.dtype).to(w.device)
            new = w + spec["scale"] * init_std(model, name) * noise
        out[name] = torch.where(keep, new, torch.zeros_like(new))
    return out


def perturbation_size(before: dict, after: dict, model_name: str, mask: prune.Mask | None = None) -> dict:
    """Effective size of a perturbation: ``distance`` ‖W' − W‖ / ‖W‖ over the perturbed weights,
    and ``effective_sigma``, the root-mean-square change of the kept weights in units of each
    layer's initialization σ (noise of n·σ has effective σ ≈ n)."""
    model = models.build(model_name)
    diff2, norm2, scaled, count = 0.0, 0.0, 0.0, 0
    for name in perturbed_names(model):
        a, b = before[name].double(), after[name].double().to(before[name].device)
        keep = mask[name].to(a.device) if mask is not None and name in mask else torch.ones_like(a, dtype=torch.bool)
        d2 = ((b - a) ** 2)[keep]
        diff2 += float(d2.sum())
        norm2 += float((a ** 2)[keep].sum())
        scaled += float(d2.sum()) / init_std(model, name) ** 2
        count += int(keep.sum())
    return {"distance": math.sqrt(diff2 / norm2) if norm2 else float("nan"),
            "effective_sigma": math.sqrt(scaled / count) if count else float("nan")}
