"""Questions of our own, on the engine of the paper's experiments.

Batch norm along the path: the paper interpolates every entry of the state, batch-norm
running statistics included. The statistics of W(α) need not be the interpolated
statistics: the activations of an interpolated network have their own mean and
variance. ``bn_instability`` measures instability both ways for the same trained
pairs (the runs of chapters 01-02): interpolated (the paper's, the cached paths of
``experiments.instability_analysis``) and recomputed at each α
(``interpolate.BatchNormRecompute``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import experiments, interpolate, models, presets, results, store, train

BATCH_NORM = ("interpolated", "recomputed")  # coordinate values of the batch_norm dimension


def dense_pairs(config: experiments.InstabilityConfig, device: str = "cpu") -> dict:
    """{(init_seed, pair): [copy 0, copy 1]}: the runs of ``experiments.instability_analysis``
    (the same identities, so cached runs are reused)."""
    hp = config.hparams
    k = train.to_steps(config.rewind_step, hp, train.train_size(hp))
    precision = "bf16" if train.accel_for(device).bf16 else "float32"
    trunks = {i: store.open_run(train.run_config(hp, experiments.data_seed(i), init_seed=i, precision=precision))
              for i in config.init_seeds}
    return {(i, j): [store.open_run(train.run_config(hp, experiments.data_seed(i, j, c), parent=trunks[i],
                                                     parent_step=k, reset_schedule=config.reset_schedule,
                                                     precision=precision)) for c in (0, 1)]
            for i in config.init_seeds for j in range(config.pairs)}


def path(copies, config: experiments.InstabilityConfig, device: str = "cpu", progress: bool = True,
         batch_norm: interpolate.BatchNormRecompute | None = None) -> dict:
    """{"error", "loss"} along the path between two trained copies, cached.

    Without ``batch_norm`` (or for a network without batch norm) the cache entry is the one
    ``experiments`` writes for the same pair; with it, the recompute settings enter the
    entry's identity (and only then).
    """
    hp, preset = config.hparams, presets.get(config.preset)
    total = train.to_steps(hp.training_steps, hp, train.train_size(hp))
    evaluation = experiments._evaluation_data(hp, preset, device)
    model = models.build(hp.model).to(device)
    recompute = batch_norm is not None and interpolate.has_batch_norm(model)
    batched = False if recompute else interpolate.batch_alphas(model, device)

    def compute() -> dict:
        a, b = (train.state_at(c, total, device, progress)["model"] for c in copies)
        ds = interpolate.error_along_path(model, a, b, evaluation, config.n_alpha, batched=batched,
                                          batch_norm=batch_norm if recompute else None)
        return {"error": ds.error.values.tolist(), "loss": ds.loss.values.tolist()}

    key = {"kind": "interpolate", "runs": [c.hash for c in copies], "step": total, "n_alpha": config.n_alpha,
           "train_subset": preset.eval_train_subset(hp.model), "test_subset": preset.test_subset,
           **({"evaluation": "batched"} if batched else {})}
    if recompute:
        key["batch_norm"] = {"recompute": batch_norm.as_dict()}
    return store.cached(key, compute)


def bn_instability(config: experiments.InstabilityConfig, batch_norm: interpolate.BatchNormRecompute,
                   device: str = "auto", progress: bool = True) -> xr.Dataset:
    """Instability at step k with batch-norm statistics interpolated (the paper) and
    recomputed at each α, for the same trained pairs; over (``batch_norm``, ``init_seed``,
    ``pair``, ``split``[, ``alpha``])."""
    device = experiments.resolve_device(device)
    pairs = dense_pairs(config, device)
    hp = config.hparams
    total = train.to_steps(hp.training_steps, hp, train.train_size(hp))
    train.train_runs([c for copies in pairs.values() for c in copies], total, device, progress)
    paths = [path(copies, config, device, progress, spec)
             for spec in (None, batch_norm) for copies in tqdm(pairs.values(), disable=not progress)]
    ds = experiments._path_dataset(paths, (2, len(config.init_seeds), config.pairs),
                                   ("batch_norm", "init_seed", "pair"),
                                   {"batch_norm": list(BATCH_NORM), "init_seed": list(config.init_seeds),
                                    "pair": list(range(config.pairs))}, config.n_alpha)
    model = models.build(hp.model)
    ds.attrs.update(results.provenance({
        "experiment": "bn_instability", **experiments._config_dict(config), "hparams": hp.as_dict(),
        "training_iterations": total, "batch_norm_recompute": batch_norm.as_dict(),
        "has_batch_norm": interpolate.has_batch_norm(model)}, device))
    return ds


def bn_table(ds: xr.Dataset):
    """Mean test and train instability (pp) and endpoint error with batch-norm statistics
    interpolated and recomputed."""
    import pandas as pd
    rows = []
    for how in ds.batch_norm.values:
        sel = ds.sel(batch_norm=how)
        ends = experiments.endpoint_error(sel)
        rows.append({"batch norm along the path": str(how),
                     **{f"{s} instability (pp)": results.mean_std(sel.instability.sel(split=s)) for s in ("test", "train")},
                     "test error of the copies (%)": results.mean_std(ends.sel(split="test"), unit="copy"),
                     "max test error on the path (%)": float(np.mean(sel.error.sel(split="test").max("alpha")))})
    return pd.DataFrame(rows)
