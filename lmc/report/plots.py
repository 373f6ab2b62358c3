"""Figures, one helper per figure kind, drawn from result Datasets with seaborn.

Shared conventions: train error purple and test error red (the paper's colours), one
colour per subnetwork (``SUBNETWORK_PALETTE``) and per schedule (``SCHEDULE_PALETTE``),
error in %, instability in percentage points (pp), rewind steps in iterations, the 2%
stability threshold dashed and the paper's reported value as a dotted reference line where
it has one.
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
    palette = PALETTES.get(hue)
    if palette is not None and not set(map(str, frame[hue].unique())) <= set(palette):
        palette = None  # values this convention does not name: seaborn's default colours
    sns.lineplot(frame, x="rewind_step", y="instability", hue=hue, palette=palette, errorbar="sd",
                 marker="o", ax=ax)
    ax.axhline(2.0, color="grey", linestyle="--", linewidth=1, label="stable below 2 pp")
    if paper_step is not None:
        ax.axvline(paper_step, color="black", linestyle=":", linewidth=1.2,
                   label=f"paper: stable from k = {paper_step}")
    _rewind_axis(ax, sorted(int(k) for k in ds.rewind_step.values))
    split = f"{ds.split.values[0]} " if "split" in ds.dims and ds.sizes["split"] == 1 else ""
    ax.set(xlabel="rewind step k (iterations)", ylabel=f"{split}instability (pp)", title=title)
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


SUBNETWORK_PALETTE = {"dense": "#404040", "imp": "#2c7bb6", "random_prune": "#fdae61", "random_prune_global": "#d7191c",
                      "random_reinit": "#1a9641"}
# Figure 4: copies trained the remaining T − k steps (Chapter 2's curve) or T steps with the
# schedule restarted (keys: lmc.experiments.instability.SCHEDULES)
SCHEDULE_PALETTE = {"T − k steps": PALETTE["test"], "T steps, schedule reset": "#2c7bb6"}
PALETTES = {"split": PALETTE, "subnetwork": SUBNETWORK_PALETTE, "schedule": SCHEDULE_PALETTE}


def interpolation_by_subnetwork(ds: xr.Dataset, split: str = "test", title: str = "",
                                ax: plt.Axes | None = None, paper_error: dict | None = None) -> plt.Figure:
    """The paper's Figure 5 panel: error (%) along the path for the dense network, the IMP
    subnetwork and both random baselines, mean and ±1 std over pairs (one ``split``).

    ``paper_error``: subnetwork → the paper's test error (%) of its trained networks (100 minus
    Table 2's accuracy), drawn as a dotted line in the subnetwork's colour.
    """
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    frame = ds.error.sel(split=split).to_dataframe().reset_index()
    sns.lineplot(frame, x="alpha", y="error", hue="subnetwork", hue_order=list(ds.subnetwork.values),
                 palette=SUBNETWORK_PALETTE, errorbar="sd", marker="o", markersize=4, ax=ax)
    for name, error in (paper_error or {}).items():
        if name in ds.subnetwork.values:
            ax.axhline(error, color=SUBNETWORK_PALETTE.get(name, "black"), linestyle=":", linewidth=1.2,
                       label=f"paper: {name} {error:.1f}%")
    ax.set(xlabel="interpolation coefficient α", ylabel=f"{split} error (%)", title=title, xlim=(0, 1))
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def error_vs_rewind(ds: xr.Dataset, full: tuple, title: str = "",
                    ax: plt.Axes | None = None) -> plt.Figure:
    """The paper's Figure 7 panel: test error (%) of the trained sparse copies against the
    rewind step k, ±1 std, with the full network's error ± 1 std at each k (``full``: mean, std
    of its accuracy, over ``rewind_step`` as ``tables.full_accuracy`` gives them) as the
    grey band; a subnetwork is matching where its line is inside or below it."""
    sns.set_theme(style="whitegrid", context="notebook")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    ends = xr.concat([ds.error.isel(alpha=0), ds.error.isel(alpha=-1)], dim="copy").sel(split="test")
    frame = ends.drop_sel(subnetwork="dense").rename("error").to_dataframe().reset_index()
    sns.lineplot(frame, x="rewind_step", y="error", hue="subnetwork", palette=SUBNETWORK_PALETTE,
                 errorbar="sd", marker="o", ax=ax)
    steps = sorted(int(k) for k in ds.rewind_step.values)
    mean = np.broadcast_to(100 - np.asarray(full[0].sel(rewind_step=steps) if hasattr(full[0], "sel") else full[0]),
                           (len(steps),))
    std = np.broadcast_to(np.asarray(full[1].sel(rewind_step=steps) if hasattr(full[1], "sel") else full[1]),
                          (len(steps),))
    ax.fill_between(steps, mean - std, mean + std, color=SUBNETWORK_PALETTE["dense"], alpha=0.15, step=None)
    ax.plot(steps, mean, color=SUBNETWORK_PALETTE["dense"], linewidth=1.2, label="full network at k ± 1 std")
    _rewind_axis(ax, sorted(int(k) for k in ds.rewind_step.values))
    ax.set(xlabel="rewind step k (iterations)", ylabel="test error (%)", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.figure.tight_layout()
    return ax.figure


def stability_matching_by_density(table, rewind_steps, title: str = "") -> plt.Figure:
    """The paper's Figure 8: for each density, the rewind step from which IMP and randomly
    pruned subnetworks are stable (solid) and matching (dashed); points at the top were never
    stable or matching in the grid. ``table``: ``tables.stability_and_matching``."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    steps = sorted(int(k) for k in rewind_steps)
    never = steps[-1] * 2 if steps[-1] else 1
    for name, part in table.groupby("subnetwork"):
        part = part.sort_values("density (%)", ascending=False)
        for column, style in (("stable from k", "-"), ("matching from k", "--")):
            y = part[column].astype(float).fillna(never)
            ax.plot(part["density (%)"], y, style, marker="o", color=SUBNETWORK_PALETTE[name],
                    label=f"{name}: {column.replace(' from k', '')}")
    ax.set_xscale("log")
    densities = sorted(set(table["density (%)"].round(1)), reverse=True)
    ax.set_xticks(densities)
    ax.set_xticklabels([f"{d:g}" for d in densities])
    ax.invert_xaxis()
    ax.set_yscale("symlog", linthresh=max(1, min([s for s in steps if s > 0], default=1)))
    ax.set_yticks([*steps, never])
    ax.set_yticklabels([*(str(s) for s in steps), "never"])
    ax.minorticks_off()
    ax.set(xlabel="weights remaining (%)", ylabel="rewind step k (iterations)", title=title)
    ax.legend(title=None, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def by_density(ds: xr.Dataset, what: str = "instability", title: str = "") -> plt.Figure:
    """Appendix E: test instability (pp) or test error (%) of each subnetwork against the rewind
    step k, one panel per density of a ``sparsity_grid`` result."""
    sns.set_theme(style="whitegrid", context="notebook")
    if what == "instability":
        values, label = ds.instability.sel(split="test"), "test instability (pp)"
    else:
        ends = xr.concat([ds.error.isel(alpha=0), ds.error.isel(alpha=-1)], dim="copy")
        values, label = ends.sel(split="test").rename("error"), "test error (%)"
    frame = values.rename("value").to_dataframe().reset_index()
    remaining = {int(n): f"{100 * float(d):.1f}%" for n, d in zip(ds.level.values, ds.nominal_density.values)}
    frame["weights remaining"] = frame["level"].map(remaining)
    grid = sns.relplot(frame, x="rewind_step", y="value", hue="subnetwork", palette=SUBNETWORK_PALETTE,
                       col="weights remaining", col_wrap=min(4, ds.sizes["level"]), kind="line",
                       errorbar="sd", marker="o", height=2.6, aspect=1.1)
    for ax in grid.axes.flat:
        _rewind_axis(ax, sorted(int(k) for k in ds.rewind_step.values))
        if what == "instability":
            ax.axhline(2.0, color="grey", linestyle="--", linewidth=1)
    grid.set_titles("{col_name} of weights")
    grid.set_axis_labels("rewind step k", label)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid.figure


def instability_diagram() -> plt.Figure:
    """The paper's Figure 1 idea, drawn as a schematic (no data): one initialization W₀
    trained to step k, two copies trained to T on different data orders, and the error
    along the straight line between them (instability = peak minus mean of the ends)."""
    import numpy as np

    sns.set_theme(style="white", context="notebook")
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.15, 1]})
    trunk = np.array([[0.0, 0.0], [0.25, 0.22], [0.45, 0.3]])
    left.plot(*trunk.T, color="#404040", linewidth=2.5)
    ends = {"copy 1: data order 1": (np.array([0.62, 0.8, 0.98]), np.array([0.5, 0.7, 0.8])),
            "copy 2: data order 2": (np.array([0.62, 0.8, 1.0]), np.array([0.16, 0.02, -0.05]))}
    for (label, (x, y)), colour in zip(ends.items(), ("#2c7bb6", "#fdae61")):
        x, y = np.r_[0.45, x], np.r_[0.3, y]
        left.plot(x, y, color=colour, linewidth=2.5, label=label)
    left.plot([0.98, 1.0], [0.8, -0.05], color=PALETTE["test"], linestyle="--", linewidth=1.8,
              label="linear path W(α)")
    points = {"$W_0$ (init)": (0.0, 0.0), "$W_k$": (0.45, 0.3), "$W_T^1$": (0.98, 0.8), "$W_T^2$": (1.0, -0.05)}
    for name, (x, y) in points.items():
        left.plot(x, y, "o", color="black", markersize=6)
        left.annotate(name, (x, y), textcoords="offset points", xytext=(-6, 9), ha="right")
    left.annotate("train to step k", (0.22, 0.2), textcoords="offset points", xytext=(4, -18), fontsize=9)
    left.set(xlim=(-0.25, 1.3), ylim=(-0.3, 1.05), xticks=[], yticks=[],
             title="instability analysis at step k (schematic)")
    left.legend(frameon=False, loc="upper left", fontsize=9)
    sns.despine(ax=left, left=True, bottom=True)

    alpha = np.linspace(0, 1, 30)
    unstable = 8 + 70 * np.sin(np.pi * alpha) ** 2
    stable = 8 + 0.6 * np.sin(np.pi * alpha)
    right.plot(alpha, unstable, color=PALETTE["test"], marker="o", markersize=3, label="unstable: error rises")
    right.plot(alpha, stable, color=SUBNETWORK_PALETTE["imp"], marker="o", markersize=3,
               label="stable: rise < 2 pp")
    right.annotate("", xy=(0.5, 78), xytext=(0.5, 8), arrowprops={"arrowstyle": "<->", "color": "black"})
    right.text(0.53, 18, "instability =\nmax − mean(ends)", fontsize=9)
    right.set(xlabel="interpolation coefficient α", ylabel="test error (%)", xlim=(0, 1), ylim=(0, 92),
              title="error along the path (schematic)")
    right.legend(frameon=False, loc="upper right", fontsize=9)
    fig.tight_layout()
    return fig


