"""Linear interpolation between two trained networks, and instability.

The path is W(α) = (1 − α)·W1 + α·W2 for evenly spaced α in [0, 1], both ends
included (30 points in the paper). Every floating-point entry of the state is
interpolated, batch-norm running statistics included. The paper says nothing about
batch-norm statistics along the path; this default is our choice (the plain reading of
W(α) as every entry of the state mixed, with nothing re-estimated), and chapter b4
measures it against the alternative;
integer entries (batch counters) are taken from W1. As an option
(``BatchNormRecompute``) the running statistics are instead reset at each α and
re-estimated on a fixed set of training batches drawn from a seeded stream, the
usual repair for interpolated networks with batch norm; for a network without batch
norm the option changes nothing.

All α points are evaluated together (``error_along_path``): the interpolated
networks form a population evaluated with ``torch.func.vmap`` in one pass over
the data, and the first layer, linear in its weights, is computed once per batch
for each end of the path and mixed: f(x; W(α)) = (1 − α)·f(x; W1) + α·f(x; W2).
For LeNet-300-100 that layer holds 88% of the weights, so most of the work is
done twice instead of 30 times. ``evaluate`` of one state at a time is the
reference the batched path is tested against.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import xarray as xr
from torch.func import functional_call, vmap

from . import data, identity, models
from .errors import ConfigError
from .identity import always

STABLE_BELOW = 2.0  # percentage points: the paper counts instability below 2% as stable
PATH_BATCH = 1_000  # examples per pass when all α are evaluated together (fastest of 250-2,000 on 2 CPU cores)


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


class _PathInput(nn.Module):
    """The first layer along the path: lerp(f(x; W1), f(x; W2), α), exact because f is
    linear in its weights and bias. Under ``vmap`` over α only ``alpha`` is batched,
    so both ends are computed once per batch and shared by every α."""

    def __init__(self, layer: nn.Module, end_a: dict, end_b: dict):
        super().__init__()
        self.layer, self.ends = layer, (end_a, end_b)
        self.register_buffer("alpha", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = (functional_call(self.layer, end, (x,)) for end in self.ends)
        return torch.lerp(a, b, self.alpha)


def _path_model(model: nn.Module, state_a: dict, state_b: dict) -> tuple[nn.Module, str]:
    """A copy of ``model`` whose first layer is a ``_PathInput`` between the two states."""
    name = models.first_layer_name(model)
    layer = model.get_submodule(name)
    ends = [{k: s[f"{name}.{k}"] for k, _ in layer.named_parameters()} for s in (state_a, state_b)]
    path = copy.deepcopy(model)
    parent, _, child = name.rpartition(".")
    setattr(path.get_submodule(parent) if parent else path, child, _PathInput(layer, *ends))
    return path, name


@torch.no_grad()
def evaluate_path(model: nn.Module, state_a: dict, state_b: dict, grid, batches,
                  alpha_chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(error in %, mean loss) at every α of ``grid``, all α evaluated in one pass over ``batches``.

    ``alpha_chunk`` bounds how many interpolated networks are evaluated at once (memory);
    None evaluates the whole grid together.
    """
    if state_a.keys() != state_b.keys():
        raise ValueError("the two states do not hold the same tensors; are they the same model?")
    if isinstance(model, models.LeNet):
        return _lenet_path(model, state_a, state_b, grid, batches)
    return _vmap_path(model, state_a, state_b, grid, batches, alpha_chunk)


