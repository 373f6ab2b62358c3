"""The paper's experiments, as functions from a configuration to an xarray result.

Chapters and the CLI call these; they ask ``lmc.train`` for runs (cached and shared
through ``lmc.store``) and ``lmc.interpolate`` for the paths between them.

Instability analysis at step k (Algorithm 1 of the paper): train one network (the
*trunk*) from initialization to step k; make two copies of its full training
state; train each copy to T with its own data order; interpolate between the two
trained copies. k = 0 is instability at initialization.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from tqdm.auto import tqdm

from . import data, imp, interpolate, models, paper, presets, prune, results, store, train
from .errors import ConfigError, DataError, choose

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """The torch device to use: ``"auto"`` picks CUDA when a GPU is visible, else the CPU."""
    if not isinstance(device, str) or device.split(":")[0] not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was requested but torch sees no GPU; "
                          f"use device='cpu' or 'auto'")
    return device


def data_seed(init_seed: int, pair: int | None = None, copy: int = 0) -> int:
    """The data-order seed of the trunk of ``init_seed`` (pair None) or of one copy of a pair."""
    return 10_000 * init_seed + (0 if pair is None else 1 + 2 * pair + copy)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise ConfigError(f"{name} must be an integer {limit}, got {value!r}; pass one in that range")
    return int(value)


@dataclass(frozen=True)
class InstabilityConfig:
    """What an instability analysis computes: the setting, k, seeds, pairs and α grid."""

    model: str
    variant: str
    rewind_step: str
    preset: str
    init_seeds: tuple[int, ...]
    pairs: int
    n_alpha: int
    reset_schedule: bool = False  # Figure 4: copies train T steps with the schedule restarted
    optimizer_at_k: str = "fresh"  # the copies' optimizer state at k (train.OPTIMIZER_AT_K)

    @property
    def hparams(self) -> train.Hparams:
        """Table 1's recipe for this setting, resized by the preset."""
        return presets.get(self.preset).recipe(paper.setting(self.model, self.variant).hparams)


def instability_config(model: str = "lenet_300_100", variant: str = "standard",
                       rewind_step: str | int = 0, preset: str = presets.DEFAULT,
                       init_seeds=None, pairs: int | None = None,
                       n_alpha: int | None = None, reset_schedule: bool = False,
                       optimizer_at_k: str = "fresh") -> InstabilityConfig:
    """A validated InstabilityConfig; None values take the preset's size. ``optimizer_at_k``: every
    copy made at k starts with a new optimizer state ("fresh", open_lth's rule) or continues the
    trunk's ("inherit"); the same rule for dense and sparse copies."""
    p = presets.get(preset)
    paper.setting(model, variant)
    if init_seeds is None:
        init_seeds = range(p.n_init)
    if isinstance(init_seeds, (int, str)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in init_seeds):
        raise ConfigError(f"init_seeds must be a list of non-negative integers, got {init_seeds!r}; "
                          f"pass e.g. [0, 1, 2]")
    seeds = tuple(int(s) for s in init_seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"init_seeds must be a non-empty list without repeats, got {list(seeds)}; "
                          f"pass e.g. [0, 1, 2]")
    pairs = _check_int("pairs", p.n_pairs if pairs is None else pairs, 1, 4999)
    n_alpha = p.n_alpha if n_alpha is None else n_alpha
    interpolate.alphas(n_alpha)  # validates
    train.parse_step(rewind_step)
    if not isinstance(reset_schedule, bool):
        raise ConfigError(f"reset_schedule must be True or False, got {reset_schedule!r}")
    choose("optimizer_at_k", optimizer_at_k, train.OPTIMIZER_AT_K)
    config = InstabilityConfig(model, variant, str(rewind_step), preset, seeds, pairs, int(n_alpha),
                               reset_schedule, optimizer_at_k)
    hp = config.hparams
    size = train.train_size(hp)
    k, total = train.to_steps(rewind_step, hp, size), train.to_steps(hp.training_steps, hp, size)
    if k >= total:
        raise ConfigError(f"rewind step k={rewind_step} ({k} iterations) must be before the end "
                          f"of training T={hp.training_steps} ({total} iterations); choose a "
                          f"smaller k or a preset that trains longer")
    return config


def _config_dict(config: InstabilityConfig) -> dict:
    d = asdict(config)
    if not d["reset_schedule"]:  # added later: only a non-default value enters the identity
        del d["reset_schedule"]
    # optimizer_at_k always enters: results computed before it existed inherited the trunk's
    # optimizer state in their dense copies, so a result without it is not a "fresh" one
    return d


def _speed(device: str, populate: bool | None, accel: dict | None):
    """(device, speed-ups, populate, precision) resolved for a device."""
    device = resolve_device(device)
    speed = train.accel_for(device, **(accel or {}))
    populate = train.population_default(device) if populate is None else bool(populate)
    return device, speed, populate, speed.precision


