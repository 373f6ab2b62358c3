"""The paper's appendices B, C, D, G and H, as functions from a configuration to an xarray result.

They mostly *measure* the runs the main chapters train (the store shares them: the same
configuration is the same cached run), and add little training of their own:

- **B** (Figure 9, ``sparsity_accuracy``): test accuracy against density for IMP at the best
  rewind step, IMP at k = 0, random pruning and random reinitialization, beside the full
  network's; ``extreme_matching`` picks the most extreme matching density (Table 1's rule).
- **C** (Figures 10-12) and **H** (Figures 24-29), ``pair_distances``: for each pair of copies
  trained from step k, the error of the network at k, three L2 distances (initialization →
  W_k, W_k → one copy at T, copy ↔ copy at T; sparse networks after applying their mask) and
  the other comparisons of Appendix H (cosine similarity, examples classified differently,
  loss distance). Pure functions in ``lmc.core.metrics``; results cached per pair.
- **D** (Figure 13, ``instability_through_training``): instability between the two copies at
  regular steps of their training, not only at T. The copies' states at those steps are
  named checkpoints of the copies' own runs, made by asking ``train.state_at`` for each step
  in increasing order: each step trains on from the one before, so a copy already trained
  to T is retrained once from k, and the trajectory (hence every run's identity and its
  state at T) is unchanged.
- **G** (Figures 22-23, ``train_instability``): the train-set view of chapter 05's
  ``sparse.sparse_curve``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ..core import data, hparams, interpolate, loop, metrics, models, results, store, train
from ..core.errors import ConfigError
from ..paper import presets, reported
from . import imp, instability, sparse, tables

# Sizes of the appendices per preset and network, chosen so that ``quick`` measures exactly the
# runs chapters 02 and 04-06 train (their rewind grids, IMP levels and seeds): sparse_steps is
# chapter 05's k grid, grid_levels chapter 06's IMP levels (main's ``Preset.sparse``, which these
# entries repeat and, where it exists, override; smoke keeps IMP short), reinit_levels the levels
# at which Appendix B trains random reinitializations (default: every grid level).
SPARSE_SIZES = {
    "smoke": {"lenet_300_100": {"sparse_steps": ("0", "100"), "grid_levels": (1, 2), "level": 2}},
    "quick": {"lenet_300_100": {"sparse_steps": ("0", "500"), "grid_levels": (3, 7, 15)},
              # random reinit only at chapters 04-05's level 4 (2 trainings a level)
              "fmnist_resnet_20_4": {"sparse_steps": ("0", "50"), "grid_levels": (2, 4), "reinit_levels": (4,)}},
}
# Appendix D: which k to follow through training, how often to interpolate, and on how many
# training examples train error is measured (None: the preset's); an entry named after a network
# replaces these for it. Quick: LeNet every 500 of its 3,000 iterations, the stand-in every 200
# of its 600 (the full network at k = 0, unstable, and 50, stable; its IMP subnetwork at k = 0).
THROUGH = {
    "smoke": {"models": ("lenet_300_100",), "dense": ("0", "100"), "imp": ("0",), "every": "100it",
              "train_subset": None},
    "quick": {"models": None, "dense": ("0", "500"), "imp": ("0",), "every": "500it", "train_subset": 10_000,
              "fmnist_resnet_20_4": {"dense": ("0", "50"), "every": "200it"}},
    "paper": {"models": None, "dense": None, "imp": None, "every": "1ep", "train_subset": None},
}


def through_sizes(preset: str, model: str, variant: str = "standard") -> dict:
    """Appendix D's defaults for ``model``: the k of the full network (``dense_steps``) and of the
    IMP subnetwork (``imp_steps``) to follow, the snapshot cadence ``every``, the IMP ``level`` and
    the number of training examples train error is measured on (``train_subset``; "preset": the
    preset's). None in ``THROUGH`` takes chapter 02's and 05's grids."""
    base = sizes(preset, model, variant)
    own = THROUGH.get(preset, THROUGH["paper"])
    own = {**own, **own.get(model, {})}
    return {**base, "dense_steps": list(own["dense"] or base["dense_steps"]),
            "imp_steps": list(own["imp"] or base["sparse_steps"]), "every": own["every"],
            "train_subset": "preset" if own["train_subset"] is None else own["train_subset"]}


def through_models(preset: str) -> list[str]:
    """The networks Appendix D follows by default (None in ``THROUGH``: the preset's)."""
    chosen = THROUGH.get(preset, THROUGH["paper"])["models"]
    return list(chosen or presets.get(preset).models)


def sizes(preset: str, model: str, variant: str = "standard") -> dict:
    """The appendices' default sizes for ``model`` under ``preset``: the dense k grid and seeds of
    chapter 02 (``dense_steps``, ``init_seeds``, ``n_alpha``), the sparse k grid of chapter 05
    (``sparse_steps``), the IMP ``level`` at Table 1's density (None when the setting has none),
    chapter 06's ``grid_levels`` and the levels Appendix B randomly reinitializes (``reinit_levels``)."""
    size = presets.get(preset)
    curve = size.curve(model)
    setting = reported.setting(model, variant)
    own = SPARSE_SIZES.get(preset, {}).get(model, {})
    density = setting.pruning_density
    level = own.get("level", None if math.isnan(density) else imp.levels_for(density / 100))
    chapters = {"rewind_steps": curve["rewind_steps"], "grid_levels": range(1, (level or 0) + 5)}
    if hasattr(size, "sparse") and level is not None:  # chapters 05-06's own sizes, where lmc has them
        chapters.update(size.sparse(model, level))
    grid = list(own.get("grid_levels", chapters["grid_levels"]))
    return {"dense_steps": curve["rewind_steps"], "init_seeds": curve["init_seeds"], "n_alpha": curve["n_alpha"],
            "sparse_steps": list(own.get("sparse_steps", chapters["rewind_steps"])), "level": level,
            "grid_levels": grid, "reinit_levels": list(own.get("reinit_levels", grid))}


def _device(device: str):
    device = instability.resolve_device(device)
    speed = loop.accel_for(device)
    return device, speed, speed.precision


def _iterations(config: instability.InstabilityConfig, step) -> int:
    hp = config.hparams
    return hparams.iterations(hp, step)


def copies(config: instability.InstabilityConfig, subnetworks=("dense",), level: int | None = None,
           device: str = "auto", progress: bool = True) -> dict:
    """The pairs of trained copies at ``config``'s rewind step: {(subnetwork, init_seed, pair): [copy 0,
    copy 1]}, each trained to T (found in the cache when a chapter trained it).

    Dense copies are instability analysis's (chapters 01-02), built without running IMP; sparse
    ones are ``sparse.sparse_pairs``'s at IMP ``level`` (chapters 04-06).
    """
    device, speed, precision = _device(device)
    hp = config.hparams
    k, total = _iterations(config, config.rewind_step), _iterations(config, hp.training_steps)
    pruned = [s for s in subnetworks if s != "dense"]
    if pruned and level is None:
        raise ConfigError(f"the subnetworks {pruned} need an IMP level; pass level (Table 1's density is "
                          f"imp.levels_for(density) rounds) or measure only 'dense'")
    pairs = {}
    if "dense" in subnetworks:
        trunks, dense = instability.dense_pairs(config, precision)
        train.train_runs(list(trunks.values()), k, device, progress, False, accel=speed)
        pairs.update({("dense", i, j): copies for (i, j), copies in dense.items()})
    if pruned:
        found, _ = sparse.sparse_pairs(config, level, pruned, device, progress, False, speed)
        pairs.update(found)
    train.train_runs([c for pair in pairs.values() for c in pair], total, device, progress, False, accel=speed)
    order = [(s, i, j) for s in subnetworks for i in config.init_seeds for j in range(config.pairs)]
    return {key: pairs[key] for key in order}


def _evaluation(hp: hparams.Hparams, preset: presets.Preset, device: str, train_subset="preset"):
    subset = preset.eval_train_subset(hp.model) if train_subset == "preset" else train_subset
    return data.load(hp.dataset, device, subset, preset.test_subset, hparams.image_size(hp)), subset


SPLITS = ("train", "test")


def measure_pair(pair: list, weights: str = "all", evaluation=None, device="cpu",
                 trunk: store.Run | None = None) -> dict:
    """Appendices C and H for one pair of trained copies (JSON-able): the error of the unpruned
    network W_k at the rewind step (Figure 10, the trunk's: the same for every subnetwork at k)
    and of the copies' own starting network (m ⊙ W_k), L2 distances initialization → W_k, W_k →
    each copy at T and copy ↔ copy, the cosine similarity of the copies, and per split the
    examples they classify differently, their loss distance and each copy's error. Pruned
    weights are left out of every weight comparison. ``trunk``: the run the copies branch from
    (default: their parent; a random reinitialization has none and needs it)."""
    hp = train.hparams_of(pair[0])
    total = hparams.total_steps(hp)
    model = models.build(hp.model).to(device)
    names = metrics.weight_names(model, weights)
    mask = train.mask_of(pair[0], device)
    start = pair[0].config["start"]
    if trunk is None:
        if "parent" not in start:
            raise ConfigError("a random reinitialization's pair has no parent run: pass its trunk")
        trunk = store.get(start["parent"])
    unpruned = train.state_at(trunk, start.get("step", 0), device, progress=False)["model"]
    # the copy's lineage at step 0 and where the copy starts at k: W_k, m ⊙ W_k or a new draw
    w0, wk = train.origin_state(pair[0], device), train.starting_state(pair[0], device)["model"]
    ends = [train.state_at(c, total, device, progress=False)["model"] for c in pair]
    out = {"init_to_rewind": metrics.l2_distance(w0, wk, names, mask),
           "rewind_to_end": [metrics.l2_distance(wk, e, names, mask) for e in ends],
           "between_copies": metrics.l2_distance(*ends, names, mask),
           "init_to_end": [metrics.l2_distance(w0, e, names, mask) for e in ends],
           "cosine": metrics.cosine_similarity(*ends, names, mask),
           "n_weights": int(metrics.weights(ends[0], names, mask).numel())}
    for split in SPLITS:
        labels = evaluation.split(split)[1].cpu()
        (pa, la), (pb, lb) = (metrics.predictions(model, e, evaluation.eval_batches(split)) for e in ends)
        pk, _ = metrics.predictions(model, unpruned, evaluation.eval_batches(split))
        ps, _ = metrics.predictions(model, wk, evaluation.eval_batches(split))
        out[split] = {"disagreements": metrics.disagreements(pa, pb), "loss_distance": metrics.loss_distance(la, lb),
                      "error": [metrics.error(pa, labels), metrics.error(pb, labels)],
                      "error_at_rewind": metrics.error(pk, labels), "error_at_start": metrics.error(ps, labels),
                      "examples": len(labels)}
    return out


def pair_distances(config: instability.InstabilityConfig, rewind_steps, subnetworks=("dense",),
                   level: int | None = None, weights: str = "all", device: str = "auto",
                   progress: bool = True) -> xr.Dataset:
    """Appendices C and H: ``measure_pair`` for every pair of copies at every k of ``rewind_steps``.

    Returns over (``subnetwork``, ``rewind_step`` in iterations, ``init_seed``, ``pair``):
    ``init_to_rewind``, ``between_copies``, ``cosine``; over ``copy`` too: ``rewind_to_end``,
    ``init_to_end``; over ``split`` too: ``disagreements``, ``loss_distance``, ``error_at_rewind``
    (the unpruned network W_k, Figure 10), ``error_at_start`` (m ⊙ W_k, where each copy starts),
    and ``error`` of each copy (``copy``, ``split``).
    """
    metrics.weight_names(models.build(config.hparams.model), weights)  # validates
    device = instability.resolve_device(device)
    configs, iterations = instability.rewind_configs(config, rewind_steps)
    preset = presets.get(config.preset)
    evaluation, subset = _evaluation(config.hparams, preset, device)
    measured = []
    trunks = instability.trunk_runs(config, _device(device)[2])
    for c in configs:
        pairs = copies(c, subnetworks, level, device, progress)
        for key, pair in tqdm(pairs.items(), desc=f"distances k={c.rewind_step}", disable=not progress):
            trunk = trunks[key[1]]
            # "unpruned": error_at_rewind is the unpruned W_k's (Figure 10), no longer m ⊙ W_k's
            measured.append(store.cached(
                {"kind": "pair_distances", "runs": [r.hash for r in pair], "trunk": trunk.hash, "weights": weights,
                 "train_subset": subset, "test_subset": preset.test_subset, "unpruned": True},
                lambda pair=pair, trunk=trunk: measure_pair(pair, weights, evaluation, device, trunk)))
    shape = (len(iterations), len(subnetworks), len(config.init_seeds), config.pairs)
    dims = ("rewind_step", "subnetwork", "init_seed", "pair")

    def field(get, extra=()):
        return np.array([get(m) for m in measured], dtype=float).reshape(shape + tuple(len(e) for _, e in extra))

    copy = [("copy", [0, 1])]
    split = [("split", list(SPLITS))]
    ds = xr.Dataset(coords={"rewind_step": iterations, "rewind_label": ("rewind_step", [str(k) for k in rewind_steps]),
                            "subnetwork": list(subnetworks), "init_seed": list(config.init_seeds),
                            "pair": list(range(config.pairs)), "copy": [0, 1], "split": list(SPLITS)})
    for name, long in (("init_to_rewind", "L2 distance from initialization to W_k"),
                       ("between_copies", "L2 distance between the two copies at T"),
                       ("cosine", "cosine similarity of the two copies at T"), ("n_weights", "weights compared")):
        ds[name] = (dims, field(lambda m, name=name: m[name]), {"long_name": long})
    for name, long in (("rewind_to_end", "L2 distance from W_k to the copy at T"),
                       ("init_to_end", "L2 distance from initialization to the copy at T")):
        ds[name] = (dims + ("copy",), field(lambda m, name=name: m[name], copy), {"long_name": long})
    for name, long, unit in (("disagreements", "examples the two copies classify differently", "examples"),
                             ("loss_distance", "RMS difference of the copies' per-example losses", "nats"),
                             ("error_at_rewind", "error of the unpruned network W_k at the rewind step k", "%"),
                             ("error_at_start", "error of the copies' starting network (m ⊙ W_k)", "%"),
                             ("examples", "examples evaluated", "examples")):
        ds[name] = (dims + ("split",), field(lambda m, name=name: [m[s][name] for s in SPLITS], split),
                    {"long_name": long, "units": unit})
    ds["error"] = (dims + ("copy", "split"), np.array([[[m[s]["error"][c] for s in SPLITS] for c in (0, 1)]
                                                     for m in measured]).reshape(shape + (2, 2)),
                   {"long_name": "error of each trained copy", "units": "%"})
    ds = ds.transpose("subnetwork", "rewind_step", ...)
    ds.attrs.update(results.provenance(
        {"experiment": "pair_distances", **config.as_dict(), "rewind_steps": [str(k) for k in rewind_steps],
         "subnetworks": list(subnetworks), "level": level, "weights": weights, "hparams": config.hparams.as_dict(),
         "eval_train_subset": subset}, device))
    return ds.sortby("rewind_step")


def distances(config: instability.InstabilityConfig, dense_steps, sparse_steps=(), level: int | None = None,
              subnetworks=sparse.SUBNETWORKS, weights: str = "all", device: str = "auto",
              progress: bool = True) -> xr.Dataset:
    """``pair_distances`` of the dense network over ``dense_steps`` (chapter 02's k grid) and of the
    sparse ``subnetworks`` at IMP ``level`` over ``sparse_steps`` (chapter 05's), combined; a
    (subnetwork, k) not measured is NaN."""
    parts = [pair_distances(config, dense_steps, ("dense",), None, weights, device, progress)]
    pruned = tuple(s for s in subnetworks if s != "dense")
    if pruned and level is not None and len(sparse_steps):
        parts.append(pair_distances(config, sparse_steps, pruned, level, weights, device, progress))
    attrs = parts[-1].attrs
    ds = xr.concat([p.drop_attrs().drop_vars("rewind_label") for p in parts], dim="subnetwork", join="outer")
    ds = ds.assign_coords(rewind_label=("rewind_step", [str(int(k)) for k in ds.rewind_step.values]))
    config_dict = results.config_of(parts[0])
    config_dict.update(experiment="distances", sparse_steps=[str(k) for k in sparse_steps], level=level,
                       subnetworks=["dense", *pruned])
    ds.attrs.update(results.provenance(config_dict, attrs["device"]))
    return ds


def _measured(ds: xr.Dataset):
    """(subnetwork, k, means over pairs) for every measured subnetwork and rewind step."""
    mean = ds.mean(("init_seed", "pair"))
    for name in ds.subnetwork.values:
        for k in ds.rewind_step.values:
            m = mean.sel(subnetwork=name, rewind_step=k)
            if not np.isnan(float(m.between_copies)):
                yield name, k, m


def distance_table(ds: xr.Dataset) -> pd.DataFrame:
    """Appendix C's three distances and the error at k per subnetwork and k (mean over pairs):
    the test error of the unpruned network W_k (Figure 10), and the copies' distance as a share
    of the paper's yardstick, "the distance that the networks travel between initialization and
    the final weights, which is captured by the orange × for rewinding iteration 0": the same
    subnetwork's W_0 → end at k = 0 (NaN where k = 0 was not measured for it)."""
    rows = []
    mean = ds.mean(("init_seed", "pair"))
    for name, k, m in _measured(ds):
        at_zero = mean.sel(subnetwork=name).rewind_to_end.mean("copy").sel(rewind_step=0) \
            if 0 in ds.rewind_step.values else xr.DataArray(math.nan)
        travelled = float(at_zero)
        rows.append({"subnetwork": str(name), "k": int(k),
                     "test error of W_k (%)": float(m.error_at_rewind.sel(split="test")),
                     "init → W_k": float(m.init_to_rewind), "W_k → end": float(m.rewind_to_end.mean("copy")),
                     "copy ↔ copy": float(m.between_copies), "init → end at k = 0": travelled,
                     "copy ↔ copy / init → end at k = 0 (%)": 100 * float(m.between_copies) / travelled})
    return pd.DataFrame(rows)


def other_distances_table(ds: xr.Dataset) -> pd.DataFrame:
    """Appendix H per subnetwork and k (mean over pairs): L2 distance, cosine similarity, test and
    train examples classified differently (also as % of the most the copies' errors allow) and
    the test loss distance."""
    rows = []
    for name, k, m in _measured(ds):
        test = m.sel(split="test")
        bound = float(test.error.sum("copy")) / 100 * float(test.examples)
        rows.append({"subnetwork": str(name), "k": int(k), "L2": float(m.between_copies),
                     "cosine": float(m.cosine), "test disagreements": float(test.disagreements),
                     "% of the most possible": 100 * float(test.disagreements) / bound if bound else math.nan,
                     "train disagreements": float(m.disagreements.sel(split="train")),
                     "test loss distance": float(test.loss_distance)})
    return pd.DataFrame(rows)


# --- Appendix B ------------------------------------------------------------------------------

def sparsity_accuracy(config: instability.InstabilityConfig, levels, rewind_steps, reinit_levels=None,
                      device: str = "auto", progress: bool = True) -> xr.Dataset:
    """Figure 9: test accuracy of every trained copy against density.

    IMP and random pruning over ``levels`` × ``rewind_steps`` are chapter 06's
    ``sparse.sparsity_grid``; random reinitialization at k = 0 is trained (and measured
    without interpolating) at ``reinit_levels`` (default: every level). Returns ``accuracy``
    over (``level``, ``subnetwork``, ``rewind_step``, ``init_seed``, ``pair``, ``copy``), NaN where
    not computed, with ``density`` (measured) and ``nominal_density`` by level.
    """
    grid = sparse.sparsity_grid(config, levels, rewind_steps, ("dense", "imp", "random_prune"), device, progress)
    accuracy = tables.test_accuracy(grid).reset_coords(drop=True).assign_coords(copy=[0, 1])
    reinit_levels = sorted(grid.level.values.tolist() if reinit_levels is None else reinit_levels)
    unknown = set(reinit_levels) - set(grid.level.values.tolist())
    if unknown:
        raise ConfigError(f"reinit_levels {sorted(unknown)} are not among the levels {list(levels)}; choose from those")
    first = dataclasses.replace(config, rewind_step="0")
    reinit = []
    for level in reinit_levels:
        part = pair_distances(first, ["0"], ("random_reinit",), level, "all", device, progress)
        reinit.append((100 - part.error.sel(split="test").isel(subnetwork=0, rewind_step=0)).reset_coords(drop=True))
    ds = xr.Dataset({"accuracy": accuracy.transpose("level", "subnetwork", "rewind_step", "init_seed", "pair", "copy")})
    if reinit:
        extra = xr.concat(reinit, dim="level").assign_coords(level=reinit_levels)
        extra = extra.expand_dims(subnetwork=["random_reinit"], rewind_step=[0]).drop_vars("split", errors="ignore")
        ds = xr.concat([ds, xr.Dataset({"accuracy": extra})], dim="subnetwork", join="outer")
    ds["density"] = grid.density.sel(subnetwork="imp").mean([d for d in grid.density.dims if d not in ("level", "subnetwork")])
    ds = ds.assign_coords(nominal_density=("level", [imp.density_after(int(n)) for n in ds.level.values]))
    ds.accuracy.attrs.update(units="%", long_name="test accuracy of each trained copy")
    ds.attrs.update(results.provenance({**results.config_of(grid), "experiment": "sparsity_accuracy",
                                        "reinit_levels": reinit_levels}, grid.attrs["device"]))
    return ds


def full_network(ds: xr.Dataset, rewind_step: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the full network's test accuracy over its copies trained
    from ``rewind_step`` k (default 0: trained from initialization, Table 1's accuracy; one level:
    the dense copies are the same runs at every level)."""
    dense = ds.accuracy.sel(subnetwork="dense", rewind_step=rewind_step).isel(level=0)
    values = dense.values[~np.isnan(dense.values)]
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def figure9_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per level: the density and mean test accuracy of IMP at its best rewind step (and which),
    IMP at k = 0, random pruning and random reinitialization at k = 0, and whether the best
    IMP matches the full network at the same k (within one standard deviation)."""
    mean = ds.accuracy.mean(("init_seed", "pair", "copy"))
    rows = []
    for level in ds.level.values:
        imp_k = mean.sel(level=level, subnetwork="imp")
        best = int(imp_k.idxmax("rewind_step"))
        row = {"level": int(level), "density (%)": 100 * float(ds.density.sel(level=level)),
               "IMP best k": best, "IMP at best k (%)": float(imp_k.max()),
               "IMP k=0 (%)": float(imp_k.sel(rewind_step=0))}
        for name, label in (("random_prune", "random pruning (%)"), ("random_reinit", "random reinit (%)")):
            row[label] = float(mean.sel(level=level, subnetwork=name, rewind_step=0)) if name in mean.subnetwork else math.nan
        full, std = full_network(ds, best)
        row["full at best k (%)"] = full
        row["best IMP matching"] = imp.matching(row["IMP at best k (%)"], full, std)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("density (%)", ascending=False)


def extreme_matching(table: pd.DataFrame) -> float | None:
    """Appendix B's choice: the lowest density (%) at which IMP at its best rewind step still
    matches the full network (None if it matches nowhere in the grid)."""
    matching = table[table["best IMP matching"]]
    return None if matching.empty else float(matching["density (%)"].min())


# --- Appendix D ------------------------------------------------------------------------------

def snapshot_steps(config: instability.InstabilityConfig, every) -> list[int]:
    """The steps at which Appendix D interpolates the copies trained from k: every ``every``
    iterations after k, and T."""
    hp = config.hparams
    k, total = _iterations(config, config.rewind_step), _iterations(config, hp.training_steps)
    step = _iterations(config, every)
    if step < 1:
        raise ConfigError(f"the snapshot cadence must be at least one iteration, got {every!r}")
    return sorted({s for s in range(step, total, step) if s > k} | {total})


def instability_through_training(config: instability.InstabilityConfig, rewind_steps, every,
                                 subnetwork: str = "dense", level: int | None = None,
                                 train_subset="preset", device: str = "auto",
                                 progress: bool = True) -> xr.Dataset:
    """Figure 13: error along the path between the two copies at ``snapshot_steps`` of their
    training, for every k in ``rewind_steps``, for one ``subnetwork`` ("dense" or a sparse one at
    IMP ``level``).

    The copies' states at those steps are kept as named checkpoints of the copies' runs (asked
    in increasing order, so each trains on from the previous one). Train error is measured on
    ``train_subset`` examples ("preset": the preset's). Returns ``error``, ``loss`` over
    (``rewind_step``, ``init_seed``, ``pair``, ``step``, ``split``, ``alpha``; NaN before k) and
    ``instability``.
    """
    device, speed, _ = _device(device)
    configs, iterations = instability.rewind_configs(config, rewind_steps)
    preset = presets.get(config.preset)
    evaluation, subset = _evaluation(config.hparams, preset, device, train_subset)
    model = models.build(config.hparams.model).to(device)
    batched = interpolate.batch_alphas(model, device)
    steps = sorted({s for c in configs for s in snapshot_steps(c, every)})
    error = np.full((len(configs), len(config.init_seeds), config.pairs, len(steps), 2, config.n_alpha), np.nan)
    loss = error.copy()
    for a, c in enumerate(configs):
        pairs = copies(c, (subnetwork,), level, device, progress)
        for (_, i, j), pair in pairs.items():
            for s in tqdm(snapshot_steps(c, every), desc=f"k={c.rewind_step} pair {i}.{j}", disable=not progress):

                def path(pair=pair, s=s):  # states asked in increasing s: each trains on from the last
                    ends = [train.state_at(r, s, device, progress, accel=speed)["model"] for r in pair]
                    p = interpolate.error_along_path(model, *ends, evaluation, config.n_alpha, batched=batched)
                    return {"error": p.error.values.tolist(), "loss": p.loss.values.tolist()}

                # the same cache entry as the chapters' paths at T (instability.pair_paths)
                found = store.cached(interpolate.path_key([r.hash for r in pair], s, config.n_alpha, subset,
                                                          preset.test_subset, batched), path)
                b = steps.index(s)
                error[a, config.init_seeds.index(i), j, b] = found["error"]
                loss[a, config.init_seeds.index(i), j, b] = found["loss"]
    dims = ("rewind_step", "init_seed", "pair", "step", "split", "alpha")
    ds = xr.Dataset({"error": (dims, error, {"units": "%"}), "loss": (dims, loss, {"units": "nats"})},
                    coords={"rewind_step": iterations, "rewind_label": ("rewind_step", [str(k) for k in rewind_steps]),
                            "init_seed": list(config.init_seeds), "pair": list(range(config.pairs)), "step": steps,
                            "split": list(SPLITS), "alpha": interpolate.alphas(config.n_alpha)})
    ds["instability"] = interpolate.instability(ds.error)
    ds.instability.attrs.update(units="percentage points", long_name="max error along the path minus mean endpoint error")
    ds.attrs.update(results.provenance(
        {"experiment": "instability_through_training", **config.as_dict(),
         "rewind_steps": [str(k) for k in rewind_steps], "every": str(every), "subnetwork": subnetwork,
         "level": level, "eval_train_subset": subset, "hparams": config.hparams.as_dict()}, device))
    return ds.sortby("rewind_step")


# --- Appendix G ------------------------------------------------------------------------------

def train_instability(curve: xr.Dataset) -> pd.DataFrame:
    """Appendix G from a ``sparse_curve`` result: per subnetwork and k, train and test instability
    and the copies' train and test error (means over pairs and copies), and their differences."""
    inst = curve.instability.mean(("init_seed", "pair"))
    err = tables.endpoint_error(curve).mean(("copy", "init_seed", "pair"))
    rows = []
    for name in curve.subnetwork.values:
        for k in curve.rewind_step.values:
            i, e = inst.sel(subnetwork=name, rewind_step=k), err.sel(subnetwork=name, rewind_step=k)
            rows.append({"subnetwork": str(name), "k": int(k),
                         "train instability (pp)": float(i.sel(split="train")),
                         "test instability (pp)": float(i.sel(split="test")),
                         "train − test (pp)": float(i.sel(split="train") - i.sel(split="test")),
                         "train error (%)": float(e.sel(split="train")), "test error (%)": float(e.sel(split="test"))})
    return pd.DataFrame(rows)


# --- readings at the stability step ------------------------------------------------------------

def stable_step(curve: xr.Dataset, subnetwork: str | None = None):
    """The first rewind step (iterations) from which mean test instability stays below 2 pp in an
    instability or sparse curve (``subnetwork`` selects one of a sparse curve's); None if never."""
    if subnetwork is not None:
        curve = curve.sel(subnetwork=subnetwork)
    return tables.stable_from(curve)


def at_step(ds: xr.Dataset, subnetwork: str, k) -> dict | None:
    """Appendices C and H at rewind step ``k`` for one subnetwork (means over pairs): the test error
    at k, the three L2 distances, the copies' distance as % of the distance travelled, and the test
    examples classified differently (also as % of the most the copies' errors allow). None when
    ``k`` is None or was not measured."""
    if k is None or k not in ds.rewind_step.values or subnetwork not in ds.subnetwork.values:
        return None
    table = distance_table(ds.sel(subnetwork=[subnetwork]))  # all k: the yardstick is k = 0's
    table = table[table.k == int(k)]
    other = other_distances_table(ds.sel(subnetwork=[subnetwork], rewind_step=[k]))
    if table.empty:
        return None
    return {**table.iloc[0].to_dict(), **other.iloc[0].to_dict()}


def describe(reading: dict | None) -> str:
    """One line of a chapter's closing note from ``at_step``: error at k, the three distances, the
    copies' share of the distance travelled and the test examples classified differently."""
    if reading is None:
        return "not stable in the measured grid (or not computed with this preset)"
    return (f"k = {reading['k']}: the unpruned network's test error at k {reading['test error of W_k (%)']:.1f}%; "
            f"L2 init → W_k {reading['init → W_k']:.2f}, W_k → end {reading['W_k → end']:.2f}, copy ↔ copy "
            f"{reading['copy ↔ copy']:.2f} ({reading['copy ↔ copy / init → end at k = 0 (%)']:.0f}% of the "
            f"distance travelled from k = 0, {reading['init → end at k = 0']:.2f}); "
            f"{reading['test disagreements']:.0f} test examples classified differently "
            f"({reading['% of the most possible']:.0f}% of the most possible)")


def through_training(config: instability.InstabilityConfig, dense_steps, imp_steps=(), every="1ep",
                     level: int | None = None, train_subset="preset", device: str = "auto",
                     progress: bool = True) -> xr.Dataset:
    """Figure 13 for the full network over ``dense_steps`` and its IMP subnetwork at ``level`` over
    ``imp_steps``: ``instability_through_training`` of each, stacked along ``subnetwork`` (NaN
    where a k was not asked)."""
    parts = {"dense": instability_through_training(config, dense_steps, every, "dense", None, train_subset,
                                                   device, progress)}
    if len(imp_steps) and level is not None:
        parts["imp"] = instability_through_training(config, imp_steps, every, "imp", level, train_subset,
                                                    device, progress)
    ds = xr.concat([p.drop_attrs().drop_vars("rewind_label") for p in parts.values()], dim="subnetwork",
                   join="outer").assign_coords(subnetwork=list(parts))
    first = results.config_of(parts["dense"])
    first.update(experiment="through_training", imp_steps=[str(k) for k in imp_steps], level=level, subnetwork=None)
    ds.attrs.update(results.provenance(first, parts["dense"].attrs["device"]))
    return ds


def through_table(ds: xr.Dataset) -> pd.DataFrame:
    """Figure 13 in numbers, per subnetwork and k (means over pairs): test instability at T, the
    largest test instability at any measured step, and whether the copies stay stable (< 2 pp)
    at every measured step."""
    inst = ds.instability.sel(split="test").mean(("init_seed", "pair"))
    rows = []
    for name in ds.subnetwork.values:
        for k in ds.rewind_step.values:
            line = inst.sel(subnetwork=name, rewind_step=k).dropna("step")
            if not line.size:
                continue
            rows.append({"subnetwork": str(name), "k": int(k), "steps measured": line.sizes["step"],
                         "test instability at T (pp)": float(line.isel(step=-1)),
                         "largest during training (pp)": float(line.max()),
                         "stable at T": bool(line.isel(step=-1) < interpolate.STABLE_BELOW),
                         "stable throughout": bool((line < interpolate.STABLE_BELOW).all())})
    return pd.DataFrame(rows)
