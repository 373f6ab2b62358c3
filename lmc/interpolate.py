"""Linear interpolation between two trained networks, and instability.

The path is W(α) = (1 − α)·W1 + α·W2 for evenly spaced α in [0, 1], both ends
included (30 points in the paper). Every floating-point entry of the state is
interpolated, batch-norm running statistics included (the paper-faithful default);
integer entries (batch counters) are taken from W1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch.func import functional_call

from .errors import ConfigError

STABLE_BELOW = 2.0  # percentage points: the paper counts instability below 2% as stable


def alphas(n: int = 30) -> np.ndarray:
    """The ``n`` interpolation coefficients α, evenly spaced in [0, 1] with both endpoints."""
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ConfigError(f"need at least 2 interpolation points (both endpoints), got {n!r}; "
                          f"pass an integer ≥ 2 (the paper uses 30)")
    return np.linspace(0.0, 1.0, int(n))


def interpolate(state_a: dict, state_b: dict, alpha: float) -> dict:
    """The state W(α) = (1 − α)·W_a + α·W_b (integer buffers from W_a)."""
    if state_a.keys() != state_b.keys():
        raise ValueError("the two states do not hold the same tensors; are they the same model?")
    return {k: torch.lerp(a, state_b[k], float(alpha)) if a.is_floating_point() else a
            for k, a in state_a.items()}


@torch.no_grad()
def evaluate(model: torch.nn.Module, state: dict, batches) -> tuple[float, float]:
    """(error in %, mean cross-entropy loss) of ``model`` with weights ``state`` over ``batches``.

    ``batches`` is an iterable of (x, y), e.g. ``dataset.eval_batches("test")``.
    """
    model.eval()
    wrong, loss, count = 0, 0.0, 0
    for x, y in batches:
        logits = functional_call(model, state, (x,))
        wrong += int((logits.argmax(1) != y).sum())
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        count += len(y)
    return 100.0 * wrong / count, loss / count


def error_along_path(model: torch.nn.Module, state_a: dict, state_b: dict, dataset,
                     n_alpha: int = 30, splits=("train", "test")) -> xr.Dataset:
    """Error (%) and loss at each α on the linear path between two trained networks.

    Returns a Dataset with variables ``error`` and ``loss`` over dims (``split``, ``alpha``).
    """
    grid = alphas(n_alpha)
    error = np.zeros((len(splits), len(grid)))
    loss = np.zeros_like(error)
    for j, alpha in enumerate(grid):
        state = interpolate(state_a, state_b, alpha)
        for i, split in enumerate(splits):
            error[i, j], loss[i, j] = evaluate(model, state, dataset.eval_batches(split))
    coords = {"split": list(splits), "alpha": grid}
    return xr.Dataset({"error": (("split", "alpha"), error, {"units": "%"}),
                       "loss": (("split", "alpha"), loss, {"units": "nats"})}, coords=coords)


def instability(error: xr.DataArray, dim: str = "alpha") -> xr.DataArray:
    """Instability: max error along the path minus the mean of the two endpoint errors."""
    if error.sizes.get(dim, 0) < 2:
        raise ConfigError(f"instability needs at least 2 points along {dim!r}")
    endpoints = (error.isel({dim: 0}) + error.isel({dim: -1})) / 2
    return error.max(dim) - endpoints
