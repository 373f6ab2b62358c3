"""Figures, one helper per figure kind, drawn from result Datasets with seaborn.

Shared conventions: train error purple and test error red (the paper's colours),
error in %, the paper's reported value as a dotted reference line where it has one.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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


# --- the appendices (B, C, D, G, H) ------------------------------------------------------------

B_COLOURS = {"IMP at best k": "#d7191c", "IMP at k = 0": "#2c7bb6", "random pruning": "#fdae61",
             "random reinit": "#1a9641"}  # Figure 9's red, blue, orange and green


def accuracy_vs_density(table, full: float, full_std: float, title: str = "",
                        paper_density: float | None = None, ours: float | None = None,
                        ax: plt.Axes | None = None) -> plt.Figure:
    """Figure 9: test accuracy (%) against density (% of weights remaining, log axis, sparser to
    the right) for IMP at its best k, IMP at k = 0 and both baselines; the full network's mean ±
    one standard deviation in black; dotted: Table 1's density (``paper_density``) and ours."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    columns = {"IMP at best k": "IMP at best k (%)", "IMP at k = 0": "IMP k=0 (%)",
               "random pruning": "random pruning (%)", "random reinit": "random reinit (%)"}
    frame = table.melt(id_vars=["density (%)"], value_vars=list(columns.values()), var_name="network",
                       value_name="accuracy").dropna()
    frame["network"] = frame["network"].map({v: k for k, v in columns.items()})
    best = frame["network"] == "IMP at best k"  # drawn wide underneath: it often coincides with a line
    sns.lineplot(frame[best], x="density (%)", y="accuracy", hue="network", palette=B_COLOURS, linewidth=5,
                 alpha=0.5, ax=ax)
    sns.lineplot(frame[~best], x="density (%)", y="accuracy", hue="network", palette=B_COLOURS, marker="o", ax=ax)
    ax.axhspan(full - full_std, full + full_std, color="black", alpha=0.15, label="full network ± 1 std")
    ax.axhline(full, color="black", linewidth=1)
    if paper_density is not None and not np.isnan(paper_density):
        ax.axvline(paper_density, color="black", linestyle=":", label=f"Table 1: {paper_density:g}%")
    if ours is not None:
        ax.axvline(ours, color=B_COLOURS["IMP at best k"], linestyle="--", label=f"ours: {ours:.1f}%")
    ax.set_xscale("log")
    ticks = sorted({float(d) for d in table["density (%)"]})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:.3g}" for t in ticks])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set(xlabel="weights remaining (%)", ylabel="test accuracy (%)", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


DISTANCE_COLOURS = {"init → W_k": "#2c7bb6", "W_k → end": "#fdae61", "copy ↔ copy": "#1a9641"}


def rewind_state(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """Figures 10-12: the error of the network at each rewind step k (train and test), and per
    subnetwork the three L2 distances (initialization → W_k, W_k → one copy at T, copy ↔ copy)."""
    sns.set_theme(style="whitegrid", context="notebook")
    names = [str(n) for n in ds.subnetwork.values if not ds.between_copies.sel(subnetwork=n).isnull().all()]
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.2 * (1 + len(names)), 3.6), squeeze=False)
    axes = axes[0]
    err = ds.error_at_rewind.sel(subnetwork="dense").to_dataframe().reset_index().dropna()
    sns.lineplot(err, x="rewind_step", y="error_at_rewind", hue="split", hue_order=["train", "test"],
                 palette=PALETTE, marker="o", errorbar="sd", ax=axes[0])
    axes[0].set(xlabel="rewind step k", ylabel="error of W_k (%)", title="full network at k")
    _rewind_axis(axes[0], sorted(int(k) for k in err.rewind_step.unique()))
    for ax, name in zip(axes[1:], names, strict=True):
        part = ds.sel(subnetwork=name)
        frame = xr.Dataset({"init → W_k": part.init_to_rewind, "W_k → end": part.rewind_to_end.isel(copy=0),
                            "copy ↔ copy": part.between_copies}).to_dataframe().reset_index()
        frame = frame.melt(id_vars=["rewind_step"], value_vars=list(DISTANCE_COLOURS), var_name="distance",
                           value_name="L2").dropna()
        sns.lineplot(frame, x="rewind_step", y="L2", hue="distance", palette=DISTANCE_COLOURS, marker="o",
                     errorbar="sd", ax=ax)
        _rewind_axis(ax, sorted(int(k) for k in frame.rewind_step.unique()))
        ax.set(xlabel="rewind step k", ylabel="L2 distance", title=name if name != "dense" else "full network")
        ax.legend(title=None, frameon=False, fontsize="small")
    axes[0].legend(title=None, frameon=False, fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def instability_through_training(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """Figure 13: instability (pp) between the two copies at each step of their training, one line
    per rewind step k, train and test side by side."""
    sns.set_theme(style="whitegrid", context="notebook")
    frame = ds.instability.to_dataframe().reset_index().dropna()
    frame["k"] = frame["rewind_step"].astype(str)
    grid = sns.relplot(frame, x="step", y="instability", hue="k", col="split", col_order=["train", "test"],
                       kind="line", marker="o", errorbar="sd", height=3.2, aspect=1.3)
    for ax in grid.axes.flat:
        ax.axhline(2.0, color="grey", linestyle="--", linewidth=1)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("training step (iterations)", "instability (pp)")
    if title:
        grid.figure.suptitle(title, y=1.03)
    return grid.figure


def train_and_test(values: xr.DataArray, ylabel: str, title: str = "", threshold: float | None = None,
                   ax: plt.Axes | None = None) -> plt.Figure:
    """Figures 22-23: a quantity of each subnetwork against k, test solid and train dashed (``values``
    over ``subnetwork``, ``rewind_step``, ``split`` and any dims averaged with ±1 std);
    ``threshold``: a dashed reference line (the 2 pp of stability)."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = values.rename("value").to_dataframe().reset_index()
    sns.lineplot(frame, x="rewind_step", y="value", hue="subnetwork", style="split", style_order=["test", "train"],
                 palette=SUBNETWORK_PALETTE, marker="o", errorbar="sd", ax=ax)
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
    _rewind_axis(ax, sorted(int(k) for k in values.rewind_step.values))
    ax.set(xlabel="rewind step k (iterations)", ylabel=ylabel, title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


OTHER_DISTANCES = {"between_copies": "L2 distance", "cosine": "cosine similarity",
                   "disagreements": "test disagreements (examples)", "loss_distance": "test loss distance (nats)"}


def other_distances(ds: xr.Dataset, title: str = "") -> plt.Figure:
    """Figures 24-29: L2 distance, cosine similarity, test examples classified differently and
    test loss distance between the two copies, against k, one line per subnetwork."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for ax, (name, label) in zip(axes, OTHER_DISTANCES.items(), strict=True):
        values = ds[name].sel(split="test") if "split" in ds[name].dims else ds[name]
        frame = values.to_dataframe().reset_index().dropna(subset=[name])
        sns.lineplot(frame, x="rewind_step", y=name, hue="subnetwork", palette=SUBNETWORK_PALETTE, marker="o",
                     errorbar="sd", ax=ax, legend=ax is axes[-1])
        _rewind_axis(ax, sorted(int(k) for k in frame.rewind_step.unique()))
        ax.set(xlabel="rewind step k", ylabel=label)
    axes[-1].legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
