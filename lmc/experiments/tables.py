"""The paper's tables and verdicts computed from results: Table 2 and its verdict, the
instability tables and summaries chapters quote, stability and matching per rewind step and
density (Figures 6-8), the sparsity ranges of Section 4.4.

Functions of an xarray result (``lmc.experiments.instability``, ``lmc.experiments.sparse``)
and of the paper's reported numbers (``lmc.paper.reported``); nothing here trains.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from ..core import hparams, interpolate, results
from ..paper import reported
from . import imp, instability


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
    return full_spread(dense)


def full_spread(dense: xr.DataArray):
    """Mean and standard deviation (ddof = 1; 0 for a single copy) of the full network's test
    accuracy over every dimension of ``dense`` but ``rewind_step`` (initializations, pairs,
    copies): floats where ``dense`` has no ``rewind_step``, DataArrays over it otherwise. The one
    place the full network's "mean ± std at k" is computed, which every matching verdict uses."""
    over = [d for d in dense.dims if d != "rewind_step"]
    mean = dense.mean(over)
    std = dense.std(over, ddof=1) if dense.stack(n=over).sizes["n"] > 1 else xr.zeros_like(mean)
    if "rewind_step" not in dense.dims:
        return float(mean), float(std)
    return mean, std


def matching_at(accuracy: xr.DataArray, full_mean, full_std, k: int | None = None, margin: float | None = None) -> bool:
    """``imp.matching`` for a subnetwork's trained copies (``accuracy``, %, any draw dimensions)
    against the full network's ``full_spread`` at the same rewind step ``k`` (``full_mean`` and
    ``full_std`` may be floats, or DataArrays over ``rewind_step`` that ``k`` selects from)."""
    if k is not None:
        if "rewind_step" in accuracy.dims:
            accuracy = accuracy.sel(rewind_step=k)
        if isinstance(full_mean, xr.DataArray):
            full_mean, full_std = full_mean.sel(rewind_step=k), full_std.sel(rewind_step=k)
    return imp.matching(float(accuracy.mean()), float(full_mean), float(full_std), margin=margin)


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
    below ``margin`` pp (``reported.MATCHING_MARGIN``). Steps are missing (NaN) where never reached in the grid.
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
                    [matching_at(acc, full_mean, full_std, k, margin) for k in acc.rewind_step.values],
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
    setting = reported.setting(config["model"], config["variant"])
    accuracy = test_accuracy(ds)
    mean = accuracy.mean(("copy", "init_seed", "pair"))
    std = accuracy.std(("copy", "init_seed", "pair"), ddof=1)
    test_instability = ds.instability.sel(split="test").mean(("init_seed", "pair"))
    density = float(ds.density.sel(subnetwork="imp").mean()) if "imp" in ds.subnetwork else float("nan")
    full, full_std = float(mean.sel(subnetwork="dense")), float(std.sel(subnetwork="dense"))
    ours = {"": "ours", "density (%)": 100 * density}
    for name in ds.subnetwork.values:
        ours[f"{name} (%)"] = results.mean_std(accuracy.sel(subnetwork=name))
    if "imp" in ds.subnetwork:
        sparse = float(mean.sel(subnetwork="imp"))
        ours.update({"Δ IMP (pp)": full - sparse,
                     "matching (1 std)": imp.matching(sparse, full, full_std),
                     f"matching (drop < {reported.MATCHING_MARGIN} pp)": imp.matching(
                         sparse, full, full_std, margin=reported.MATCHING_MARGIN)})
    for name in ds.subnetwork.values:
        ours[f"instability {name} (pp)"] = float(test_instability.sel(subnetwork=name))
    rows = [ours]
    theirs = reported.TABLE2.get((config["model"], config["variant"]))
    if theirs is not None:
        rows.append({"": "paper", "density (%)": setting.pruning_density, "dense (%)": f"{theirs.full:g}",
                     "imp (%)": f"{theirs.imp:g}", "random_prune (%)": f"{theirs.random_prune:g}",
                     "random_reinit (%)": f"{theirs.random_reinit:g}", "Δ IMP (pp)": theirs.delta,
                     "matching (1 std)": theirs.matching})
    return pd.DataFrame(rows).set_index("")


