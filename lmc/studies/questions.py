"""Questions of our own, on the engine of the paper's experiments.

Batch norm along the path: the paper says nothing about batch-norm statistics along the
path; ``lmc`` interpolates every entry of the state, running statistics included (our
choice, the plain reading of W(α) = (1 − α)·W1 + α·W2). The statistics of W(α) need not be
the interpolated statistics: the activations of an interpolated network have their own
mean and variance. ``bn_instability`` measures instability both ways for the same trained
pairs (the runs of chapters 01-02): interpolated (our default, the cached paths of
``instability.instability_analysis``) and recomputed at each α
(``interpolate.BatchNormRecompute``).

The optimizer state at k: every copy made at k starts with a new optimizer state (open_lth's
rule, ``hparams.OPTIMIZER_AT_K``). ``optimizer_instability`` measures the other choice, copies
that continue the trunk's Adam moments or momentum, beside it for the same trunk.

Does the stability step move with the learning rate and the batch size? The paper
ties instability to SGD noise; ``stability_sweep`` repeats instability analysis over a
grid of k for recipes that differ from Table 1's in one hyperparameter.

Augmentation noise or data order? A copy's SGD noise has two seeded sources, the order
of the examples (``data_seed``) and, for data sets that augment, the random crops and
flips (``augment_seed``). ``noise_pairs`` makes pairs that differ in one source only.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..core import data, hparams, interpolate, loop, models, results, store, train
from ..core.errors import ConfigError
from ..experiments import instability, tables
from ..paper import presets, reported

BATCH_NORM = ("interpolated", "recomputed")  # coordinate values of the batch_norm dimension


def dense_pairs(config: instability.InstabilityConfig, device: str = "cpu", hp: hparams.Hparams | None = None) -> dict:
    """{(init_seed, pair): [copy 0, copy 1]}: the runs of ``instability.instability_analysis``
    (the same identities, so cached runs are reused); ``hp`` replaces the recipe."""
    precision = loop.accel_for(device).precision
    return instability.dense_pairs(config, precision, hp)[1]


def path(copies, config: instability.InstabilityConfig, device: str = "cpu", progress: bool = True,
         batch_norm: interpolate.BatchNormRecompute | None = None, hp: hparams.Hparams | None = None) -> dict:
    """{"error", "loss"} along the path between two trained copies, cached.

    Without ``batch_norm`` (or for a network without batch norm) the cache entry is the one
    ``experiments`` writes for the same pair; with it, the recompute settings enter the
    entry's identity (and only then). ``hp``: the copies' recipe (default ``config.hparams``).
    """
    hp, preset = hp or config.hparams, presets.get(config.preset)
    total = hparams.total_steps(hp)
    evaluation = instability.evaluation_data(hp, preset, device)
    model = models.build(hp.model).to(device)
    recompute = batch_norm is not None and interpolate.has_batch_norm(model)
    batched = False if recompute else interpolate.batch_alphas(model, device)

    def compute() -> dict:
        a, b = (train.state_at(c, total, device, progress)["model"] for c in copies)
        ds = interpolate.error_along_path(model, a, b, evaluation, config.n_alpha, batched=batched,
                                          batch_norm=batch_norm if recompute else None)
        return {"error": ds.error.values.tolist(), "loss": ds.loss.values.tolist()}

    return store.cached(interpolate.path_key([c.hash for c in copies], total, config.n_alpha,
                                             preset.eval_train_subset(hp.model), preset.test_subset, batched,
                                             batch_norm if recompute else None), compute)


def bn_instability(config: instability.InstabilityConfig, batch_norm: interpolate.BatchNormRecompute,
                   device: str = "auto", progress: bool = True) -> xr.Dataset:
    """Instability at step k with batch-norm statistics interpolated (the paper) and
    recomputed at each α, for the same trained pairs; over (``batch_norm``, ``init_seed``,
    ``pair``, ``split``[, ``alpha``])."""
    device = instability.resolve_device(device)
    pairs = dense_pairs(config, device)
    hp = config.hparams
    total = hparams.total_steps(hp)
    train.train_runs([c for copies in pairs.values() for c in copies], total, device, progress)
    paths = [path(copies, config, device, progress, spec)
             for spec in (None, batch_norm) for copies in tqdm(pairs.values(), disable=not progress)]
    ds = instability.path_dataset(paths, (2, len(config.init_seeds), config.pairs),
                                  ("batch_norm", "init_seed", "pair"),
                                  {"batch_norm": list(BATCH_NORM), "init_seed": list(config.init_seeds),
                                   "pair": list(range(config.pairs))}, config.n_alpha)
    model = models.build(hp.model)
    ds.attrs.update(results.provenance({
        "experiment": "bn_instability", **config.as_dict(), "hparams": hp.as_dict(),
        "training_iterations": total, "batch_norm_recompute": batch_norm.as_dict(),
        "has_batch_norm": interpolate.has_batch_norm(model)}, device))
    return ds


OPTIMIZER_RULES = hparams.OPTIMIZER_AT_K  # coordinate values of the optimizer_at_k dimension
# Question 4's default k per network: near each one's stability step under the preset (LeNet's
# chapter 02 grid point 500, the stand-in's 25; smoke: LeNet at 100).
OPTIMIZER_STEPS = {"smoke": {reported.ROLES["lenet"]: "100"},
                   None: {reported.ROLES["lenet"]: "500", reported.ROLES["standin"]: "25"}}


def optimizer_steps(preset: str) -> dict[str, str]:
    """Question 4's rewind step k per network under ``preset`` (a copy the caller may change)."""
    return dict(OPTIMIZER_STEPS.get(preset, OPTIMIZER_STEPS[None]))


