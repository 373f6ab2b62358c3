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


FAMILY_PALETTE = {"none": "#404040", "signs / magnitudes": "#7b3294", "permute": "#d7191c",
                  "permute (same sign)": "#fdae61", "noise": "#2c7bb6",
                  "early phase on another task": "#1a9641"}
NETWORK_PALETTE = {"dense": "#404040", "imp": "#2c7bb6"}


def early_phase_telemetry(ds: xr.Dataset, rewind_step: int | None = None, title: str = "") -> plt.Figure:
    """Frankle et al. 2020 Figure 3: the state of the dense network and the IMP subnetwork over
    the first steps (test accuracy and loss, mean |w|, signs changed since initialization,
    gradient norm, distance from the initial and the final weights, cosine to the final
    weights); the dotted line marks the rewind step k of the perturbations."""
    sns.set_theme(style="whitegrid", context="notebook")
    panels = [("accuracy", "test accuracy (%)"), ("loss", "test loss (nats)"), ("magnitude", "mean |w|"),
              ("sign_changed", "signs changed (%)"), ("grad_norm", "gradient norm"),
              ("distance_init", "L2 distance from init"), ("distance_final", "L2 distance from final"),
              ("cosine_final", "cosine to final")]
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.6))
    steps = sorted(int(s) for s in ds.step.values)
    for ax, (name, label) in zip(axes.flat, panels, strict=True):
        frame = ds[name].to_dataframe().reset_index().dropna(subset=[name])
        sns.lineplot(frame, x="step", y=name, hue="network", palette=NETWORK_PALETTE, marker="o",
                     markersize=4, ax=ax, legend=ax is axes.flat[0])
        _rewind_axis(ax, steps)
        if rewind_step is not None:
            ax.axvline(rewind_step, color="black", linestyle=":", linewidth=1)
        ax.set(xlabel="step (iterations)", ylabel=label)
    axes.flat[0].legend(title=None, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def perturbation_accuracy(ds: xr.Dataset, title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Frankle et al. 2020 Figures 4-7 in one panel: test accuracy at T of the subnetwork after
    each perturbation at k, coloured by kind; dashed: the unperturbed subnetwork, dotted: the
    dense network and the subnetwork rewound to the IMP run's own k."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.35 * ds.sizes["perturbation"] + 1.6))
    frame = ds[["trained_accuracy", "family"]].to_dataframe().reset_index()
    sns.scatterplot(frame, x="trained_accuracy", y="perturbation", hue="family", palette=FAMILY_PALETTE,
                    s=60, ax=ax)
    ax.axvline(float(ds.trained_accuracy.isel(perturbation=0)), color=FAMILY_PALETTE["none"], linestyle="--",
               linewidth=1, label="unperturbed at k")
    ax.axvline(float(ds.dense_accuracy), color="black", linestyle=":", linewidth=1.2, label="dense network")
    ax.axvline(float(ds.rewind_accuracy), color="#1a9641", linestyle=":", linewidth=1.2,
               label="IMP subnetwork, its own k")
    ax.set(xlabel="test accuracy at T (%)", ylabel="", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def perturbation_size_vs_accuracy(ds: xr.Dataset, title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Frankle et al. 2020 Figure 8: effective size of each perturbation (RMS change of the kept
    weights in units of the layer's initialization σ) against test accuracy at T. The
    data-dependence runs are drawn too (their size: how far their W'_k lies from the real W_k)."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds[["trained_accuracy", "effective_sigma", "family"]].to_dataframe().reset_index()
    sns.scatterplot(frame, x="effective_sigma", y="trained_accuracy", hue="family", palette=FAMILY_PALETTE,
                    s=60, ax=ax)
    ax.set(xlabel="effective perturbation size (init σ)", ylabel="test accuracy at T (%)", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure
