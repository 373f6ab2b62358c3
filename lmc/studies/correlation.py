"""Weight correlation between two weight sets (Liu et al., ICML 2021, "Lottery Ticket
Preserves Weight Correlation").

The overlap indicator

    R_p(θ, θ') = Σ_l card(T_p(θ^l) ∩ T_p(θ'^l)) / (p · Σ_l N_l)

counts, layer by layer, how many of the top-p largest-magnitude weights of θ are also
among the top-p of θ'. R_p ≈ p for unrelated weights (two random subsets of a layer
overlap in a fraction p of their members), R_p > p for positively correlated ones and
R_p = 1 for a weight set with itself. Liu et al. find R_p between the initial and the
trained weights well above p when the learning rate is small, close to p when it is
large, and tie the first case to IMP's "winning property".

Layers are the pruned (prunable) tensors of ``models.pruned_layer_names``; with a
mask, masked weights are left out of both the ranking and N_l. Each layer keeps
``round(p · N_l)`` weights, and the denominator is the sum of these counts (equal to
p · Σ N_l up to rounding), so that R_p(θ, θ) is exactly 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..core import hparams, models, prune, results, store, train
from ..core.errors import ConfigError
from ..experiments import imp, instability
from ..paper import reported
from . import sanity

PS = (0.1, 0.2, 0.3, 0.4, 0.5)  # the fractions p of Liu et al.'s Figure 4
# The learning rates of ``lr_sweep``, as multiples of each network's recipe: LeNet's Adam at a
# tenth, once and ten times Table 1's rate; the stand-in's SGD at 0.01 and 0.1, Liu et al.'s
# two rates (ten times, 1.0, is past where SGD with momentum 0.9 trains).
LR_FACTORS = {"fmnist_resnet_20_4": (0.1, 1.0)}
DEFAULT_LR_FACTORS = (0.1, 1.0, 10.0)


def lr_factors(model: str) -> list[float]:
    """The default learning rates of the sweep for ``model``, as multiples of its recipe's."""
    return list(LR_FACTORS.get(model, DEFAULT_LR_FACTORS))


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 < p <= 1:
        raise ConfigError(f"p must be a fraction in (0, 1], got {p!r}; pass e.g. 0.2 for the top 20%")
    return float(p)


def top_p(weights: torch.Tensor, p: float, keep: torch.Tensor | None = None) -> torch.Tensor:
    """T_p: a boolean tensor marking the ``round(p · N)`` largest-magnitude weights (N: the
    weights ``keep`` marks, all by default). Ties are broken by position."""
    p = _check_p(p)
    flat = weights.detach().abs().float().flatten().cpu()
    allowed = torch.ones_like(flat, dtype=torch.bool) if keep is None else keep.flatten().cpu().bool()
    count = round(p * int(allowed.sum()))
    scores = torch.where(allowed, flat, torch.tensor(-1.0))
    chosen = torch.zeros_like(allowed)
    chosen[torch.argsort(scores, descending=True, stable=True)[:count]] = True
    return chosen.view(weights.shape)


def overlap(theta: dict, theta_prime: dict, p: float, names=None, mask: prune.Mask | None = None) -> float:
    """R_p(θ, θ'): the fraction of the per-layer top-p largest-magnitude weights the two
    weight sets share, summed over layers and divided by p · N (Liu et al. 2021, Eq. 1).

    ``names``: the layers (default: every tensor of ``mask``, else every tensor θ and θ'
    share with more than one dimension). ``mask``: pruned weights are excluded.
    """
    p = _check_p(p)
    if names is None:
        names = list(mask) if mask is not None else [n for n, w in theta.items()
                                                     if n in theta_prime and w.dim() > 1]
    names = list(names)
    missing = [n for n in names if n not in theta or n not in theta_prime]
    if missing or not names:
        raise ConfigError(f"layers {missing or names} are not in both weight sets; pass the names of "
                          f"tensors both hold (e.g. models.pruned_layer_names(model))")
    shared, total = 0, 0
    for name in names:
        if theta[name].shape != theta_prime[name].shape:
            raise ConfigError(f"layer {name} has shape {tuple(theta[name].shape)} in one weight set and "
                              f"{tuple(theta_prime[name].shape)} in the other; are they the same model?")
        keep = None if mask is None else mask[name]
        a, b = top_p(theta[name], p, keep), top_p(theta_prime[name], p, keep)
        shared += int((a & b).sum())
        total += int(a.sum())
    if total == 0:
        raise ConfigError(f"p = {p} selects no weights in layers {names}; choose a larger p")
    return shared / total


def overlap_curve(theta: dict, theta_prime: dict, ps=PS, names=None, mask: prune.Mask | None = None) -> np.ndarray:
    """R_p(θ, θ') for every p of ``ps``."""
    return np.array([overlap(theta, theta_prime, p, names, mask) for p in ps])


def init_vs_trained(run: store.Run, ps=PS, device: str = "cpu", progress: bool = True) -> np.ndarray:
    """R_p between a run's initial weights (its first step) and its weights at the end of
    training T, for every p of ``ps``, over the pruned layers (and, for a sparse run,
    only the weights its mask keeps). Trains the run if it is not cached."""
    hp = train.hparams_of(run)
    total = hparams.total_steps(hp)
    first = train.state_at(run, train.start_step(run), device, progress=False)["model"]
    last = train.state_at(run, total, device, progress)["model"]
    names = models.pruned_layer_names(models.build(hp.model))
    return overlap_curve(first, last, ps, names, train.mask_of(run, device))