def optimizer_instability(config: instability.InstabilityConfig, device: str = "auto",
                          progress: bool = True) -> xr.Dataset:
    """Instability at ``config``'s k > 0 with the copies' optimizer state new ("fresh", open_lth's
    rule and ours) and continued from the trunk ("inherit"), for the same trunk and data orders;
    over (``optimizer_at_k``, ``init_seed``, ``pair``, ``split``[, ``alpha``])."""
    if config.rewind_iterations == 0:
        raise ConfigError("at k = 0 the trunk has no optimizer state yet, so both rules are the same run; "
                          "choose a rewind step k > 0")
    parts = [instability.instability_analysis(dataclasses.replace(config, optimizer_at_k=rule), device, progress)
             for rule in OPTIMIZER_RULES]
    ds = xr.concat([p.drop_attrs() for p in parts], dim="optimizer_at_k").assign_coords(
        optimizer_at_k=list(OPTIMIZER_RULES))
    first = results.config_of(parts[0])
    first.update(experiment="optimizer_instability", optimizer_at_k=list(OPTIMIZER_RULES))
    ds.attrs.update(results.provenance(first, parts[0].attrs["device"]))
    return ds


def optimizer_table(ds: xr.Dataset):
    """Test and train instability (pp) and the copies' test accuracy under each optimizer rule."""
    import pandas as pd

    rows = []
    for rule in ds.optimizer_at_k.values:
        sel = ds.sel(optimizer_at_k=rule)
        rows.append({"optimizer state at k": str(rule),
                     **{f"{s} instability (pp)": results.mean_std(sel.instability.sel(split=s)) for s in ("test", "train")},
                     "test accuracy of the copies (%)": results.mean_std(
                         100 - tables.endpoint_error(sel).sel(split="test"), unit="copy")})
    return pd.DataFrame(rows)


