"""Instability analysis (Algorithm 1 of the paper), as functions from a configuration to an
xarray result.

Chapters and the CLI call these; they ask ``lmc.core.train`` for runs (cached and shared
through ``lmc.core.store``) and ``lmc.core.interpolate`` for the paths between them.

Instability analysis at step k: train one network (the *trunk*) from initialization to
step k; make two copies of its full training state; train each copy to T with its own
data order; interpolate between the two trained copies. k = 0 is instability at
initialization. ``instability_curve`` repeats it at every k of a grid (Figure 3),
``schedule_comparison`` with and without the schedule reset (Figure 4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..core import data, hparams, identity, interpolate, loop, models, paths, results, store, train
from ..core.errors import ConfigError, choose
from ..core.identity import always
from ..paper import presets, reported


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
    # the copies' optimizer state at k (hparams.OPTIMIZER_AT_K); always in the identity: results
    # computed before it existed inherited the trunk's state in their dense copies
    optimizer_at_k: str = always("fresh")

    def as_dict(self) -> dict:
        """The configuration's identity, as results record it (``identity.as_dict``)."""
        return identity.as_dict(self)

    @property
    def rewind_iterations(self) -> int:
        """k in iterations (step strings count epochs of the recipe's training set, not of an
        evaluation subset)."""
        return hparams.iterations(self.hparams, self.rewind_step)

    @property
    def training_iterations(self) -> int:
        """T in iterations: the recipe's training length."""
        return hparams.total_steps(self.hparams)

    @property
    def hparams(self) -> hparams.Hparams:
        """Table 1's recipe for this setting, resized by the preset."""
        return presets.get(self.preset).recipe(reported.setting(self.model, self.variant).hparams)


def instability_config(model: str = "lenet_300_100", variant: str = "standard",
                       rewind_step: str | int = 0, preset: str = presets.DEFAULT,
                       init_seeds=None, pairs: int | None = None,
                       n_alpha: int | None = None, reset_schedule: bool = False,
                       optimizer_at_k: str = "fresh") -> InstabilityConfig:
    """A validated InstabilityConfig; None values take the preset's size. ``optimizer_at_k``: every
    copy made at k starts with a new optimizer state ("fresh", open_lth's rule) or continues the
    trunk's ("inherit"); the same rule for dense and sparse copies."""
    p = presets.get(preset)
    reported.setting(model, variant)
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
    hparams.parse_step(rewind_step)
    if not isinstance(reset_schedule, bool):
        raise ConfigError(f"reset_schedule must be True or False, got {reset_schedule!r}")
    choose("optimizer_at_k", optimizer_at_k, hparams.OPTIMIZER_AT_K)
    config = InstabilityConfig(model, variant, str(rewind_step), preset, seeds, pairs, int(n_alpha),
                               reset_schedule, optimizer_at_k)
    hp, k, total = config.hparams, config.rewind_iterations, config.training_iterations
    if k >= total:
        raise ConfigError(f"rewind step k={rewind_step} ({k} iterations) must be before the end "
                          f"of training T={hp.training_steps} ({total} iterations); choose a "
                          f"smaller k or a preset that trains longer")
    return config


def resolve_speed(device: str, populate: bool | None, accel: dict | None):
    """(device, speed-ups, populate, precision) resolved for a device."""
    device = resolve_device(device)
    speed = loop.accel_for(device, **(accel or {}))
    populate = train.population_default(device) if populate is None else bool(populate)
    return device, speed, populate, speed.precision


def evaluation_data(hp: hparams.Hparams, preset: presets.Preset, device: str):
    """The data the paths are evaluated on (loaded, and so verified, before any run is created:
    missing data must leave the cache untouched)."""
    return data.load(hp.dataset, device, preset.eval_train_subset(hp.model), preset.test_subset,
                     hparams.image_size(hp))


def pair_paths(hp: hparams.Hparams, pairs: dict, total: int, preset: presets.Preset, n_alpha: int, device: str,
               progress: bool, populate: bool, speed: loop.Accel) -> tuple[dict, dict]:
    """Train every copy of ``pairs`` (key → two runs) to ``total`` and interpolate each pair.

    Returns ({key: {"error", "loss"}}, what the provenance records about the evaluation).
    Each path is cached under the two runs' identities and the evaluation sizes.
    """
    train_eval = preset.eval_train_subset(hp.model)
    evaluation = evaluation_data(hp, preset, device)
    model = models.build(hp.model).to(device)
    batched = interpolate.batch_alphas(model, device)
    train.train_runs([c for copies in pairs.values() for c in copies], total, device, progress, populate,
                     accel=speed)
    found = {}
    for key, copies in tqdm(pairs.items(), desc="pairs", disable=not progress):

        def path_between(copies=copies) -> dict:
            a, b = (train.state_at(c, total, device, progress, accel=speed)["model"] for c in copies)
            ds = interpolate.error_along_path(model, a, b, evaluation, n_alpha, batched=batched)
            return {"error": ds.error.values.tolist(), "loss": ds.loss.values.tolist()}

        found[key] = store.cached(interpolate.path_key([c.hash for c in copies], total, n_alpha, train_eval,
                                                       preset.test_subset, batched), path_between)
    return found, {"evaluation": "all α batched" if batched else "loop over α", "population": populate,
                   "accel": speed.as_dict()}


def path_dataset(paths: list[dict], shape: tuple, dims: tuple, coords: dict, n_alpha: int) -> xr.Dataset:
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
                hp: hparams.Hparams | None = None) -> tuple[dict, dict]:
    """The runs of instability analysis at ``config``'s rewind step, untrained: ({init_seed: trunk},
    {(init_seed, pair): [copy 0, copy 1]}), each copy starting from the trunk's state at k
    on its own data order, with the optimizer rule ``config.optimizer_at_k``. ``hp`` replaces the recipe (the same runs for the same recipe)."""
    hp = hp or config.hparams
    k = hparams.iterations(hp, config.rewind_step)
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
    ``accel`` switches speed-ups on or off (``{"bf16": True}``; ``loop.accel_for``).
    Returns a Dataset with ``error`` and ``loss`` over (``init_seed``, ``pair``,
    ``split``, ``alpha``) and ``instability`` over (``init_seed``, ``pair``, ``split``).
    """
    config = config or instability_config(**params)
    device, speed, populate, precision = resolve_speed(device, populate, accel)
    hp, k, total = config.hparams, config.rewind_iterations, config.training_iterations
    evaluation_data(hp, presets.get(config.preset), device)
    jobs = [(i, j) for i in config.init_seeds for j in range(config.pairs)]
    trunks, pairs = dense_pairs(config, precision)
    # the trunks to k, then every copy to T: each group trains as populations where that pays
    train.train_runs(list(trunks.values()), k, device, progress, populate, accel=speed)
    found, how = pair_paths(hp, pairs, total, presets.get(config.preset), config.n_alpha, device, progress,
                            populate, speed)
    ds = path_dataset([found[j] for j in jobs], (len(config.init_seeds), config.pairs), ("init_seed", "pair"),
                      {"init_seed": list(config.init_seeds), "pair": list(range(config.pairs))}, config.n_alpha)
    ds.attrs.update(results.provenance({"experiment": "instability", **config.as_dict(),
                                        "hparams": hp.as_dict(), "rewind_iterations": k,
                                        "training_iterations": total, **how}, device))
    return ds


def trunk_runs(config: InstabilityConfig, precision: str, hp: hparams.Hparams | None = None) -> dict:
    """Each initialization's trunk: the run trained from init seed i on its data order."""
    hp = hp or config.hparams
    return {i: store.open_run(train.run_config(hp, data_seed(i), init_seed=i, precision=precision))
            for i in config.init_seeds}


def stacked(parts: list[xr.Dataset], dim: str, coords: dict, experiment: str, extra: dict) -> xr.Dataset:
    """``parts`` concatenated along ``dim`` with the first part's provenance, renamed ``experiment``."""
    ds = xr.concat([p.drop_attrs() for p in parts], dim=dim).assign_coords(coords)
    first = results.config_of(parts[0])
    for key in ("rewind_step", "rewind_iterations", "levels"):
        first.pop(key, None)
    first.update(experiment=experiment, **extra)
    ds.attrs.update(results.provenance(first, parts[0].attrs["device"]))
    return ds


def rewind_configs(config: InstabilityConfig, rewind_steps) -> tuple[list[InstabilityConfig], list[int]]:
    """One validated config per rewind step, and the steps in iterations (each named once)."""
    if isinstance(rewind_steps, (str, int)) or not len(rewind_steps):
        raise ConfigError(f"rewind_steps must be a non-empty list of steps, got {rewind_steps!r}")
    configs = [dataclasses.replace(config, rewind_step=str(k)) for k in rewind_steps]
    for c in configs:  # validates each k
        instability_config(c.model, c.variant, c.rewind_step, c.preset, c.init_seeds, c.pairs, c.n_alpha,
                           c.reset_schedule, c.optimizer_at_k)
    iterations = [c.rewind_iterations for c in configs]
    if len(set(iterations)) != len(iterations):
        raise ConfigError(f"rewind_steps {list(rewind_steps)} name the same step twice; give each rewind step once")
    return configs, iterations


def instability_curve(config: InstabilityConfig, rewind_steps, device: str = "auto",
                      progress: bool = True, **speed) -> xr.Dataset:
    """Instability analysis at every rewind step k in ``rewind_steps`` (Figure 3, Appendix F).

    Returns the Datasets of ``instability_analysis`` stacked along ``rewind_step``
    (in iterations; the step strings are the ``rewind_label`` coordinate). Trunks are
    shared: one run per initialization serves every k. ``speed``: ``populate`` and
    ``accel`` of ``instability_analysis``.
    """
    configs, iterations = rewind_configs(config, rewind_steps)
    parts = [instability_analysis(c, device, progress, **speed) for c in configs]
    ds = stacked(parts, "rewind_step", {"rewind_step": iterations,
                                        "rewind_label": ("rewind_step", [str(k) for k in rewind_steps])},
                 "instability_curve", {"rewind_steps": [str(k) for k in rewind_steps]})
    return ds.sortby("rewind_step")


def curve_path(results_dir, preset: str, chapter: str, config: InstabilityConfig):
    """Where a chapter stores one network's curve: ``<results>/<preset>/<chapter>/<model>_<variant>.nc``."""
    return paths.network_file(results_dir, preset, chapter, config.model, config.variant)


def cli_command(config: InstabilityConfig, rewind_steps) -> str:
    """The ``lmc run instability`` command that computes the same result as a chapter."""
    command = (f"lmc run instability --model {config.model} --variant {config.variant} "
               f"--preset {config.preset} --rewind {' '.join(str(k) for k in rewind_steps)}")
    return command + (" --reset-schedule" if config.reset_schedule else "")


def rewind_iterations(setting: reported.Setting, step: str) -> int:
    """A step string of a setting in iterations (epochs use that data set's full training set)."""
    return hparams.iterations(setting.hparams, step)


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
    """``results.computed_or_archived`` for a chapter's network: the notes name ``config``'s model, and
    what computes a missing result is ``command`` (default: the ``lmc run instability`` one)."""
    return results.computed_or_archived(compute, path, config.model, command or cli_command(config, rewind_steps))