def lr_sweep(config, lrs, density: float, ps=PS, device: str = "cpu", progress: bool = True) -> xr.Dataset:
    """Liu et al.'s Figure 4 and their winning-property test on our network, one
    initialization (``config.init_seeds[0]``): for every learning rate of ``lrs`` (the
    rest of the recipe as ``config.hparams``), R_p(θ_0, θ_T) of the dense network for
    every p of ``ps``, its test accuracy, and the test accuracy of its one-shot magnitude
    pruned ticket m ⊙ θ_0 at ``density`` (OMP, ``sanity.omp_mask``) and of the same mask
    on new weights (random reinitialization), both trained at that learning rate.

    The dense run at the Table 1 rate is the trunk of chapters 01-04 and the tickets are
    the runs of ``sanity.sanity_checks``, so they are found in the cache when those ran.
    Returns ``overlap`` over (``lr``, ``p``) and ``dense``, ``ticket``, ``reinit`` over ``lr``.
    """
    hp = config.hparams
    lrs = sorted({float(lr) for lr in lrs})
    if not lrs or min(lrs) <= 0:
        raise ConfigError(f"lrs must be a non-empty list of positive learning rates, got {lrs!r}")
    seed = config.init_seeds[0]
    copy_seed = instability.data_seed(seed, 0, 0)
    acc = lambda run: sanity.test_accuracy(run, config.preset, device, progress)
    dense = [sanity.trunk(hp, seed, lr) for lr in lrs]
    overlaps = np.array([init_vs_trained(r, ps, device, progress) for r in dense])
    masks = [sanity.omp_mask(r, density, device, progress) for r in dense]
    ds = xr.Dataset(
        {"overlap": (("lr", "p"), overlaps, {"long_name": "R_p(θ_0, θ_T)", "units": "fraction"}),
         "dense": (("lr",), np.array([acc(r) for r in dense]), {"long_name": "dense test accuracy", "units": "%"}),
         "ticket": (("lr",), np.array([acc(sanity.ticket_run(r, m, data_seed=copy_seed))
                                       for r, m in zip(dense, masks, strict=True)]),
                    {"long_name": "OMP ticket test accuracy", "units": "%"}),
         "reinit": (("lr",), np.array([acc(sanity.ticket_run(r, m, data_seed=copy_seed, reinit=1))
                                       for r, m in zip(dense, masks, strict=True)]),
                    {"long_name": "random reinitialization test accuracy", "units": "%"})},
        coords={"lr": lrs, "p": list(ps)})
    ds.attrs.update(results.provenance({"experiment": "weight_correlation", **config.as_dict(),
                                        "hparams": hp.as_dict(), "lrs": lrs, "density": float(density),
                                        "ps": list(ps), "runs": [r.hash for r in dense]}, device))
    return ds


def correlation_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per learning rate: R_p at each p (and R_p − p), the dense network's accuracy, the
    OMP ticket's and its random reinitialization's, and whether the ticket is matching
    (an accuracy drop below ``reported.MATCHING_MARGIN``, one run each) and whether it beats its
    random reinitialization by more than ``sanity.ADVANTAGE`` (Liu et al.'s winning property)."""
    rows = []
    for lr in ds.lr.values:
        row = {"lr": float(lr)}
        for p in ds.p.values:
            row[f"R_{p:g}"] = float(ds.overlap.sel(lr=lr, p=p))
        d, t, r = (float(ds[v].sel(lr=lr)) for v in ("dense", "ticket", "reinit"))
        row.update({"dense (%)": d, "OMP ticket (%)": t, "reinit (%)": r,
                    f"matching (drop < {reported.MATCHING_MARGIN} pp)": imp.matching(t, d, float("nan"),
                                                                               margin=reported.MATCHING_MARGIN),
                    f"winning (ticket − reinit > {sanity.ADVANTAGE} pp)": t - r > sanity.ADVANTAGE})
        rows.append(row)
    return pd.DataFrame(rows)


SUMMARY_KEYS = ("p_ref", "lr", "low", "high", "r_lr", "r_low", "r_high", "gap_low", "gap_lr", "gap_high",
                "dense_low", "dense_high", "order", "density")


def summary(ds: xr.Dataset, p_ref: float = 0.2) -> dict[str, str]:
    """The values chapter b3 quotes for one network's ``lr_sweep`` (key -> text; the chapter adds
    the network's role): R_p at ``p_ref`` (or the sweep's first p) at the lowest, the recipe's and
    the highest learning rate, whether it falls as the rate grows, the ticket's lead over its
    random reinitialization at each, the dense networks' accuracy and the ticket's density."""
    config = results.config_of(ds)
    lr, lrs = config["hparams"]["lr"], sorted(float(x) for x in ds.lr.values)
    p_ref = p_ref if p_ref in ds.p.values else float(ds.p.values[0])
    low, high = lrs[0], lrs[-1]
    r = {x: float(ds.overlap.sel(lr=x, p=p_ref)) for x in lrs}
    gap = {x: float(ds.ticket.sel(lr=x) - ds.reinit.sel(lr=x)) for x in lrs}
    return {"p_ref": f"{p_ref:g}", "lr": f"{lr:g}", "low": f"{low:g}", "high": f"{high:g}",
            "r_lr": f"{r[lr]:.3f}" if lr in r else "not measured", "r_low": f"{r[low]:.3f}", "r_high": f"{r[high]:.3f}",
            "gap_low": f"{gap[low]:+.2f}", "gap_lr": f"{gap[lr]:+.2f}" if lr in gap else "not measured",
            "gap_high": f"{gap[high]:+.2f}",
            "dense_low": f"{float(ds.dense.sel(lr=low)):.2f}", "dense_high": f"{float(ds.dense.sel(lr=high)):.2f}",
            "order": "falls" if all(r[a] > r[b] for a, b in zip(lrs, lrs[1:])) else "does not fall monotonically",
            "density": f"{100 * config['density']:.1f}"}