def _evaluation_data(hp: train.Hparams, preset: presets.Preset, device: str):
    """The data the paths are evaluated on (loaded, and so verified, before any run is created:
    missing data must leave the cache untouched)."""
    return data.load(hp.dataset, device, preset.eval_train_subset(hp.model), preset.test_subset,
                     train.image_size(hp))


def _paths(hp: train.Hparams, pairs: dict, total: int, preset: presets.Preset, n_alpha: int, device: str,
           progress: bool, populate: bool, speed: train.Accel) -> tuple[dict, dict]:
    """Train every copy of ``pairs`` (key → two runs) to ``total`` and interpolate each pair.

    Returns ({key: {"error", "loss"}}, what the provenance records about the evaluation).
    Each path is cached under the two runs' identities and the evaluation sizes.
    """
    train_eval = preset.eval_train_subset(hp.model)
    evaluation = _evaluation_data(hp, preset, device)
    model = models.build(hp.model).to(device)
    batched = interpolate.batch_alphas(model, device)
    train.train_runs([c for copies in pairs.values() for c in copies], total, device, progress, populate,
                     accel=speed)
    paths = {}
    for key, copies in tqdm(pairs.items(), desc="pairs", disable=not progress):

        def path_between(copies=copies) -> dict:
            a, b = (train.state_at(c, total, device, progress, accel=speed)["model"] for c in copies)
            ds = interpolate.error_along_path(model, a, b, evaluation, n_alpha, batched=batched)
            return {"error": ds.error.values.tolist(), "loss": ds.loss.values.tolist()}

        # all-α-together evaluation rounds differently from the α loop: it has its own entry
        how = {"evaluation": "batched"} if batched else {}
        paths[key] = store.cached({"kind": "interpolate", "runs": [c.hash for c in copies], "step": total,
                                   "n_alpha": n_alpha, "train_subset": train_eval,
                                   "test_subset": preset.test_subset, **how}, path_between)
    return paths, {"evaluation": "all α batched" if batched else "loop over α", "population": populate,
                   "accel": speed.as_dict()}


def _path_dataset(paths: list[dict], shape: tuple, dims: tuple, coords: dict, n_alpha: int) -> xr.Dataset:
    """Error, loss and instability of ``paths`` (in order) as a Dataset over ``dims`` + split, alpha."""
    dims = (*dims, "split", "alpha")
    shape = (*shape, 2, n_alpha)
    ds = xr.Dataset(
        {"error": (dims, np.array([p["error"] for p in paths]).reshape(shape), {"units": "%"}),
         "loss": (dims, np.array([p["loss"] for p in paths]).reshape(shape), {"units": "nats"})},
        coords={**coords, "split": ["train", "test"], "alpha": interpolate.alphas(n_alpha)})
    ds["instability"] = interpolate.instability(ds.error)
    ds.instability.attrs.update(units="percentage points",
                                long_name="max error along the path minus mean endpoint error")
    return ds


def dense_pairs(config: InstabilityConfig, precision: str = "float32",
                hp: train.Hparams | None = None) -> tuple[dict, dict]:
    """The runs of instability analysis at ``config``'s rewind step, untrained: ({init_seed: trunk},
    {(init_seed, pair): [copy 0, copy 1]}), each copy starting from the trunk's state at k
    on its own data order, with the optimizer rule ``config.optimizer_at_k``. ``hp`` replaces the recipe (the same runs for the same recipe)."""
    hp = hp or config.hparams
    k = train.to_steps(config.rewind_step, hp, train.train_size(hp))
    trunks = trunk_runs(config, precision, hp)
    pairs = {(i, j): [store.open_run(train.run_config(hp, data_seed(i, j, c), parent=trunks[i], parent_step=k,
                                                      reset_schedule=config.reset_schedule, precision=precision,
                                                      fresh_optimizer=config.optimizer_at_k == "fresh"))
                      for c in (0, 1)] for i in config.init_seeds for j in range(config.pairs)}
    return trunks, pairs