FAMILY_PALETTE = {"none": "#404040", "signs / magnitudes": "#7b3294", "permute": "#d7191c",
                  "permute (same sign)": "#fdae61", "noise": "#2c7bb6",
                  "early phase on another task": "#1a9641"}
NETWORK_PALETTE = {k: SUBNETWORK_PALETTE[k] for k in ("dense", "imp")}


def early_phase_telemetry(ds: xr.Dataset, rewind_step: int | None = None, title: str = "") -> plt.Figure:
    """Frankle et al. 2020 Figure 3: the state of the dense network and the IMP subnetwork over
    the first steps (test accuracy and loss, mean ``|w|``, signs changed since initialization,
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
    """Error (%) along the path with batch-norm statistics interpolated (our default) and
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


def standin_search(frame, title: str = "") -> plt.Figure:
    """The stand-in search (``standin_search.curves``): for each candidate, its IMP subnetwork's test
    instability (pp, left) and test accuracy minus the full network's (pp, right) against the rewind
    step k as % of T, mean ± 1 std over pairs. Dashed: the 2 pp stability threshold and no gap; the
    dotted line marks 10% of T, the latest k at which rewinding counts as a rescue."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for ax, column, label, line in ((axes[0], "instability", "IMP test instability (pp)", 2.0),
                                    (axes[1], "gap", "IMP − full test accuracy (pp)", 0.0)):
        sns.lineplot(frame, x="k (% of T)", y=column, hue="candidate", errorbar="sd", marker="o", ax=ax,
                     legend=ax is axes[1])
        ax.axhline(line, color="grey", linestyle="--", linewidth=1)
        ax.axvline(10, color="black", linestyle=":", linewidth=1)
        ax.set(xlabel="rewind step k (% of T)", ylabel=label)
    axes[1].legend(title=None, frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