def bn_table(ds: xr.Dataset):
    """Mean test and train instability (pp) and endpoint error with batch-norm statistics
    interpolated and recomputed."""
    import pandas as pd
    rows = []
    for how in ds.batch_norm.values:
        sel = ds.sel(batch_norm=how)
        ends = tables.endpoint_error(sel)
        rows.append({"batch norm along the path": str(how),
                     **{f"{s} instability (pp)": results.mean_std(sel.instability.sel(split=s)) for s in ("test", "train")},
                     "test error of the copies (%)": results.mean_std(ends.sel(split="test"), unit="copy"),
                     "max test error on the path (%)": float(np.mean(sel.error.sel(split="test").max("alpha")))})
    return pd.DataFrame(rows)


def _one_change(name: str, value) -> dict:
    if name not in ("lr", "batch_size"):
        raise ConfigError(f"stability_sweep varies 'lr' or 'batch_size', got {name!r}")
    return {name: float(value) if name == "lr" else int(value)}


def stability_sweep(config: instability.InstabilityConfig, rewind_steps, changes, device: str = "auto",
                    progress: bool = True) -> xr.Dataset:
    """Instability at every k of ``rewind_steps`` for Table 1's recipe and for each recipe of
    ``changes``, a list of (field, value) pairs with field ``lr`` or ``batch_size`` (one
    change each). Over (``recipe``, ``rewind_step``, ``init_seed``, ``pair``, ``split``[,
    ``alpha``]); the Table 1 recipe's runs are those of chapter 02."""
    device = instability.resolve_device(device)
    recipes = {"Table 1": config.hparams}
    for name, value in changes:
        change = _one_change(name, value)
        recipes[f"{name} = {value:g}"] = config.hparams.replace(**change)
    steps = [hparams.iterations(config.hparams, k) for k in rewind_steps]
    if len(set(steps)) != len(steps):
        raise ConfigError(f"rewind_steps {list(rewind_steps)} name a step twice; give each once")
    paths = []
    for hp in recipes.values():
        total = hparams.total_steps(hp)
        for k in rewind_steps:
            c = instability.instability_config(config.model, config.variant, k, config.preset, config.init_seeds,
                                               config.pairs, config.n_alpha)
            pairs = dense_pairs(c, device, hp)
            train.train_runs([x for copies in pairs.values() for x in copies], total, device, progress)
            paths += [path(copies, c, device, progress, hp=hp) for copies in pairs.values()]
    ds = instability.path_dataset(paths, (len(recipes), len(steps), len(config.init_seeds), config.pairs),
                                  ("recipe", "rewind_step", "init_seed", "pair"),
                                  {"recipe": list(recipes), "rewind_step": steps,
                                   "init_seed": list(config.init_seeds), "pair": list(range(config.pairs))},
                                  config.n_alpha)
    ds.attrs.update(results.provenance({
        "experiment": "stability_sweep", **config.as_dict(),
        "rewind_steps": [str(k) for k in rewind_steps], "changes": [list(c) for c in changes],
        "recipes": {name: hp.as_dict() for name, hp in recipes.items()}}, device))
    return ds


def stability_steps(ds: xr.Dataset):
    """Per recipe: test instability at each k and the first k from which it stays below 2%."""
    import pandas as pd
    rows = []
    for recipe in ds.recipe.values:
        sel = ds.sel(recipe=recipe)
        k = tables.stable_from(sel)
        mean = sel.instability.sel(split="test").mean(("init_seed", "pair"))
        rows.append({"recipe": str(recipe),
                     **{f"k = {int(s)} (pp)": float(mean.sel(rewind_step=s)) for s in ds.rewind_step.values},
                     "stable from k": "never in grid" if k is None else str(k),
                     "test error of the copies (%)": float(tables.endpoint_error(sel).sel(split="test").mean())})
    return pd.DataFrame(rows)


NOISE = ("data order", "augmentation", "both")  # which seeded source differs between the two copies

