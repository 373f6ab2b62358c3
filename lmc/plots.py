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