def table2_verdict(ds: xr.Dataset) -> str:
    """Whether a ``sparse_instability`` result supports the paper's Table 2 / Figure 5 claim for its
    network, as text with the numbers (mean ± std over copies, instability over pairs): "supported",
    "contradicted" or "partly supported". Table 1's networks are held to their own row; a CPU
    stand-in to the pattern of the paper's larger networks (ResNet-20 standard: IMP at k = 0
    neither matching nor stable). Random baselines are claimed not matching in every row."""
    config = results.config_of(ds)
    key = (config["model"], config["variant"])
    theirs = reported.TABLE2.get(key)
    claim_matching = theirs.matching if theirs is not None else reported.TABLE2[("cifar_resnet_20", "standard")].matching
    accuracy, inst = test_accuracy(ds), ds.instability.sel(split="test")
    full, full_std = full_accuracy(ds)
    parts, held = [], []
    imp_match = matching_at(accuracy.sel(subnetwork="imp"), full, full_std)
    imp_stable = float(inst.sel(subnetwork="imp").mean()) < interpolate.STABLE_BELOW
    parts.append(f"IMP {results.mean_std(accuracy.sel(subnetwork='imp'), unit='copy')}% against the full network's "
                 f"{results.mean_std(accuracy.sel(subnetwork='dense'), unit='copy')}% "
                 f"({'matching' if imp_match else 'not matching'}), test instability "
                 f"{results.mean_std(inst.sel(subnetwork='imp'))} pp ({'stable' if imp_stable else 'unstable'})")
    held += [imp_match == claim_matching, imp_stable == claim_matching]
    for name in ("random_prune", "random_prune_global", "random_reinit"):
        if name in ds.subnetwork.values:
            acc = accuracy.sel(subnetwork=name)
            match = matching_at(acc, full, full_std)
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
    setting = reported.setting(config["model"], config["variant"])
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
            "paper accuracy (%)": reported.accuracy_text(setting) if split == "test" else "",
            "paper instability (pp)": (f"< {setting.instability_at_init:g}"
                                       if setting.instability_at_init is not None and hparams.parse_step(
                               config["rewind_step"]) == (0, 0) else "not reported"),
        })
    return pd.DataFrame(rows)


def instability_summary(ds: xr.Dataset) -> dict[str, str]:
    """Numbers a chapter's prose quotes, as text: instability per split, pairs, paper bound."""
    config = results.config_of(ds)
    setting = reported.setting(config["model"], config["variant"])
    test = ds.instability.sel(split="test")
    bound = setting.instability_at_init
    return {
        "network": setting.network,
        "n_pairs": str(test.size),
        "schedule": reported.schedule_note(config),
        "test_accuracy": results.mean_std(100 - endpoint_error(ds).sel(split="test"), unit="copies"),
        "paper_accuracy": reported.accuracy_text(setting),
        "test_instability": results.mean_std(test),
        "train_instability": results.mean_std(ds.instability.sel(split="train")),
        "paper_bound": f"{bound:g}" if bound is not None else "not reported",
        "verdict": ("not comparable" if bound is None
                    else "within" if float(test.mean()) < bound else "outside"),
    }


def stable_from(ds: xr.Dataset, split: str = "test", threshold: float = interpolate.STABLE_BELOW):
    """The first rewind step from which mean instability stays below ``threshold`` (None if never)."""
    return first_step(ds.instability.sel(split=split).mean(("init_seed", "pair")) < threshold)


def stability_table(curves: dict):
    """Per network: the first k from which test instability stays below 2%, ours and the paper's."""
    rows = []
    for (model, variant), ds in curves.items():
        setting = reported.setting(model, variant)
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


def schedule_table(comparisons: dict):
    """Per network and k: mean test instability with and without the schedule reset."""
    rows = []
    for (model, variant), ds in comparisons.items():
        mean = ds.instability.sel(split="test").mean(("init_seed", "pair"))
        spread = ds.instability.sel(split="test").std(("init_seed", "pair"))
        for k in ds.rewind_step.values:
            a, b = (float(mean.sel(rewind_step=k, schedule=instability.SCHEDULES[r])) for r in (False, True))
            rows.append({"network": reported.setting(model, variant).network, "k": int(k),
                         instability.SCHEDULES[False] + " (pp)": a, instability.SCHEDULES[True] + " (pp)": b,
                         "largest |difference| (pp)": abs(a - b),
                         "std over pairs (pp)": float(spread.sel(rewind_step=k).max())})
    return pd.DataFrame(rows)


def rewind_table(ds: xr.Dataset) -> pd.DataFrame:
    """Figures 6-7 as numbers: per rewind step and subnetwork, test instability and accuracy
    (mean ± std), whether stable (< 2 pp) and matching (1-std rule against the full network)."""
    full_mean, full_std = full_accuracy(ds)  # per rewind step
    accuracy = test_accuracy(ds)
    test_instability = ds.instability.sel(split="test")
    rows = []
    for k in ds.rewind_step.values:
        mean_k, std_k = float(full_mean.sel(rewind_step=k)), float(full_std.sel(rewind_step=k))
        for name in ds.subnetwork.values:
            acc, inst = accuracy.sel(rewind_step=k, subnetwork=name), test_instability.sel(rewind_step=k, subnetwork=name)
            rows.append({"k": int(k), "subnetwork": str(name), "test instability (pp)": results.mean_std(inst),
                         "stable": bool(float(inst.mean()) < interpolate.STABLE_BELOW),
                         "test accuracy (%)": results.mean_std(acc),
                         "matching": matching_at(acc, mean_k, std_k)})
    return pd.DataFrame(rows)