# A CIFAR-10 counterpart of the Fashion-MNIST stand-in's recipe (Fashion-MNIST does not augment):
# ResNet-20 of width 8, the stand-in's SGD schedule, random crops and flips from the augment stream.
# Width 8, not the stand-in's 4: on the CPU (torch 2.14.1) training cifar_resnet_20_4 on augmented
# batches, which the gather in data.augment leaves in channels-last strides, aborts with heap
# corruption in the backward pass of the first convolution (3 → 4 channels); width 8 trains.
# The stand-in's optimizer and lr schedule shape at its earlier length (1,200 iterations, drops at
# 51% and 76%), on CIFAR-10's own 32×32 images (not the stand-in's 14×14 pooling).
CIFAR_STAND_IN = reported.STAND_INS[(reported.STAND_IN, "standard")].hparams.replace(
    model="cifar_resnet_20_8", dataset="cifar10", image_size=None, training_steps="1200it",
    lr_drops=("610it", "915it"))


def noise_pairs(hp: hparams.Hparams, init_seed: int = 0, rewind_step: int = 0) -> dict:
    """{source: [copy 0, copy 1]}: copies of the trunk's state at ``rewind_step`` trained on
    the same data in a different order with the same augmentation ("data order"), in the
    same order with different augmentation ("augmentation"), or both (the paper's pairs).
    Copy 0 is the same run in all three."""
    if not data.entry(hp.dataset).get("augment"):
        raise ConfigError(f"data set {hp.dataset!r} has no augmentation, so augmentation noise cannot "
                          f"be separated from data order; use an augmenting data set such as cifar10")
    trunk = store.open_run(train.run_config(hp, instability.data_seed(init_seed), init_seed=init_seed))
    order = [instability.data_seed(init_seed, 0, c) for c in (0, 1)]

    def copy(data_seed: int, augment_seed: int) -> store.Run:
        return store.open_run(train.run_config(hp, data_seed, parent=trunk, parent_step=rewind_step,
                                               augment_seed=augment_seed))

    first = copy(order[0], order[0])
    return {"data order": [first, copy(order[1], order[0])],
            "augmentation": [first, copy(order[0], order[1])],
            "both": [first, copy(order[1], order[1])]}


def noise_instability(preset: str, hp: hparams.Hparams = CIFAR_STAND_IN, init_seed: int = 0, n_alpha: int | None = None,
                      device: str = "auto", progress: bool = True, training_steps: str | None = None) -> xr.Dataset:
    """Instability at k = 0 of pairs that differ in data order only, augmentation only, or
    both; over (``noise``, ``split``[, ``alpha``]). ``hp`` is resized by the preset (or
    trains ``training_steps``)."""
    device = instability.resolve_device(device)
    size = presets.get(preset)
    hp = size.recipe(hp)
    hp = hp.replace(training_steps=training_steps) if training_steps else hp
    n_alpha = n_alpha or size.curve("fmnist_resnet_20_4")["n_alpha"]
    config = instability.InstabilityConfig("fmnist_resnet_20_4", "standard", "0", preset, (init_seed,), 1, n_alpha)
    pairs = noise_pairs(hp, init_seed)
    total = hparams.total_steps(hp)
    train.train_runs([c for copies in pairs.values() for c in copies], total, device, progress)
    paths = [path(copies, config, device, progress, hp=hp) for copies in pairs.values()]
    ds = instability.path_dataset(paths, (len(NOISE),), ("noise",), {"noise": list(NOISE)}, n_alpha)
    ds.attrs.update(results.provenance({"experiment": "noise_instability", "preset": preset, "hparams": hp.as_dict(),
                                        "init_seed": init_seed, "n_alpha": n_alpha}, device))
    return ds


# --- chapter b4: its questions' settings and the values it quotes ------------------------------

SWEEP_STEPS = {"smoke": ["0", "100"], None: ["0", "500"]}  # question 2's default k grid


def sweep_steps(preset: str) -> list[str]:
    """Question 2's default k grid under ``preset``."""
    return list(SWEEP_STEPS.get(preset, SWEEP_STEPS[None]))