def _vmap_path(model: nn.Module, state_a: dict, state_b: dict, grid, batches,
               alpha_chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``evaluate_path`` for any network: the α grid as a population under ``vmap``, the first
    layer computed once per end of the path (``_PathInput``)."""
    path, first = _path_model(model, state_a, state_b)
    path.eval()
    grid = torch.as_tensor(np.asarray(grid), dtype=torch.float32)
    chunks = grid.split(alpha_chunk or len(grid))
    floats = {k: (a, state_b[k]) for k, a in state_a.items()
              if a.is_floating_point() and not k.startswith(first + ".")}
    fixed = {k: a for k, a in state_a.items() if not a.is_floating_point()}

    def measure(mixed: dict, x: torch.Tensor, y: torch.Tensor):
        logits = functional_call(path, {**mixed, **fixed}, (x,))
        return (logits.argmax(1) != y).sum(), F.cross_entropy(logits, y, reduction="sum")

    batched = vmap(measure, in_dims=(0, None, None))
    wrong = torch.zeros(len(grid), dtype=torch.float64)
    loss = torch.zeros(len(grid), dtype=torch.float64)
    count = 0
    for x, y in batches:
        done = 0
        for chunk in chunks:
            dev = chunk.to(x.device)
            mixed = {k: torch.lerp(a.unsqueeze(0), b.unsqueeze(0), dev.view(-1, *[1] * a.dim()).to(a.dtype))
                     for k, (a, b) in floats.items()}
            mixed[f"{first}.alpha"] = dev
            w, l = batched(mixed, x, y)
            wrong[done:done + len(chunk)] += w.cpu().double()
            loss[done:done + len(chunk)] += l.cpu().double()
            done += len(chunk)
        count += len(y)
    return (100.0 * wrong / count).numpy(), (loss / count).numpy()


def _lenet_path(model: "models.LeNet", state_a: dict, state_b: dict, grid, batches) -> tuple[np.ndarray, np.ndarray]:
    """``evaluate_path`` written out for LeNet's chain of linear layers: the first layer's two
    ends are mixed in place (one pass over the n_α × batch × width activations), every later
    layer is one ``baddbmm`` over α with its weights mixed once per path, not once per batch.
    Measured against the generic ``vmap`` path in ``benchmarks/interpolation.py``."""
    names = [f"fc_layers.{i}" for i in range(len(model.fc_layers))] + ["fc"]
    first, later = names[0], names[1:]
    g = torch.as_tensor(np.asarray(grid), dtype=state_a[f"{first}.weight"].dtype,
                        device=state_a[f"{first}.weight"].device).view(-1, 1, 1)
    mixed = [(torch.lerp(state_a[f"{n}.bias"], state_b[f"{n}.bias"], g),  # (n_α, 1, out)
              torch.lerp(state_a[f"{n}.weight"], state_b[f"{n}.weight"], g).transpose(1, 2))  # (n_α, in, out)
             for n in later]
    wrong = torch.zeros(len(g), dtype=torch.float64)
    loss = torch.zeros(len(g), dtype=torch.float64)
    count = 0
    for x, y in batches:
        x = x.flatten(1)
        ends = [F.linear(x, s[f"{first}.weight"], s[f"{first}.bias"]) for s in (state_a, state_b)]
        h = torch.lerp(ends[0].unsqueeze(0), ends[1].unsqueeze(0), g).relu_()
        for i, (bias, weight) in enumerate(mixed):
            h = torch.baddbmm(bias, h, weight)
            if i < len(mixed) - 1:
                h.relu_()
        wrong += (h.argmax(2) != y).sum(1).cpu().double()
        loss += F.cross_entropy(h.flatten(0, 1), y.repeat(len(g)), reduction="none").view(len(g), -1).sum(1).cpu().double()
        count += len(y)
    return (100.0 * wrong / count).numpy(), (loss / count).numpy()


def batch_alphas(model: nn.Module, device) -> bool:
    """Whether to evaluate all α together (``evaluate_path``) or loop over α.

    Together on a GPU, and on a CPU for networks without convolutions: on 2 CPU cores
    LeNet-300-100's 30-α grid is about 4.7× faster together, while ``vmap`` turns the
    stand-in ResNet's convolutions into grouped ones that run about 2× slower than the
    loop (``benchmarks/interpolation.py``).
    """
    if str(device).startswith("cuda"):
        return True
    return not models.is_convolutional(model)


@dataclass(frozen=True)
class BatchNormRecompute:
    """Recompute batch-norm running statistics at each α (off by default: our default
    interpolates them; the paper does not say; chapter b4 compares the two). ``batches`` training batches of ``batch_size`` examples, in the
    order of the ``data_order`` stream of ``seed`` (augmented as in training where the data
    set augments), are the same at every α; the statistics are their plain average."""

    batches: int = 20
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self):
        for name in ("batches", "batch_size", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise ConfigError(f"BatchNormRecompute {name} must be an integer ≥ {0 if name == 'seed' else 1}, "
                                  f"got {value!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def draw(self, dataset) -> list:
        """The fixed training batches (x, y) the statistics are estimated on."""
        return list(data.batches(dataset, self.batch_size, self.seed, self.seed, 0, self.batches))


def has_batch_norm(model: nn.Module) -> bool:
    """Whether the network has batch-norm layers (running statistics to recompute)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, state: dict, batches) -> dict:
    """``state`` with every batch-norm running mean and variance reset and re-estimated on
    ``batches`` (forward passes in training mode, weights unchanged, equal weight per batch).
    Other entries are returned as they are; a network without batch norm gets ``state`` back."""
    if not has_batch_norm(model):
        return state
    net = copy.deepcopy(model)
    net.load_state_dict(state)
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches
    net.train()
    for x, _ in batches:
        net(x)
    fresh = net.state_dict()
    stats = ("running_mean", "running_var", "num_batches_tracked")
    return {k: fresh[k] if k.rsplit(".", 1)[-1] in stats else v for k, v in state.items()}