def instability_analysis(config: InstabilityConfig | None = None, device: str = "auto",
                         progress: bool = True, populate: bool | None = None, accel: dict | None = None,
                         **params) -> xr.Dataset:
    """Error and loss along the path between copies trained from step k, and their instability.

    Pass an ``InstabilityConfig`` or the keyword arguments of ``instability_config``.
    ``populate`` trains the runs as populations (None: on a GPU; ``train.train_runs``);
    ``accel`` switches speed-ups on or off (``{"bf16": True}``; ``train.accel_for``).
    Returns a Dataset with ``error`` and ``loss`` over (``init_seed``, ``pair``,
    ``split``, ``alpha``) and ``instability`` over (``init_seed``, ``pair``, ``split``).
    """
    config = config or instability_config(**params)
    device, speed, populate, precision = _speed(device, populate, accel)
    hp = config.hparams
    size = train.train_size(hp)  # step strings count epochs of the training set, not the evaluation subset
    k, total = train.to_steps(config.rewind_step, hp, size), train.to_steps(hp.training_steps, hp, size)
    _evaluation_data(hp, presets.get(config.preset), device)
    jobs = [(i, j) for i in config.init_seeds for j in range(config.pairs)]
    trunks, pairs = dense_pairs(config, precision)
    # the trunks to k, then every copy to T: each group trains as populations where that pays
    train.train_runs(list(trunks.values()), k, device, progress, populate, accel=speed)
    paths, how = _paths(hp, pairs, total, presets.get(config.preset), config.n_alpha, device, progress,
                        populate, speed)
    ds = _path_dataset([paths[j] for j in jobs], (len(config.init_seeds), config.pairs), ("init_seed", "pair"),
                       {"init_seed": list(config.init_seeds), "pair": list(range(config.pairs))}, config.n_alpha)
    ds.attrs.update(results.provenance({"experiment": "instability", **_config_dict(config),
                                        "hparams": hp.as_dict(), "rewind_iterations": k,
                                        "training_iterations": total, **how}, device))
    return ds


SUBNETWORKS = ("dense", "imp", "random_prune", "random_reinit")  # Table 2's columns
# random pruning's strategies (prune.STRATEGIES): "random_prune" is open_lth's default, layerwise;
# "random_prune_global" shuffles the mask of all tensors as one (an extra column, chapter 04)
RANDOM_PRUNE = {"random_prune": "layerwise", "random_prune_global": "global"}
KNOWN_SUBNETWORKS = (*SUBNETWORKS, "random_prune_global")


def trunk_runs(config: InstabilityConfig, precision: str, hp: train.Hparams | None = None) -> dict:
    """Each initialization's trunk: the run trained from init seed i on its data order."""
    hp = hp or config.hparams
    return {i: store.open_run(train.run_config(hp, data_seed(i), init_seed=i, precision=precision))
            for i in config.init_seeds}


def _imp_in_lockstep(configs: list[InstabilityConfig], levels: int, device: str, progress: bool,
                     populate: bool | None = None, accel: dict | None = None) -> None:
    """IMP to ``levels`` for every initialization and rewind step of ``configs`` at once, so that
    each level's runs can train as one population (on a GPU by default); the per-k analyses
    then find their masks in the cache."""
    device, speed, populate, precision = _speed(device, populate, accel)
    hp = configs[0].hparams
    size = train.train_size(hp)
    trunks = trunk_runs(configs[0], precision)
    train.train_runs(list(trunks.values()), train.to_steps(hp.training_steps, hp, size), device, progress,
                     populate, accel=speed)
    imp.masks_for([(trunk, train.to_steps(c.rewind_step, hp, size)) for c in configs for trunk in trunks.values()],
                  levels, device=device, progress=progress, populate=populate, accel=speed)


def pruning(config: InstabilityConfig, levels: int | None = None, density: float | None = None):
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
        if paper.setting(config.model, config.variant).pruning_style == "one-shot":
            return None, float(density)
        return imp.levels_for(density), None
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ConfigError(f"levels must be an integer ≥ 1 for a sparse subnetwork, got {levels!r}; "
                          f"level 0 is the dense network (15 rounds give 3.5%)")
    return levels, None


def sparse_pairs(config: InstabilityConfig, levels: int | None = None, subnetworks=SUBNETWORKS,
                 device: str = "cpu", progress: bool = True, populate: bool = False,
                 speed: train.Accel | None = None, density: float | None = None) -> tuple[dict, dict]:
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
    speed = speed or train.accel_for(device)
    precision = speed.precision
    hp = config.hparams
    size = train.train_size(hp)
    k, total = train.to_steps(config.rewind_step, hp, size), train.to_steps(hp.training_steps, hp, size)
    rule = config.optimizer_at_k
    trunks = trunk_runs(config, precision)
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
                seeds = [data_seed(i, j, c) for c in (0, 1)]
                if name == "random_reinit":
                    pairs[name, i, j] = [imp.reinit_run(trunk, k, masks[name], data_seed=s, optimizer_at_k=rule)
                                         for s in seeds]
                else:
                    start = imp_mask if name in RANDOM_PRUNE else None
                    pairs[name, i, j] = [imp.sparse_run(trunk, k, masks[name], data_seed=s, optimizer_at_k=rule,
                                                        start_mask=start) for s in seeds]
    return pairs, density


