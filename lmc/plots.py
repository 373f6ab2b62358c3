"""Figures, one helper per figure kind, drawn from result Datasets with seaborn.

Shared conventions: train error purple and test error red (the paper's colours),
error in %, the paper's reported value as a dotted reference line where it has one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
import xarray as xr

PALETTE = {"train": "#7b3294", "test": "#d7191c"}


def interpolation(ds: xr.Dataset, title: str = "", paper_rise: float | None = None,
                  ax: plt.Axes | None = None) -> plt.Figure:
    """The paper's Figure 2 panel: error (%) along the path, mean and ±1 std over pairs.

    ``paper_rise``: the paper's bound on how far test error rises above the endpoints
    (percentage points), drawn as a dotted line above our mean endpoint test error.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.error.to_dataframe().reset_index()
    sns.lineplot(frame, x="alpha", y="error", hue="split", hue_order=["train", "test"],
                 palette=PALETTE, errorbar="sd", marker="o", markersize=4, ax=ax)
    if paper_rise is not None:
        test = ds.error.sel(split="test")
        level = float(((test.isel(alpha=0) + test.isel(alpha=-1)) / 2).mean()) + paper_rise
        ax.axhline(level, color=PALETTE["test"], linestyle=":", linewidth=1.2,
                   label=f"paper: test error rises < {paper_rise:g} pp")
    ax.set(xlabel="interpolation coefficient α", ylabel="error (%)", title=title, xlim=(0, 1))
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def _rewind_axis(ax: plt.Axes, steps) -> None:
    """Rewind steps on a symmetric-log axis (k = 0 included), ticks at the measured steps."""
    ax.set_xscale("symlog", linthresh=max(1, min([s for s in steps if s > 0], default=1)))
    ax.set_xticks(list(steps))
    ax.set_xticklabels([str(s) for s in steps], rotation=45)
    ax.minorticks_off()


def instability_vs_rewind(ds: xr.Dataset, title: str = "", paper_step: int | None = None,
                          hue: str = "split", ax: plt.Axes | None = None) -> plt.Figure:
    """The paper's Figure 3 panel: instability (pp) against the rewind step k, ±1 std over pairs.

    The dashed line is the paper's 2% stability threshold; ``paper_step`` (iterations)
    marks where the paper finds the network becomes stable.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.instability.to_dataframe().reset_index()
    palette = PALETTE if hue == "split" else None
    sns.lineplot(frame, x="rewind_step", y="instability", hue=hue, palette=palette, errorbar="sd",
                 marker="o", ax=ax)
    ax.axhline(2.0, color="grey", linestyle="--", linewidth=1, label="stable below 2 pp")
    if paper_step is not None:
        ax.axvline(paper_step, color="black", linestyle=":", linewidth=1.2,
                   label=f"paper: stable from k = {paper_step}")
    _rewind_axis(ax, sorted(int(k) for k in ds.rewind_step.values))
    ax.set(xlabel="rewind step k (iterations)", ylabel="instability (pp)", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def interpolation_by_rewind(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """Appendix F: error along the path for every rewind step k, one panel per k."""
    sns.set_theme(style="whitegrid", context="notebook")
    frame = ds.error.to_dataframe().reset_index()
    grid = sns.relplot(frame, x="alpha", y="error", hue="split", hue_order=["train", "test"],
                       palette=PALETTE, col="rewind_step", col_wrap=min(4, ds.sizes["rewind_step"]),
                       kind="line", errorbar="sd", height=2.6, aspect=1.1)
    grid.set_titles("k = {col_name}")
    grid.set_axis_labels("α", "error (%)")
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


SUBNETWORK_PALETTE = {"dense": "#404040", "imp": "#2c7bb6", "random_prune": "#fdae61", "random_reinit": "#1a9641"}


def interpolation_by_subnetwork(ds: xr.Dataset, split: str = "test", title: str = "",
                                ax: plt.Axes | None = None) -> plt.Figure:
    """The paper's Figure 5 panel: error (%) along the path for the dense network, the IMP
    subnetwork and both random baselines, mean and ±1 std over pairs (one ``split``)."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.error.sel(split=split).to_dataframe().reset_index()
    sns.lineplot(frame, x="alpha", y="error", hue="subnetwork", hue_order=list(ds.subnetwork.values),
                 palette=SUBNETWORK_PALETTE, errorbar="sd", marker="o", markersize=4, ax=ax)
    ax.set(xlabel="interpolation coefficient α", ylabel=f"{split} error (%)", title=title, xlim=(0, 1))
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def weight_correlation(ds: xr.Dataset, title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Liu et al.'s Figure 4: R_p(θ_0, θ_T) against p, one line per learning rate; the
    dotted diagonal R_p = p is what unrelated weights give."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.overlap.to_dataframe().reset_index()
    frame["learning rate"] = [f"{lr:g}" for lr in frame.lr]
    sns.lineplot(frame, x="p", y="overlap", hue="learning rate", marker="o", palette="viridis", ax=ax)
    ps = [float(p) for p in ds.p.values]
    ax.plot(ps, ps, color="grey", linestyle=":", linewidth=1.2, label="R_p = p (no correlation)")
    ax.set(xlabel="fraction p of largest-magnitude weights per layer", ylabel="R_p(θ_0, θ_T)",
           title=title, ylim=(0, 1.02))
    ax.legend(title="learning rate", frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def sanity_accuracies(ds: xr.Dataset, title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Ma et al.'s comparison at one density: test accuracy (%) of the tickets (IMP, OMP) and
    their random reinitializations against the ticket learning rate, one panel per
    pre-training learning rate is folded into the line style; the dense networks and the
    small dense network as horizontal lines."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frames = []
    for var, label in (("ticket", "ticket"), ("reinit", "random reinit")):
        f = ds[var].to_dataframe().reset_index().dropna()
        f["network"] = [f"{m.upper()} {label}" for m in f.pruning]
        f["pre-training lr"] = [f"{p:g}" for p in f.pretrain_lr]
        frames.append(f.rename(columns={var: "accuracy"}))
    import pandas as pd
    frame = pd.concat(frames)
    sns.lineplot(frame, x="ticket_lr", y="accuracy", hue="network", style="pre-training lr", marker="o", ax=ax)
    for p in ds.pretrain_lr.values:
        ax.axhline(float(ds.dense.sel(pretrain_lr=p)), color="#404040", linestyle="--", linewidth=1,
                   label=f"dense, lr {p:g}")
    ax.axhline(float(ds.small_dense), color="#1a9641", linestyle=":", linewidth=1.2, label="small dense")
    ax.set_xscale("log")
    ax.set(xlabel="learning rate of the sparse training", ylabel="test accuracy (%)", title=title)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.figure.tight_layout()
    return ax.figure


def interpolation_by_batch_norm(ds: xr.Dataset, split: str = "test", title: str = "",
                                ax: plt.Axes | None = None) -> plt.Figure:
    """Error (%) along the path with batch-norm statistics interpolated (the paper) and
    recomputed at each α, mean and ±1 std over pairs (one ``split``)."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.error.sel(split=split).to_dataframe().reset_index()
    sns.lineplot(frame, x="alpha", y="error", hue="batch_norm", errorbar="sd", marker="o", markersize=4,
                 palette={"interpolated": PALETTE[split], "recomputed": "#2c7bb6"}, ax=ax)
    ax.set(xlabel="interpolation coefficient α", ylabel=f"{split} error (%)", title=title, xlim=(0, 1))
    ax.legend(title="batch-norm statistics", frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure
