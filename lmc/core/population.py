"""Population training: P independent runs of one network trained as one batched model.

An instability experiment trains many copies of one small network that differ only in
their seeds (data order, initialization, mask). Here they share one forward and one
backward pass: the members' parameters and buffers are stacked along a leading
dimension and the model is applied to each member's own batch with
``torch.func.vmap`` over ``functional_call``. Each member keeps its own data order,
augmentation, batch-norm statistics and optimizer state: Adam and SGD update every
entry independently, so one optimizer over the stacked tensors performs each member's
own update. A member's trajectory equals that of the same run trained alone up to
floating-point rounding (batched and single matrix products round differently).

On a GPU this turns many small, latency-bound runs into one large one, and populations
are on by default there. On a CPU they are off by default, for two measured reasons
(``benchmarks/population.py``, 2 cores): the gain is small where there is one (18
LeNet-300-100s: 1.4× the model-steps/s of training them one after another) and negative
for the convolutional stand-in (6 ResNet-20s of width 4: 0.5×, as vmap turns their
convolutions into grouped ones); and a member's numbers depend, at the level of
floating-point rounding, on the size of the population it trained in. Training then
amplifies that rounding (it is the SGD noise this paper studies), so a run trained in a
population is not bit-identical to the same run trained alone, or in a population of
another size, though it is the same in distribution. A CPU run trained alone is
bit-for-bit reproducible whatever else is in the cache; that is the default here.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, vmap

from . import data, loop, models, prune
from .errors import ConfigError


def stack(states: list[dict]) -> dict:
    """One state whose tensors stack the members' along a new leading dimension."""
    if any(s.keys() != states[0].keys() for s in states):
        raise ConfigError("population members must be the same network")
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def member(stacked: dict, i: int) -> dict:
    """Member ``i``'s own state (copies, so it outlives the population)."""
    return {k: v[i].clone() for k, v in stacked.items()}


def stack_optimizer(states: list[dict | None]) -> dict | None:
    """The members' optimizer state dicts as one (None when none has state yet).

    Per-parameter tensors are stacked; the step counters must agree (members of a
    population are at the same step).
    """
    if all(s is None for s in states):
        return None
    if any(s is None for s in states):
        raise ConfigError("population members must all have optimizer state or none")
    out = {"param_groups": states[0]["param_groups"], "state": {}}
    for index, entry in states[0]["state"].items():
        out["state"][index] = {}
        for key, value in entry.items():
            values = [s["state"][index][key] for s in states]
            if key == "step":
                if any(not torch.equal(v, value) for v in values):
                    raise ConfigError("population members must be at the same optimizer step")
                out["state"][index][key] = value.clone()
            else:
                out["state"][index][key] = torch.stack(values)
    return out


def member_optimizer(stacked: dict, i: int) -> dict:
    """Member ``i``'s optimizer state dict, in the format of a single run's optimizer."""
    return {"param_groups": stacked["param_groups"],
            "state": {index: {k: (v.clone() if k == "step" else v[i].clone()) for k, v in entry.items()}
                      for index, entry in stacked["state"].items()}}


def _stack_masks(masks, model_states: list[dict], device) -> dict | None:
    """The members' masks stacked (a dense member gets an all-True mask); None if all dense."""
    if masks is None or all(m is None for m in masks):
        return None
    names = sorted({name for m in masks if m is not None for name in m})
    full = [m or {} for m in masks]
    return {n: torch.stack([m[n].to(device) if n in m else torch.ones_like(s[n], dtype=torch.bool, device=device)
                            for m, s in zip(full, model_states, strict=True)]) for n in names}