def sparse_instability(config: InstabilityConfig, levels: int | None = None, subnetworks=SUBNETWORKS,
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
    device, speed, populate, precision = _speed(device, populate, accel)
    hp, preset = config.hparams, presets.get(config.preset)
    size = train.train_size(hp)
    k, total = train.to_steps(config.rewind_step, hp, size), train.to_steps(hp.training_steps, hp, size)
    _evaluation_data(hp, preset, device)
    pairs, density = sparse_pairs(config, levels, subnetworks, device, progress, populate, speed, one_shot)
    paths, how = _paths(hp, pairs, total, preset, config.n_alpha, device, progress, populate, speed)
    shape = (len(subnetworks), len(config.init_seeds), config.pairs)
    order = [(n, i, j) for n in subnetworks for i in config.init_seeds for j in range(config.pairs)]
    ds = _path_dataset([paths[key] for key in order], shape, ("subnetwork", "init_seed", "pair"),
                       {"subnetwork": list(subnetworks), "init_seed": list(config.init_seeds),
                        "pair": list(range(config.pairs))}, config.n_alpha)
    ds["density"] = (("subnetwork", "init_seed"),
                     np.array([[density[n, i] for i in config.init_seeds] for n in subnetworks]),
                     {"long_name": "fraction of prunable weights remaining"})
    ds.attrs.update(results.provenance({"experiment": "sparse_instability", **_config_dict(config),
                                        **({"levels": levels, "fraction": imp.FRACTION} if one_shot is None
                                           else {"one_shot_density": one_shot}),
                                        "random_prune": {n: RANDOM_PRUNE[n] for n in subnetworks if n in RANDOM_PRUNE},
                                        "hparams": hp.as_dict(), "rewind_iterations": k,
                                        "training_iterations": total, **how}, device))
    return ds


def _stacked(parts: list[xr.Dataset], dim: str, coords: dict, experiment: str, extra: dict) -> xr.Dataset:
    """``parts`` concatenated along ``dim`` with the first part's provenance, renamed ``experiment``."""
    ds = xr.concat([p.drop_attrs() for p in parts], dim=dim).assign_coords(coords)
    first = results.config_of(parts[0])
    for key in ("rewind_step", "rewind_iterations", "levels"):
        first.pop(key, None)
    first.update(experiment=experiment, **extra)
    ds.attrs.update(results.provenance(first, parts[0].attrs["device"]))
    return ds


def _rewind_configs(config: InstabilityConfig, rewind_steps) -> tuple[list[InstabilityConfig], list[int]]:
    """One validated config per rewind step, and the steps in iterations (each named once)."""
    if isinstance(rewind_steps, (str, int)) or not len(rewind_steps):
        raise ConfigError(f"rewind_steps must be a non-empty list of steps, got {rewind_steps!r}")
    configs = [dataclasses.replace(config, rewind_step=str(k)) for k in rewind_steps]
    for c in configs:  # validates each k
        instability_config(c.model, c.variant, c.rewind_step, c.preset, c.init_seeds, c.pairs, c.n_alpha,
                           c.reset_schedule, c.optimizer_at_k)
    iterations = [train.to_steps(c.rewind_step, c.hparams, train.train_size(c.hparams)) for c in configs]
    if len(set(iterations)) != len(iterations):
        raise ConfigError(f"rewind_steps {list(rewind_steps)} name the same step twice; give each rewind step once")
    return configs, iterations


def sparse_curve(config: InstabilityConfig, levels: int | None, rewind_steps, subnetworks=SUBNETWORKS,
                 device: str = "auto", progress: bool = True, density: float | None = None,
                 **speed) -> xr.Dataset:
    """Figures 6 and 7: ``sparse_instability`` at every rewind step k in ``rewind_steps``.

    IMP runs once per k (its masks depend on the weights it rewinds to); the trunk,
    the dense copies and every level are shared with chapters 01-04 through the cache.
    Returns ``sparse_instability``'s variables stacked along ``rewind_step`` (iterations;
    ``rewind_label`` keeps the step strings).
    """
    configs, iterations = _rewind_configs(config, rewind_steps)
    levels, one_shot = pruning(config, levels, density)
    if not one_shot:
        _imp_in_lockstep(configs, levels, device, progress, **speed)
    parts = [sparse_instability(c, levels, subnetworks, device, progress, density=one_shot, **speed)
             for c in configs]
    ds = _stacked(parts, "rewind_step", {"rewind_step": iterations,
                                          "rewind_label": ("rewind_step", [str(k) for k in rewind_steps])},
                  "sparse_curve", {**({"levels": levels} if density is None else {"density": density}),
                                   "rewind_steps": [str(k) for k in rewind_steps]})
    return ds.sortby("rewind_step")


def sparsity_grid(config: InstabilityConfig, levels, rewind_steps, subnetworks=("dense", "imp", "random_prune"),
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
        _imp_in_lockstep(_rewind_configs(config, rewind_steps)[0], levels[-1], device, progress, **speed)
    parts = [sparse_curve(config, level, rewind_steps, subnetworks, device, progress, **speed)
             for level in levels]
    measured = xr.concat([p.density for p in parts], dim="level")
    parts = [p.drop_vars("density") for p in parts]
    ds = _stacked(parts, "level", {"level": levels,
                                   "nominal_density": ("level", [imp.density_after(n) for n in levels])},
                  "sparsity_grid", {"levels": levels, "rewind_steps": [str(k) for k in rewind_steps]})
    ds["density"] = measured.assign_coords(level=levels)
    ds.density.attrs["long_name"] = "fraction of prunable weights remaining"
    return ds


def test_accuracy(ds: xr.Dataset) -> xr.DataArray:
    """Test accuracy (%) of every trained copy (the path's endpoints), along ``copy``."""
    return 100 - endpoint_error(ds).sel(split="test")


def full_accuracy(ds: xr.Dataset):
    """Mean and standard deviation of the unpruned network's test accuracy over its trained copies
    at each rewind step k (floats for one k; DataArrays over ``rewind_step`` otherwise): a sparse
    subnetwork rewound to k is compared with the full network's copies made at the same k."""
    dense = test_accuracy(ds).sel(subnetwork="dense")
    if "level" in dense.dims:  # the same dense copies repeat at every level of a grid: count them once
        dense = dense.isel(level=0)
    over = [d for d in dense.dims if d != "rewind_step"]
    mean = dense.mean(over)
    std = dense.std(over, ddof=1) if dense.stack(n=over).sizes["n"] > 1 else xr.zeros_like(mean)
    if "rewind_step" not in dense.dims:
        return float(mean), float(std)
    return mean, std


def first_step(flags: xr.DataArray):
    """The first rewind step from which ``flags`` (bool over ``rewind_step``) stays true, else None."""
    steps = [int(k) for k in flags.rewind_step.values]
    values = flags.values
    for i, k in enumerate(steps):
        if values[i:].all():
            return k
    return None


def stability_and_matching(ds: xr.Dataset, margin: float | None = None) -> pd.DataFrame:
    """Figure 8: per density and subnetwork, the first rewind step from which the subnetwork is
    stable (test instability < 2 pp) and from which it is matching (median over initializations).

    ``margin`` None uses the one-standard-deviation rule; a number, Figure 8's accuracy drop
    below ``margin`` pp (``paper.MATCHING_MARGIN``). Steps are missing (NaN) where never reached in the grid.
    """
    full_mean, full_std = full_accuracy(ds)  # per rewind step
    rows = []
    for level in ds.level.values:
        part = ds.sel(level=level)
        for name in part.subnetwork.values:
            if name == "dense":
                continue
            sub = part.sel(subnetwork=name)
            stable, matching = [], []
            for seed in sub.init_seed.values:
                one = sub.sel(init_seed=seed)
                inst = one.instability.sel(split="test").mean("pair")
                acc = test_accuracy(one).mean(("copy", "pair"))
                stable.append(first_step(inst < interpolate.STABLE_BELOW))
                matching.append(first_step(xr.DataArray(
                    [imp.matching(float(acc.sel(rewind_step=k)), float(full_mean.sel(rewind_step=k)),
                                  float(full_std.sel(rewind_step=k)), margin) for k in acc.rewind_step.values],
                    coords={"rewind_step": acc.rewind_step.values}, dims="rewind_step")))
            rows.append({"level": int(level), "density (%)": 100 * float(part.density.sel(subnetwork=name).mean()),
                         "subnetwork": str(name), "stable from k": _median_step(stable),
                         "matching from k": _median_step(matching)})
    table = pd.DataFrame(rows)
    return table.astype({"stable from k": "Int64", "matching from k": "Int64"})


def _median_step(steps: list):
    """The median of first steps, None counting as never (after every step)."""
    ranked = sorted(steps, key=lambda k: float("inf") if k is None else k)
    return ranked[(len(ranked) - 1) // 2]


def sparsity_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """Section 4.4's ranges from ``stability_and_matching``: I where random pruning is matching at
    some rewind step, II where only IMP is, III where neither is."""
    rows = []
    for level, part in table.groupby("level"):
        found = {r.subnetwork: pd.notna(r["matching from k"]) for _, r in part.iterrows()}
        name = "I" if found.get("random_prune") else "II" if found.get("imp") else "III"
        rows.append({"level": level, "density (%)": float(part["density (%)"].iloc[0]), "range": name})
    return pd.DataFrame(rows).sort_values("density (%)", ascending=False)


def table2(ds: xr.Dataset):
    """Table 2 from a ``sparse_instability`` result: test accuracy of the full network, the IMP
    subnetwork and both baselines (mean ± std over trained copies), Δ = full − IMP, whether IMP
    is matching under both rules, each subnetwork's test instability; the paper's row beside."""
    config = results.config_of(ds)
    setting = paper.setting(config["model"], config["variant"])
    accuracy = test_accuracy(ds)
    mean = accuracy.mean(("copy", "init_seed", "pair"))
    std = accuracy.std(("copy", "init_seed", "pair"), ddof=1)
    instability = ds.instability.sel(split="test").mean(("init_seed", "pair"))
    density = float(ds.density.sel(subnetwork="imp").mean()) if "imp" in ds.subnetwork else float("nan")
    full, full_std = float(mean.sel(subnetwork="dense")), float(std.sel(subnetwork="dense"))
    ours = {"": "ours", "density (%)": 100 * density}
    for name in ds.subnetwork.values:
        ours[f"{name} (%)"] = results.mean_std(accuracy.sel(subnetwork=name))
    if "imp" in ds.subnetwork:
        sparse = float(mean.sel(subnetwork="imp"))
        ours.update({"Δ IMP (pp)": full - sparse,
                     "matching (1 std)": imp.matching(sparse, full, full_std),
                     f"matching (drop < {paper.MATCHING_MARGIN} pp)": imp.matching(
                         sparse, full, full_std, margin=paper.MATCHING_MARGIN)})
    for name in ds.subnetwork.values:
        ours[f"instability {name} (pp)"] = float(instability.sel(subnetwork=name))
    rows = [ours]
    reported = paper.TABLE2.get((config["model"], config["variant"]))
    if reported is not None:
        rows.append({"": "paper", "density (%)": setting.pruning_density, "dense (%)": f"{reported.full:g}",
                     "imp (%)": f"{reported.imp:g}", "random_prune (%)": f"{reported.random_prune:g}",
                     "random_reinit (%)": f"{reported.random_reinit:g}", "Δ IMP (pp)": reported.delta,
                     "matching (1 std)": reported.matching})
    return pd.DataFrame(rows).set_index("")


def table2_verdict(ds: xr.Dataset) -> str:
    """Whether a ``sparse_instability`` result supports the paper's Table 2 / Figure 5 claim for its
    network, as text with the numbers (mean ± std over copies, instability over pairs): "supported",
    "contradicted" or "partly supported". Table 1's networks are held to their own row; a CPU
    stand-in to the pattern of the paper's larger networks (ResNet-20 standard: IMP at k = 0
    neither matching nor stable). Random baselines are claimed not matching in every row."""
    config = results.config_of(ds)
    key = (config["model"], config["variant"])
    reported = paper.TABLE2.get(key)
    claim_matching = reported.matching if reported is not None else paper.TABLE2[("cifar_resnet_20", "standard")].matching
    accuracy, inst = test_accuracy(ds), ds.instability.sel(split="test")
    full, full_std = full_accuracy(ds)
    parts, held = [], []
    imp_acc = float(accuracy.sel(subnetwork="imp").mean())
    imp_match = imp.matching(imp_acc, full, full_std)
    imp_stable = float(inst.sel(subnetwork="imp").mean()) < interpolate.STABLE_BELOW
    parts.append(f"IMP {results.mean_std(accuracy.sel(subnetwork='imp'), unit='copy')}% against the full network's "
                 f"{results.mean_std(accuracy.sel(subnetwork='dense'), unit='copy')}% "
                 f"({'matching' if imp_match else 'not matching'}), test instability "
                 f"{results.mean_std(inst.sel(subnetwork='imp'))} pp ({'stable' if imp_stable else 'unstable'})")
    held += [imp_match == claim_matching, imp_stable == claim_matching]
    for name in ("random_prune", "random_prune_global", "random_reinit"):
        if name in ds.subnetwork.values:
            acc = accuracy.sel(subnetwork=name)
            match = imp.matching(float(acc.mean()), full, full_std)
            parts.append(f"{name.replace('_', ' ')} {results.mean_std(acc, unit='copy')}% "
                         f"({'matching' if match else 'not matching'})")
            held.append(not match)
    pairs = int(inst.sel(subnetwork="imp").size)
    word = "supported" if all(held) else "contradicted" if not any(held[:2]) else "partly supported"
    spread = "" if pairs > 1 else " (one pair: no spread of the instability)"
    return f"{word}: " + "; ".join(parts) + spread


def endpoint_error(ds: xr.Dataset) -> xr.DataArray:
    """Error (%) of the trained copies themselves (α = 0 and α = 1), stacked along ``copy``."""
    return xr.concat([ds.error.isel(alpha=0), ds.error.isel(alpha=-1)], dim="copy")


def instability_table(ds: xr.Dataset):
    """Our instability (mean ± std over pairs, per split) beside the paper's reported bound."""
    config = results.config_of(ds)
    setting = paper.setting(config["model"], config["variant"])
    rows = []
    for split in ds.split.values:
        values = ds.instability.sel(split=split).values.ravel()
        rows.append({
            "network": setting.network, "split": str(split),
            "rewind step k": config["rewind_step"], "pairs": values.size,
            "instability mean (pp)": float(values.mean()),
            "instability std (pp)": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
            "stable (< 2 pp)": bool(values.mean() < interpolate.STABLE_BELOW),
            "accuracy of the copies (%)": results.mean_std(100 - endpoint_error(ds).sel(split=split)),
            "paper accuracy (%)": paper.accuracy_text(setting) if split == "test" else "",
            "paper instability (pp)": (f"< {setting.instability_at_init:g}"
                           if setting.instability_at_init is not None and train.parse_step(
                               config["rewind_step"]) == (0, 0) else "not reported"),
        })
    return pd.DataFrame(rows)


def instability_summary(ds: xr.Dataset) -> dict[str, str]:
    """Numbers a chapter's prose quotes, as text: instability per split, pairs, paper bound."""
    config = results.config_of(ds)
    setting = paper.setting(config["model"], config["variant"])
    test = ds.instability.sel(split="test")
    bound = setting.instability_at_init
    return {
        "network": setting.network,
        "n_pairs": str(test.size),
        "schedule": paper.schedule_note(config),
        "test_accuracy": results.mean_std(100 - endpoint_error(ds).sel(split="test"), unit="copies"),
        "paper_accuracy": paper.accuracy_text(setting),
        "test_instability": results.mean_std(test),
        "train_instability": results.mean_std(ds.instability.sel(split="train")),
        "paper_bound": f"{bound:g}" if bound is not None else "not reported",
        "verdict": ("not comparable" if bound is None
                    else "within" if float(test.mean()) < bound else "outside"),
    }


def instability_curve(config: InstabilityConfig, rewind_steps, device: str = "auto",
                      progress: bool = True, **speed) -> xr.Dataset:
    """Instability analysis at every rewind step k in ``rewind_steps`` (Figure 3, Appendix F).

    Returns the Datasets of ``instability_analysis`` stacked along ``rewind_step``
    (in iterations; the step strings are the ``rewind_label`` coordinate). Trunks are
    shared: one run per initialization serves every k. ``speed``: ``populate`` and
    ``accel`` of ``instability_analysis``.
    """
    configs, iterations = _rewind_configs(config, rewind_steps)
    parts = [instability_analysis(c, device, progress, **speed) for c in configs]
    ds = _stacked(parts, "rewind_step", {"rewind_step": iterations,
                                          "rewind_label": ("rewind_step", [str(k) for k in rewind_steps])},
                  "instability_curve", {"rewind_steps": [str(k) for k in rewind_steps]})
    return ds.sortby("rewind_step")


def stable_from(ds: xr.Dataset, split: str = "test", threshold: float = interpolate.STABLE_BELOW):
    """The first rewind step from which mean instability stays below ``threshold`` (None if never)."""
    return first_step(ds.instability.sel(split=split).mean(("init_seed", "pair")) < threshold)


def curve_path(results_dir, preset: str, chapter: str, config: InstabilityConfig):
    """Where a chapter stores one network's curve: ``<results>/<preset>/<chapter>/<model>_<variant>.nc``."""
    return Path(results_dir) / preset / chapter / f"{config.model}_{config.variant}.nc"


def cli_command(config: InstabilityConfig, rewind_steps) -> str:
    """The ``lmc run instability`` command that computes the same result as a chapter."""
    command = (f"lmc run instability --model {config.model} --variant {config.variant} "
               f"--preset {config.preset} --rewind {' '.join(str(k) for k in rewind_steps)}")
    return command + (" --reset-schedule" if config.reset_schedule else "")


def stability_table(curves: dict):
    """Per network: the first k from which test instability stays below 2%, ours and the paper's."""
    rows = []
    for (model, variant), ds in curves.items():
        setting = paper.setting(model, variant)
        ours = stable_from(ds)
        k0 = ds.instability.sel(split="test", rewind_step=ds.rewind_step.min())
        rows.append({
            "model": model,
            "network": setting.network,
            "k grid": ", ".join(str(k) for k in ds.rewind_step.values.tolist()),
            "test instability at k=0 (pp)": results.mean_std(k0),
            "stable from k (ours)": "never in grid" if ours is None else str(ours),
            "stable from k (paper)": setting.stable_from or "not in paper",
            "T (iterations)": results.config_of(ds)["training_iterations"],
        })
    return pd.DataFrame(rows)


def rewind_iterations(setting: paper.Setting, step: str) -> int:
    """A step string of a setting in iterations (epochs use that data set's full training set)."""
    return train.to_steps(step, setting.hparams, train.train_size(setting.hparams))


SCHEDULES = {False: "T − k steps", True: "T steps, schedule reset"}


def schedule_comparison(config: InstabilityConfig, rewind_steps, device: str = "auto",
                        progress: bool = True, **speed) -> xr.Dataset:
    """Figure 4: the instability curve with copies trained T − k steps and T steps (schedule reset).

    The two curves are stacked along ``schedule``.
    """
    curves = [instability_curve(dataclasses.replace(config, reset_schedule=reset), rewind_steps,
                                device, progress, **speed) for reset in (False, True)]
    ds = xr.concat([c.drop_attrs() for c in curves], dim="schedule")
    ds = ds.assign_coords(schedule=[SCHEDULES[False], SCHEDULES[True]])
    attrs = results.config_of(curves[0])
    attrs.update(experiment="schedule_comparison")
    ds.attrs.update(results.provenance(attrs, curves[0].attrs["device"]))
    return ds


def schedule_table(comparisons: dict):
    """Per network and k: mean test instability with and without the schedule reset."""
    rows = []
    for (model, variant), ds in comparisons.items():
        mean = ds.instability.sel(split="test").mean(("init_seed", "pair"))
        spread = ds.instability.sel(split="test").std(("init_seed", "pair"))
        for k in ds.rewind_step.values:
            a, b = (float(mean.sel(rewind_step=k, schedule=SCHEDULES[r])) for r in (False, True))
            rows.append({"network": paper.setting(model, variant).network, "k": int(k),
                         SCHEDULES[False] + " (pp)": a, SCHEDULES[True] + " (pp)": b,
                         "largest |difference| (pp)": abs(a - b),
                         "std over pairs (pp)": float(spread.sel(rewind_step=k).max())})
    return pd.DataFrame(rows)


def curve_configs(preset: str, model: str | None = None, variant: str = "standard",
                  rewind_steps=None, init_seeds=None, pairs: int | None = None,
                  n_alpha: int | None = None) -> dict[str, tuple[InstabilityConfig, list]]:
    """For chapters 02-03: each network's validated config and k grid; None takes the preset's."""
    size = presets.get(preset)
    networks = [model] if model else list(size.models)
    out = {}
    for m in networks:
        defaults = size.curve(m)
        config = instability_config(
            model=m, variant=variant, preset=preset, pairs=pairs,
            init_seeds=defaults["init_seeds"] if init_seeds is None else init_seeds,
            n_alpha=defaults["n_alpha"] if n_alpha is None else n_alpha)
        out[m] = (config, list(defaults["rewind_steps"] if rewind_steps is None else rewind_steps))
    return out


def computed_or_archived(compute, path, config: InstabilityConfig, rewind_steps, command: str | None = None):
    """(result, note): ``compute()``, saved at ``path``; if the data set is not on this machine,
    the result archived at ``path`` (note says so), or None with ``command`` (default: the
    ``lmc run instability`` one) that computes it."""
    try:
        ds = compute()
    except DataError as error:
        command = command or cli_command(config, rewind_steps)
        if Path(path).exists():
            ds = results.load(path)
            return ds, (f"{config.model}: rendered from the archived {path} (computed on "
                        f"{ds.attrs.get('device_name', '?')}, {ds.attrs.get('created', '?')})")
        return None, f"not computed yet: {config.model}: {error} — then run: {command}"
    results.save(ds, path)
    return ds, ""


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
        setting = paper.setting(m, variant)
        rounds = imp.levels_for(setting.pruning_density / 100 if density is None else density)
        sizes = size.sparse(m, rounds)
        grid = list(sizes["rewind_steps"] if rewind_steps is None else rewind_steps)
        config = instability_config(model=m, variant=variant, rewind_step=grid[0] if grid else 0, preset=preset,
                                    pairs=pairs, init_seeds=sizes["init_seeds"] if init_seeds is None else init_seeds,
                                    n_alpha=sizes["n_alpha"] if n_alpha is None else n_alpha)
        out[m] = {"config": config, "levels": rounds, "rewind_steps": grid,
                  "grid_levels": list(sizes["grid_levels"] if levels is None else levels)}
    return out


def sparse_command(config: InstabilityConfig, rewind_steps, levels) -> str:
    """The ``lmc run sparse`` command that computes a chapter 05-06 result."""
    levels = " ".join(str(n) for n in (levels if isinstance(levels, (list, tuple)) else [levels]))
    return (f"lmc run sparse --model {config.model} --variant {config.variant} --preset {config.preset} "
            f"--levels {levels} --rewind {' '.join(str(k) for k in rewind_steps)}")


def rewind_table(ds: xr.Dataset) -> pd.DataFrame:
    """Figures 6-7 as numbers: per rewind step and subnetwork, test instability and accuracy
    (mean ± std), whether stable (< 2 pp) and matching (1-std rule against the full network)."""
    full_mean, full_std = full_accuracy(ds)  # per rewind step
    accuracy = test_accuracy(ds)
    instability = ds.instability.sel(split="test")
    rows = []
    for k in ds.rewind_step.values:
        mean_k, std_k = float(full_mean.sel(rewind_step=k)), float(full_std.sel(rewind_step=k))
        for name in ds.subnetwork.values:
            acc, inst = accuracy.sel(rewind_step=k, subnetwork=name), instability.sel(rewind_step=k, subnetwork=name)
            rows.append({"k": int(k), "subnetwork": str(name), "test instability (pp)": results.mean_std(inst),
                         "stable": bool(float(inst.mean()) < interpolate.STABLE_BELOW),
                         "test accuracy (%)": results.mean_std(acc),
                         "matching": imp.matching(float(acc.mean()), mean_k, std_k)})
    return pd.DataFrame(rows)