def recipe_changes(hp: hparams.Hparams, changes) -> list[tuple[str, float | int]]:
    """Question 2's recipe changes, each ``[field, multiple of the recipe's value]`` ("lr" or
    "batch_size"), as (field, new value): a learning rate to 6 significant digits, a batch size
    rounded and at least 1."""
    if not isinstance(changes, (list, tuple)) or any(
            not isinstance(c, (list, tuple)) or len(c) != 2 or c[0] not in ("lr", "batch_size")
            or isinstance(c[1], bool) or not isinstance(c[1], (int, float)) or c[1] <= 0 for c in changes):
        raise ConfigError(f"sweep_changes must be a list of [field, positive multiple] with field 'lr' or "
                          f"'batch_size', got {changes!r}")
    return [(f, float(f"{m * hp.lr:.6g}") if f == "lr" else max(1, round(m * hp.batch_size))) for f, m in changes]


def optimizer_configs(preset: str, steps: dict | None = None) -> dict[str, instability.InstabilityConfig]:
    """Question 4's configuration per network: ``steps`` maps a network to its k > 0 (None: the
    preset's, ``optimizer_steps``); one initialization, 2 pairs (smoke: 1), the preset's α."""
    steps = optimizer_steps(preset) if steps is None else steps
    if not isinstance(steps, dict) or not steps:
        raise ConfigError(f"opt_steps must map network names to a rewind step k > 0, got {steps!r}; "
                          f"e.g. {{'lenet_300_100': '500'}}")
    size = presets.get(preset)
    return {m: instability.instability_config(model=m, rewind_step=k, preset=preset, init_seeds=[0],
                                              pairs=1 if preset == "smoke" else 2, n_alpha=size.curve(m)["n_alpha"])
            for m, k in steps.items()}


def bn_summary(ds: xr.Dataset) -> dict[str, str]:
    """Question 1's quoted values: mean test instability (pp) with the running statistics
    interpolated and recomputed, and the share of it that recomputing removes (%)."""
    inst = ds.instability.sel(split="test").mean(("init_seed", "pair"))
    interpolated, recomputed = float(inst.sel(batch_norm="interpolated")), float(inst.sel(batch_norm="recomputed"))
    return {"bn_interp": f"{interpolated:.2f}", "bn_recomp": f"{recomputed:.2f}",
            "bn_share": f"{100 * (1 - recomputed / max(interpolated, 1e-9)):.0f}"}


def sweep_summary(ds: xr.Dataset) -> dict[str, str]:
    """Question 2's quoted value: each recipe's first stable rewind step."""
    steps = stability_steps(ds)
    return {"sweep_rows": "; ".join(f"{r['recipe']}: stable from k = {r['stable from k']}" for _, r in steps.iterrows())}


def noise_summary(ds: xr.Dataset) -> dict[str, str]:
    """Question 3's quoted value: test instability (pp) per source of noise."""
    return {"noise_text": "; ".join(f"{n}: {float(ds.instability.sel(noise=n, split='test')):.2f} pp"
                                    for n in ds.noise.values)}


def optimizer_summary(found: dict[str, xr.Dataset]) -> dict[str, str]:
    """Question 4's quoted value: per network, test instability (mean ± std over pairs) with a new
    optimizer at k and with the trunk's continued."""
    parts = []
    for ds in found.values():
        config = results.config_of(ds)
        inst = ds.instability.sel(split="test")
        parts.append(f"{reported.setting(config['model'], config['variant']).network} at k = {config['rewind_step']}: "
                     f"test instability {results.mean_std(inst.sel(optimizer_at_k='fresh'))} pp with a new optimizer, "
                     f"{results.mean_std(inst.sel(optimizer_at_k='inherit'))} pp continuing the trunk's")
    return {"opt_text": "; ".join(parts)}