def member_bytes(hp, device="cpu") -> int:
    """Rough memory one member needs to train: weights, gradients and optimizer state
    (4 copies of the parameters) plus the activations of one batch kept for backward
    (every layer's output, measured with a one-example forward pass)."""
    net = models.build(hp.model)
    params = sum(p.numel() for p in net.parameters()) + sum(b.numel() for b in net.buffers())
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.numel() if torch.is_tensor(o) else 0))
             for m in net.modules() if not list(m.children())]
    shape = (1, *data.entry(hp.dataset).get("shape", (1, 28, 28)))
    with torch.no_grad():
        net.eval()(torch.zeros(shape))
    for h in hooks:
        h.remove()
    return 4 * (4 * params + 2 * hp.batch_size * sum(outputs))


def size_for(hp, budget_bytes: int, device="cpu") -> int:
    """How many members fit in ``budget_bytes`` (at least 1)."""
    return max(1, int(budget_bytes // member_bytes(hp, device)))


def train_population(hp, model_states: list[dict], optimizer_states: list[dict | None],
                     dataset: data.DeviceData, data_seeds: list[int], augment_seeds: list[int],
                     start: int, stop: int, save_at=(), on_save=None,
                     progress: bool | str = True, bf16: bool = False,
                     masks: list | None = None) -> tuple[dict, dict]:
    """Train the members from step ``start`` to ``stop`` as one population.

    Member i starts from ``model_states[i]`` and ``optimizer_states[i]`` (None: fresh)
    and sees the batches of ``data_seeds[i]`` / ``augment_seeds[i]``. ``on_save(step,
    snapshot)`` is called after the steps in ``save_at`` and after ``stop``, where
    ``snapshot(i)`` returns member i's state as a single run stores it. Returns the
    stacked model state and optimizer state dict at ``stop``. ``bf16``: bfloat16 autocast.
    ``masks[i]`` (None: dense) is member i's pruning mask: its pruned weights are zeroed
    before the first step and after every update.
    """
    if isinstance(dataset, data.StreamData):
        raise ConfigError("populations train on in-memory data sets; stream ImageNet runs one at a time")
    if not len(model_states) == len(optimizer_states) == len(data_seeds) == len(augment_seeds):
        raise ConfigError("one state, optimizer state, data seed and augmentation seed per member")
    device = dataset.train_x.device
    base = models.build(hp.model).to(device).train()
    names = {n for n, _ in base.named_parameters()}
    stacked = stack([{k: v.to(device) for k, v in s.items()} for s in model_states])
    params = {k: v.requires_grad_() for k, v in stacked.items() if k in names}
    buffers = {k: v for k, v in stacked.items() if k not in names}
    order = [n for n, _ in base.named_parameters()]
    stacked_mask = _stack_masks(masks, model_states, device)
    if stacked_mask is not None:
        prune.apply(params, stacked_mask)
    optimizer = loop.make_optimizer(hp, [params[n] for n in order])
    opt_state = stack_optimizer(optimizer_states)
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)

    def member_loss(p, b, x, y):
        return models.loss(functional_call(base, (p, b), (x,)), y)

    losses = vmap(member_loss)

    def update(batch, lr: float) -> torch.Tensor:
        x = torch.stack([b[0] for b in batch])
        y = torch.stack([b[1] for b in batch])
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = losses(params, buffers, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # each member's loss depends on its own parameters only
        optimizer.step()
        if stacked_mask is not None:
            prune.apply(params, stacked_mask)
        return loss

    def snapshot(step: int):
        def of(i: int) -> dict:
            live = {**params, **buffers}
            return {"step": step, "model": member({k: live[k].detach() for k in model_states[0]}, i),
                    "optimizer": member_optimizer(optimizer.state_dict(), i)}
        return of

    streams = zip(*[data.batches(dataset, hp.batch_size, d, a, start, stop)
                    for d, a in zip(data_seeds, augment_seeds, strict=True)], strict=True)
    loop.run_steps(hp, dataset.train_size, start, stop, streams, update, save_at,
                   None if on_save is None else (lambda s: on_save(s, snapshot(s))), progress)
    final = {k: v.detach() for k, v in {**params, **buffers}.items()}
    return {k: final[k] for k in model_states[0]}, optimizer.state_dict()
