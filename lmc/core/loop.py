"""The training loop: learning-rate schedules, optimizers, the GPU speed-ups (``Accel``), and
``run_steps``, the loop single runs (``train``) and populations (``lmc.core.population``) share.

It trains a model it is given from a step to a step on the batches of a data order; where
a run starts, what it trains on and what is stored is ``lmc.core.train``'s business.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from . import data, hparams, models, prune
from .errors import ConfigError


def lr_schedule(hp: hparams.Hparams, train_size: int):
    """The learning rate as a function of the step: linear warmup, then ×gamma at each drop
    (or, with ``lr_end``, a linear decay to ``lr_end`` at the end of training).

    Step strings are converted once here, not at every training step.
    """
    warmup = hparams.to_steps(hp.warmup_steps, hp, train_size)
    total = hparams.to_steps(hp.training_steps, hp, train_size)
    drops = [hparams.to_steps(s, hp, train_size) for s in hp.lr_drops]

    def rate(step: int) -> float:
        if step < warmup:
            return hp.lr * (step + 1) / warmup
        if hp.lr_end is not None:
            return hp.lr + (hp.lr_end - hp.lr) * (step - warmup) / max(1, total - warmup)
        return hp.lr * hp.gamma ** sum(step >= d for d in drops)

    return rate


def learning_rate(hp: hparams.Hparams, step: int, train_size: int) -> float:
    """The learning rate used at ``step`` (see ``lr_schedule``)."""
    return lr_schedule(hp, train_size)(step)


def make_optimizer(hp: hparams.Hparams, params) -> torch.optim.Optimizer:
    """The optimizer of Table 1 for these hyperparameters.

    The fused kernels compute the same update as the textbook loop in one pass over
    all parameters (measured 1.3–1.5× more LeNet steps/s on a 2-core CPU).
    """
    if hp.optimizer == "adam":
        return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay,
                           fused=True)


@dataclass(frozen=True)
class Accel:
    """Speed-ups for a GPU, each switchable (``accel_for`` gives the defaults).

    ``bf16``: autocast matrix products and convolutions to bfloat16. It changes the
    numbers (the paper trains in float32), so it is off by default on every device and
    preset, only on when asked for, and part of a run's identity
    (``run_config(precision="bf16")``).
    ``channels_last``: NHWC memory layout for convolutional networks. ``compile``:
    ``torch.compile`` the model for single runs. These two change only the order of
    floating-point operations, are on by default on CUDA, and are recorded in the
    results, not in run identities.
    """

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @property
    def precision(self) -> str:
        """The ``precision`` a run trained with these speed-ups has in its identity."""
        return "bf16" if self.bf16 else "float32"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def accel_defaults(device) -> dict[str, bool]:
    """The default speed-ups for ``device``: channels_last and compile on for CUDA (they
    change only the order of floating-point sums), off for the CPU; bf16 off everywhere
    (it changes what is computed; the paper's protocol is float32)."""
    cuda = str(device).startswith("cuda")
    return {"bf16": False, "channels_last": cuda, "compile": cuda}


def accel_for(device, **switches) -> Accel:
    """The speed-ups for ``device`` (``accel_defaults``), with ``switches`` (``bf16=True``
    ...) overriding the default; None leaves a default in place."""
    unknown = set(switches) - set(Accel.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown speed-up {sorted(unknown)}; valid: {', '.join(Accel.__dataclass_fields__)}")
    default = accel_defaults(device)
    chosen = {k: default[k] if switches.get(k) is None else bool(switches[k]) for k in Accel.__dataclass_fields__}
    return Accel(**chosen)


def _autocast(device, accel: Accel):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=accel.bf16)


def run_steps(hp: hparams.Hparams, n: int, start: int, stop: int, steps, update, save_at=(), on_save=None,
              progress: bool | str = True):
    """The training loop shared by single runs and populations.

    For each step in ``start`` .. ``stop`` - 1 takes the next item of ``steps`` and calls
    ``update(batch, lr)`` with the scheduled learning rate (``n`` training examples set
    the epoch length); after steps in ``save_at`` and after ``stop`` calls ``on_save(step)``.
    Returns the last value ``update`` returned.
    """
    save_at = {s for s in save_at if start < s < stop} | {stop}
    rate = lr_schedule(hp, n)
    out = None
    bar = tqdm(total=stop - start, disable=not progress, leave=False,
               desc=progress if isinstance(progress, str) else "train", mininterval=1.0)
    for step, batch in zip(range(start, stop), steps, strict=True):
        out = update(batch, rate(step))
        bar.update()
        if step + 1 in save_at and on_save is not None:
            on_save(step + 1)
    bar.close()
    return out


def train(hp: hparams.Hparams, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          dataset: data.DeviceData, data_seed: int, start: int, stop: int,
          save_at=(), on_save=None, progress: bool | str = True,
          augment_seed: int | None = None, accel: Accel = Accel(), mask: prune.Mask | None = None) -> float:
    """Train ``model`` in place from step ``start`` to ``stop``; returns the last step's loss.

    Batches come from ``data.batches`` (order from ``data_seed``, augmentation from
    ``augment_seed``, which defaults to ``data_seed``). At each step in ``save_at``
    (and at ``stop``) ``on_save(step)`` is called after the update. ``accel`` switches
    the GPU speed-ups (``Accel``). With a pruning ``mask`` the pruned weights are zeroed
    before the first step and after every update, so they stay exactly zero.
    """
    augment_seed = data_seed if augment_seed is None else augment_seed
    model.train()
    weights = dict(model.named_parameters())
    if mask is not None:
        prune.apply(weights, mask)
    layout = torch.channels_last if accel.channels_last and models.is_convolutional(model) else None
    if layout is not None:
        model.to(memory_format=layout)
    forward = torch.compile(model) if accel.compile else model
    device = next(model.parameters()).device

    def update(batch, lr: float) -> torch.Tensor:
        x, y = batch
        if layout is not None:
            x = x.contiguous(memory_format=layout)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with _autocast(device, accel):
            loss = models.loss(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if mask is not None:
            prune.apply(weights, mask)
        return loss

    steps = data.batches(dataset, hp.batch_size, data_seed, augment_seed, start, stop)
    loss = run_steps(hp, dataset.train_size, start, stop, steps, update, save_at, on_save, progress)
    return float(loss.detach()) if loss is not None else 0.0
