"""Instability analysis of sparse subnetworks: IMP, random pruning and random
reinitialization at one density (Table 2, Figure 5), at every rewind step k (Figures 6-7)
and at every density of a grid (Figure 8, Appendix E).

The masks come from ``lmc.experiments.imp``; the pairs of copies are trained and
interpolated as in ``lmc.experiments.instability``, and share its runs through the cache.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..core import loop, prune, results, train
from ..core.errors import ConfigError
from ..paper import presets, reported
from . import imp, instability

SUBNETWORKS = ("dense", "imp", "random_prune", "random_reinit")  # Table 2's columns
# random pruning's strategies (prune.STRATEGIES): "random_prune" is open_lth's default, layerwise;
# "random_prune_global" shuffles the mask of all tensors as one (an extra column, chapter 04)
RANDOM_PRUNE = {"random_prune": "layerwise", "random_prune_global": "global"}
KNOWN_SUBNETWORKS = (*SUBNETWORKS, "random_prune_global")


def _imp_in_lockstep(configs: list[instability.InstabilityConfig], levels: int, device: str, progress: bool,
                     populate: bool | None = None, accel: dict | None = None) -> None:
    """IMP to ``levels`` for every initialization and rewind step of ``configs`` at once, so that
    each level's runs can train as one population (on a GPU by default); the per-k analyses
    then find their masks in the cache."""
    device, speed, populate, precision = instability.resolve_speed(device, populate, accel)
    trunks = instability.trunk_runs(configs[0], precision)
    train.train_runs(list(trunks.values()), configs[0].training_iterations, device, progress, populate, accel=speed)
    imp.masks_for([(trunk, c.rewind_iterations) for c in configs for trunk in trunks.values()],
                  levels, device=device, progress=progress, populate=populate, accel=speed)


def pruning(config: instability.InstabilityConfig, levels: int | None = None, density: float | None = None):
    """(IMP rounds, one-shot density) for a sparse experiment: ``levels`` rounds of 20%, or
    ``density`` reached the way Table 1 prunes this network (iteratively: the nearest number
    of rounds, ``imp.levels_for``; one-shot, for the ImageNet networks: exactly)."""
    if (levels is None) == (density is None):
        raise ConfigError("a sparse experiment needs exactly one of levels (IMP rounds) and density "
                          "(fraction of weights kept); pass one of them")
    if density is not None:
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density < 1:
            raise ConfigError(f"density must be a fraction of the weights in (0, 1), got {density!r}; "
                              f"e.g. 0.035 for 3.5%")
        if reported.setting(config.model, config.variant).pruning_style == "one-shot":
            return None, float(density)
        return imp.levels_for(density), None
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ConfigError(f"levels must be an integer ≥ 1 for a sparse subnetwork, got {levels!r}; "
                          f"level 0 is the dense network (15 rounds give 3.5%)")
    return levels, None


def sparse_pairs(config: instability.InstabilityConfig, levels: int | None = None, subnetworks=SUBNETWORKS,
                 device: str = "cpu", progress: bool = True, populate: bool = False,
                 speed: loop.Accel | None = None, density: float | None = None) -> tuple[dict, dict]:
    """The runs behind ``sparse_instability``, untrained past what IMP needed.

    Trains each initialization's trunk to T and prunes it: IMP with rewinding to k for
    ``levels`` rounds, or to ``density`` (``pruning``: one-shot for the ImageNet
    networks, as in Table 1); then returns ({(subnetwork, init_seed, pair): [copy 0, copy 1]}, {(subnetwork,
    init_seed): density}). The copies are cached runs (``store.Run``); the appendices
    measure distances between the same runs the chapters interpolate. Random pruning
    (``RANDOM_PRUNE``) starts from the IMP level's m_IMP ⊙ W_k, as open_lth's branch does.
    """
    for name in subnetworks:
        if name not in KNOWN_SUBNETWORKS:
            raise ConfigError(f"unknown subnetwork {name!r}; valid: {', '.join(KNOWN_SUBNETWORKS)}")
    levels, one_shot = pruning(config, levels, density)
    speed = speed or loop.accel_for(device)
    precision = speed.precision
    k, total = config.rewind_iterations, config.training_iterations
    rule = config.optimizer_at_k
    trunks = instability.trunk_runs(config, precision)
    train.train_runs(list(trunks.values()), total, device, progress, populate, accel=speed)
    if not one_shot:  # every initialization's IMP sweep in lockstep (populations where ``populate``)
        swept = imp.masks_for([(trunk, k) for trunk in trunks.values()], levels, device=device,
                              progress=progress, populate=populate, accel=speed)
    pairs, density = {}, {}
    for n, (i, trunk) in enumerate(trunks.items()):
        imp_mask = imp.one_shot(trunk, one_shot, device, progress) if one_shot else swept[n][-1]
        masks = {"dense": None, "imp": imp_mask, "random_reinit": imp_mask,
                 **{name: imp.random_prune(imp_mask, seed=i, strategy=strategy)
                    for name, strategy in RANDOM_PRUNE.items() if name in subnetworks}}
        for name in subnetworks:
            density[name, i] = 1.0 if masks[name] is None else prune.density(prune.load(masks[name]))
            for j in range(config.pairs):
                seeds = [instability.data_seed(i, j, c) for c in (0, 1)]
                if name == "random_reinit":
                    pairs[name, i, j] = [imp.reinit_run(trunk, k, masks[name], data_seed=s, optimizer_at_k=rule)
                                         for s in seeds]
                else:
                    start = imp_mask if name in RANDOM_PRUNE else None
                    pairs[name, i, j] = [imp.sparse_run(trunk, k, masks[name], data_seed=s, optimizer_at_k=rule,
                                                        start_mask=start) for s in seeds]
    return pairs, density


def sparse_instability(config: instability.InstabilityConfig, levels: int | None = None, subnetworks=SUBNETWORKS,
                       device: str = "auto", progress: bool = True, populate: bool | None = None,
                       accel: dict | None = None, density: float | None = None) -> xr.Dataset:
    """Instability analysis of sparse subnetworks at IMP level ``levels`` (Table 2, Figures 5-7).

    For each initialization: IMP with rewinding to k (``config.rewind_step``) for ``levels``
    rounds (or to ``density``, one-shot where Table 1 prunes one-shot; ``pruning``), then
    pairs of copies of m ⊙ W_k trained to T on different data orders, for
    the IMP mask and for the random baselines at its density (``imp``): random pruning
    (``random_prune``: layerwise, open_lth's default; ``random_prune_global``: global) from the
    IMP level's m_IMP ⊙ W_k, and random reinitialization; ``dense``
    is the unpruned network's instability analysis at k (the runs of chapters 01-02).
    Returns ``error``, ``loss`` and ``instability`` over (``subnetwork``, ``init_seed``,
    ``pair``, ``split``[, ``alpha``]) and the masks' ``density``.
    """
    levels, one_shot = pruning(config, levels, density)
    device, speed, populate, precision = instability.resolve_speed(device, populate, accel)
    hp, preset = config.hparams, presets.get(config.preset)
    k, total = config.rewind_iterations, config.training_iterations
    instability.evaluation_data(hp, preset, device)
    pairs, density = sparse_pairs(config, levels, subnetworks, device, progress, populate, speed, one_shot)
    paths, how = instability.pair_paths(hp, pairs, total, preset, config.n_alpha, device, progress, populate, speed)
    shape = (len(subnetworks), len(config.init_seeds), config.pairs)
    order = [(n, i, j) for n in subnetworks for i in config.init_seeds for j in range(config.pairs)]
    ds = instability.path_dataset([paths[key] for key in order], shape, ("subnetwork", "init_seed", "pair"),
                                  {"subnetwork": list(subnetworks), "init_seed": list(config.init_seeds),
                                   "pair": list(range(config.pairs))}, config.n_alpha)
    ds["density"] = (("subnetwork", "init_seed"),
                     np.array([[density[n, i] for i in config.init_seeds] for n in subnetworks]),
                     {"long_name": "fraction of prunable weights remaining"})
    ds.attrs.update(results.provenance({"experiment": "sparse_instability", **config.as_dict(),
                                        **({"levels": levels, "fraction": imp.FRACTION} if one_shot is None
                                           else {"one_shot_density": one_shot}),
                                        "random_prune": {n: RANDOM_PRUNE[n] for n in subnetworks if n in RANDOM_PRUNE},
                                        "hparams": hp.as_dict(), "rewind_iterations": k,
                                        "training_iterations": total, **how}, device))
    return ds


def sparse_curve(config: instability.InstabilityConfig, levels: int | None, rewind_steps, subnetworks=SUBNETWORKS,
                 device: str = "auto", progress: bool = True, density: float | None = None,
                 **speed) -> xr.Dataset:
    """Figures 6 and 7: ``sparse_instability`` at every rewind step k in ``rewind_steps``.

    IMP runs once per k (its masks depend on the weights it rewinds to); the trunk,
    the dense copies and every level are shared with chapters 01-04 through the cache.
    Returns ``sparse_instability``'s variables stacked along ``rewind_step`` (iterations;
    ``rewind_label`` keeps the step strings).
    """
    configs, iterations = instability.rewind_configs(config, rewind_steps)
    levels, one_shot = pruning(config, levels, density)
    if not one_shot:
        _imp_in_lockstep(configs, levels, device, progress, **speed)
    parts = [sparse_instability(c, levels, subnetworks, device, progress, density=one_shot, **speed)
             for c in configs]
    ds = instability.stacked(parts, "rewind_step", {"rewind_step": iterations,
                                                    "rewind_label": ("rewind_step", [str(k) for k in rewind_steps])},
                             "sparse_curve", {**({"levels": levels} if density is None else {"density": density}),
                                              "rewind_steps": [str(k) for k in rewind_steps]})
    return ds.sortby("rewind_step")


def sparsity_grid(config: instability.InstabilityConfig, levels, rewind_steps, subnetworks=("dense", "imp", "random_prune"),
                  device: str = "auto", progress: bool = True, **speed) -> xr.Dataset:
    """Figure 8 and Appendix E: ``sparse_curve`` at every IMP level in ``levels``.

    Stacked along ``level`` with the nominal ``density`` 0.8^level as a coordinate (the
    measured densities stay in the ``density`` variable). Asking for more levels or
    rewind steps later reuses everything already computed.
    """
    if isinstance(levels, (str, int)) or not len(levels) or len(set(levels)) != len(levels):
        raise ConfigError(f"levels must be a non-empty list of distinct IMP rounds, got {levels!r}; "
                          f"e.g. [3, 7, 11, 15]")
    levels = sorted(levels)
    if pruning(config, levels[0])[0] and pruning(config, levels[-1])[0]:  # every level valid
        _imp_in_lockstep(instability.rewind_configs(config, rewind_steps)[0], levels[-1], device, progress, **speed)
    parts = [sparse_curve(config, level, rewind_steps, subnetworks, device, progress, **speed)
             for level in levels]
    measured = xr.concat([p.density for p in parts], dim="level")
    parts = [p.drop_vars("density") for p in parts]
    ds = instability.stacked(parts, "level", {"level": levels,
                                              "nominal_density": ("level", [imp.density_after(n) for n in levels])},
                             "sparsity_grid", {"levels": levels, "rewind_steps": [str(k) for k in rewind_steps]})
    ds["density"] = measured.assign_coords(level=levels)
    ds.density.attrs["long_name"] = "fraction of prunable weights remaining"
    return ds


def sparse_plan(preset: str, model: str | None = None, variant: str = "standard", density: float | None = None,
                rewind_steps=None, init_seeds=None, pairs: int | None = None, n_alpha: int | None = None,
                levels=None) -> dict:
    """For chapters 05-06: per network, its validated config, IMP rounds (from ``density``, default
    Table 1's), rewind steps and density grid (``levels``); None takes the preset's sizes."""
    size = presets.get(preset)
    if isinstance(rewind_steps, (str, int)) or isinstance(levels, (str, int)):
        raise ConfigError(f"rewind_steps and levels are lists, e.g. ['0', '500'] and [3, 7, 15]; got "
                          f"{rewind_steps!r} and {levels!r}")
    out = {}
    for m in ([model] if model else list(size.models)):
        setting = reported.setting(m, variant)
        rounds = imp.levels_for(setting.pruning_density / 100 if density is None else density)
        sizes = size.sparse(m, rounds)
        grid = list(sizes["rewind_steps"] if rewind_steps is None else rewind_steps)
        config = instability.instability_config(model=m, variant=variant, rewind_step=grid[0] if grid else 0, preset=preset,
                                                pairs=pairs, init_seeds=sizes["init_seeds"] if init_seeds is None else init_seeds,
                                                n_alpha=sizes["n_alpha"] if n_alpha is None else n_alpha)
        out[m] = {"config": config, "levels": rounds, "rewind_steps": grid,
                  "grid_levels": list(sizes["grid_levels"] if levels is None else levels)}
    return out


def sparse_command(config: instability.InstabilityConfig, rewind_steps, levels) -> str:
    """The ``lmc run sparse`` command that computes a chapter 05-06 result."""
    levels = " ".join(str(n) for n in (levels if isinstance(levels, (list, tuple)) else [levels]))
    return (f"lmc run sparse --model {config.model} --variant {config.variant} --preset {config.preset} "
            f"--levels {levels} --rewind {' '.join(str(k) for k in rewind_steps)}")