def error_along_path(model: torch.nn.Module, state_a: dict, state_b: dict, dataset,
                     n_alpha: int = 30, splits=("train", "test"), batched: bool | None = None,
                     batch_norm: BatchNormRecompute | None = None) -> xr.Dataset:
    """Error (%) and loss at each α on the linear path between two trained networks.

    ``batched`` evaluates all α together (``evaluate_path``); False loops over α with
    ``evaluate`` (the reference); None chooses the faster (``batch_alphas``). Both count
    the same errors up to floating-point rounding of the mixed weights. ``batch_norm``:
    recompute the running statistics at each α (``BatchNormRecompute``; loops over α; no
    effect for a network without batch norm). Returns a Dataset with variables ``error``
    and ``loss`` over dims (``split``, ``alpha``).
    """
    grid = alphas(n_alpha)
    if batch_norm is not None and not isinstance(batch_norm, BatchNormRecompute):
        raise ConfigError(f"batch_norm must be None or a BatchNormRecompute, got {batch_norm!r}")
    if batched is None:
        batched = batch_alphas(model, next(iter(state_a.values())).device)
    error = np.zeros((len(splits), len(grid)))
    loss = np.zeros_like(error)
    if batch_norm is not None and has_batch_norm(model):
        fixed = batch_norm.draw(dataset)
        for j, alpha in enumerate(grid):
            state = recompute_batch_norm(model, interpolate(state_a, state_b, alpha), fixed)
            for i, split in enumerate(splits):
                error[i, j], loss[i, j] = evaluate(model, state, dataset.eval_batches(split))
        splits = list(splits)
        return xr.Dataset({"error": (("split", "alpha"), error, {"units": "%"}),
                           "loss": (("split", "alpha"), loss, {"units": "nats"})},
                          coords={"split": splits, "alpha": grid})
    for i, split in enumerate(splits):
        if batched:
            error[i], loss[i] = evaluate_path(model, state_a, state_b, grid,
                                              dataset.eval_batches(split, PATH_BATCH))
            continue
        for j, alpha in enumerate(grid):
            error[i, j], loss[i, j] = evaluate(model, interpolate(state_a, state_b, alpha),
                                               dataset.eval_batches(split))
    coords = {"split": list(splits), "alpha": grid}
    return xr.Dataset({"error": (("split", "alpha"), error, {"units": "%"}),
                       "loss": (("split", "alpha"), loss, {"units": "nats"})}, coords=coords)


@dataclass(frozen=True)
class PathKey:
    """What a cached path between two trained runs is (``store.cached``): the runs, the step both
    are taken at, the α grid and the evaluation sets; its identity names the cache entry, so every
    experiment that asks for the same path finds the same one."""

    runs: tuple[str, ...]     # the two runs' hashes
    step: int                 # the step both are taken at
    n_alpha: int              # points on the path (``alphas``)
    train_subset: int | None  # train error on the first N training examples (None: all trained on)
    test_subset: int | None   # test error on the first N test examples (None: all)
    kind: str = always("interpolate")
    evaluation: str | None = None  # "batched": all α evaluated together, which rounds otherwise than the α loop
    batch_norm: dict | None = None  # {"recompute": BatchNormRecompute.as_dict()} when statistics are recomputed


def path_key(runs, step: int, n_alpha: int, train_subset: int | None, test_subset: int | None,
             batched: bool = False, batch_norm: BatchNormRecompute | None = None) -> dict:
    """The identity (``PathKey``) of the path between the runs with hashes ``runs`` at ``step``,
    evaluated on ``n_alpha`` points (all at once if ``batched``) with ``batch_norm`` recomputed if given."""
    return identity.as_dict(PathKey(tuple(runs), step, n_alpha, train_subset, test_subset,
                                    evaluation="batched" if batched else None,
                                    batch_norm=None if batch_norm is None else {"recompute": batch_norm.as_dict()}))


def instability(error: xr.DataArray, dim: str = "alpha") -> xr.DataArray:
    """Instability: max error along the path minus the mean of the two endpoint errors."""
    if error.sizes.get(dim, 0) < 2:
        raise ConfigError(f"instability needs at least 2 points along {dim!r}")
    endpoints = (error.isel({dim: 0}) + error.isel({dim: -1})) / 2
    return error.max(dim) - endpoints
