"""Training: iteration-based schedules, seeded data order, checkpoints, resumable runs.

Time has a type: steps are written ``"500it"``, ``"2ep"`` or ``"1ep500it"`` and
converted with the data set's iterations per epoch in one place (``to_steps``).
A training *run* is a trajectory: a starting state (a fresh initialization, or
another run's full state at step k) and a data order. ``state_at(run, step)``
returns its state at any step, training forward from the nearest checkpoint and
caching what it computes through ``lmc.core.store``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from . import data, models, population, prune, store
from .errors import ConfigError, choose

OPTIMIZERS = ("adam", "sgd")
# What a copy that starts from another run's state at step k does with that run's optimizer state
# (Adam's moments, SGD's momentum buffer). "fresh" (the default, for every kind of copy: dense,
# IMP, random pruning): a new optimizer, as in open_lth, where a branch or level loads only the
# model's weights at k (models.registry.load) and standard_train builds a new optimizer
# (training/train.py). "inherit": the copy continues the parent's optimizer state.
OPTIMIZER_AT_K = ("fresh", "inherit")
PRECISIONS = ("float32", "bf16")
LATER_FIELDS = ("lr_end", "image_size")  # fields added after runs were first stored (see Hparams.as_dict)


@dataclass(frozen=True)
class Hparams:
    """Everything that determines a training run's numbers (one row of the paper's Table 1)."""

    model: str = "lenet_300_100"          # network name in lmc.core.models
    dataset: str = "mnist"                # data set name in data_manifest.yaml
    optimizer: str = "adam"               # "adam" or "sgd" (with momentum)
    lr: float = 1.2e-3                    # peak learning rate
    momentum: float = 0.0                 # SGD momentum
    weight_decay: float = 0.0             # L2 penalty added by the optimizer
    batch_size: int = 60                  # examples per step
    training_steps: str = "24000it"       # T, as a step string
    lr_drops: tuple[str, ...] = ()        # steps at which the learning rate is multiplied by gamma
    gamma: float = 0.1                    # learning-rate drop factor
    warmup_steps: str = "0it"             # linear warmup from 0 to lr over this many steps
    lr_end: float | None = None           # if set: after warmup, decay linearly to lr_end at T
    train_subset: int | None = None       # train on the first N training examples only (smoke tests)
    image_size: int | None = None         # images average-pooled to this side (None: the data set's own)

    def __post_init__(self):
        choose("optimizer", self.optimizer, OPTIMIZERS)
        if self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"batch_size must be ≥ 1 and lr > 0, got {self.batch_size} and {self.lr}")
        for s in (self.training_steps, self.warmup_steps, *self.lr_drops):
            parse_step(s)

    def replace(self, **changes) -> "Hparams":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain JSON-able fields (for hashing and provenance).

        Fields added after the first release enter only when they differ from their
        default (open_lth's rule), so adding a field keeps every stored run valid.
        """
        d = dataclasses.asdict(self)
        d["lr_drops"] = list(self.lr_drops)
        for name in LATER_FIELDS:
            if d[name] == Hparams.__dataclass_fields__[name].default:
                del d[name]
        return d


_STEP = re.compile(r"^\s*(?:(\d+)\s*ep)?\s*(?:(\d+)\s*it)?\s*$")


def parse_step(step: str | int) -> tuple[int, int]:
    """(epochs, iterations) of a step string such as ``"2ep"``, ``"500it"`` or ``"1ep500it"``.

    A bare non-negative integer (or a string of digits) counts iterations.
    """
    if isinstance(step, str) and step.strip().isdigit():
        step = int(step)
    if isinstance(step, int) and not isinstance(step, bool) and step >= 0:
        return 0, step
    m = _STEP.match(step) if isinstance(step, str) else None
    if not m or not (m.group(1) or m.group(2)):
        raise ConfigError(f"malformed step {step!r}; write steps as '500it', '2ep' or '1ep500it'")
    return int(m.group(1) or 0), int(m.group(2) or 0)


def iterations_per_epoch(hp: Hparams, train_size: int) -> int:
    """Steps in one pass over the training set (the last batch of an epoch may be partial)."""
    return math.ceil(train_size / hp.batch_size)


def train_size(hp: Hparams) -> int:
    """Number of training examples the recipe trains on (its subset, or the whole training set)."""
    return hp.train_subset or data.entry(hp.dataset)["splits"]["train"]["size"]


def image_size(hp: Hparams) -> int | None:
    """The side of the recipe's input images: its ``image_size``, else the model's for streamed
    data sets (``models.IMAGE_SIZE``), else None (the data set's own)."""
    return hp.image_size or models.IMAGE_SIZE.get(hp.model)


def to_steps(step: str | int, hp: Hparams, train_size: int) -> int:
    """A step string converted to a number of iterations."""
    epochs, its = parse_step(step)
    return epochs * iterations_per_epoch(hp, train_size) + its


def total_steps(hp: Hparams) -> int:
    """T: the training length of ``hp`` in iterations (epochs count its full training set)."""
    return to_steps(hp.training_steps, hp, train_size(hp))


def lr_schedule(hp: Hparams, train_size: int):
    """The learning rate as a function of the step: linear warmup, then ×gamma at each drop
    (or, with ``lr_end``, a linear decay to ``lr_end`` at the end of training).

    Step strings are converted once here, not at every training step.
    """
    warmup = to_steps(hp.warmup_steps, hp, train_size)
    total = to_steps(hp.training_steps, hp, train_size)
    drops = [to_steps(s, hp, train_size) for s in hp.lr_drops]

    def rate(step: int) -> float:
        if step < warmup:
            return hp.lr * (step + 1) / warmup
        if hp.lr_end is not None:
            return hp.lr + (hp.lr_end - hp.lr) * (step - warmup) / max(1, total - warmup)
        return hp.lr * hp.gamma ** sum(step >= d for d in drops)

    return rate


def learning_rate(hp: Hparams, step: int, train_size: int) -> float:
    """The learning rate used at ``step`` (see ``lr_schedule``)."""
    return lr_schedule(hp, train_size)(step)


def make_optimizer(hp: Hparams, params) -> torch.optim.Optimizer:
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


def run_steps(hp: Hparams, n: int, start: int, stop: int, steps, update, save_at=(), on_save=None,
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


def train(hp: Hparams, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
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


# --- runs: trajectories cached in the store -------------------------------------------------

def run_config(hp: Hparams, data_seed: int, init_seed: int | None = None,
               parent: store.Run | None = None, parent_step: int | None = None,
               augment_seed: int | None = None, reset_schedule: bool = False,
               precision: str = "float32", mask: str | None = None,
               fresh_optimizer: bool = True, reinit: int = 0, perturb: dict | None = None,
               task: str | None = None, start_mask: str | None = None) -> dict:
    """The identity of a training run: hyperparameters, where it starts, and its data order.

    It starts either from a fresh initialization (``init_seed``) or from the training
    state (weights, schedule position) of ``parent`` at ``parent_step``, with a new optimizer
    state (``fresh_optimizer``, the default and open_lth's rule; recorded in the identity as
    ``start.fresh_optimizer``) or, with ``fresh_optimizer=False``, the parent's (no field). Augmentation follows ``augment_seed`` (default: the data seed;
    only a different value enters the identity, so existing runs keep their hash).
    ``reset_schedule`` (Figure 4): the copy starts from the parent's state at
    ``parent_step`` but its own clock, data epochs and learning-rate schedule restart
    at step 0, so it trains for the full T steps. ``precision`` "bf16" trains with
    bfloat16 autocast (``Accel.bf16``); only that value enters the identity.

    Sparse runs (IMP): ``mask`` is the hash of a stored mask (``prune.stored``); the run
    starts from the parent's weights at ``parent_step`` with the pruned ones zeroed and
    keeps them zero (the schedule resumes at the step).
    ``start_mask``: the hash of another stored mask applied to the parent's weights first (random
    pruning starts from the IMP level's m_IMP ⊙ W_k, as open_lth's branch does), then ``mask``.
    ``reinit`` > 0 with ``init_seed``: random reinitialization (Table 2), the
    ``reinit``-th independent draw of new weights, trained from step ``parent_step``.
    ``perturb``: a perturbation of the starting weights (``lmc.studies.early_phase.perturbation``),
    applied after the mask; only a given one enters the identity. ``task``: train on an altered
    task instead of the data set's labels (``lmc.studies.early_phase.TASKS``: random labels, rotation
    prediction, blurred images; the early phase of Frankle et al. 2020 §5); only a given one
    enters the identity.
    """
    choose("precision", precision, PRECISIONS)
    if (init_seed is None) == (parent is None):
        raise ValueError("a run starts from either init_seed or a parent run, not both")
    if parent is None:
        start = {"init_seed": int(init_seed)}
        if reinit:  # random reinitialization: another draw of the init stream, from step parent_step
            start.update(reinit=int(reinit), step=int(parent_step or 0))
    else:
        start = {"parent": parent.hash, "step": int(parent_step)}
    if reset_schedule and parent_step != 0:  # from step 0 there is nothing to reset
        if parent is None:
            raise ValueError("reset_schedule applies to a run that starts from a parent")
        start["reset_schedule"] = True
    if fresh_optimizer and parent is not None:
        start["fresh_optimizer"] = True
    if start_mask is not None:
        if parent is None or mask is None:
            raise ConfigError("start_mask applies to a masked run that starts from a parent's state")
        start["start_mask"] = str(start_mask)
    if perturb is not None:
        if parent is None:
            raise ConfigError("a perturbation applies to a run that starts from a parent's state at a step")
        from ..studies import early_phase  # early_phase builds on this module

        start["perturb"] = early_phase.perturbation(**perturb)
    config = {"kind": "train", "hparams": hp.as_dict(), "start": start, "data_seed": int(data_seed)}
    if augment_seed is not None and augment_seed != data_seed:
        config["augment_seed"] = int(augment_seed)
    if precision != "float32":
        config["precision"] = precision
    if mask is not None:
        config["mask"] = str(mask)
    if task is not None:
        from ..studies import early_phase

        config["task"] = choose("task", task, early_phase.TASKS)
    return config


def mask_of(run: store.Run, device="cpu") -> prune.Mask | None:
    """The pruning mask a run trains with (None: dense)."""
    return prune.load(run.config["mask"], device) if "mask" in run.config else None


def run_accel(run: store.Run, accel: Accel | None, device) -> Accel:
    """The speed-ups a run trains with: ``accel`` (default: the device's), with bf16 as
    the run's identity says."""
    accel = accel or accel_for(device)
    return dataclasses.replace(accel, bf16=run.config.get("precision") == "bf16")


def hparams_of(run: store.Run) -> Hparams:
    """The hyperparameters a run was trained with."""
    d = dict(run.config["hparams"])
    d["lr_drops"] = tuple(d["lr_drops"])
    return Hparams(**d)  # fields missing from older runs take their defaults


def start_step(run: store.Run) -> int:
    """The step at which the run's trajectory begins (0, or its parent's step)."""
    start = run.config["start"]
    return 0 if start.get("reset_schedule") else start.get("step", 0)


def _fresh(hp: Hparams, device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = models.build(hp.model).to(device)
    return model, make_optimizer(hp, model.parameters())


def starting_state(run: store.Run, device="cpu") -> dict:
    """The run's full state (``model``, ``optimizer``, ``step``) where its trajectory begins: a new
    initialization, or the parent's state at k with the optimizer rule, the masks and any
    perturbation applied (the one place a run's starting point is built)."""
    start = run.config["start"]
    if "init_seed" in start:
        model = models.build(hparams_of(run).model, seed=start["init_seed"], draw=start.get("reinit", 0))
        state = {"step": start.get("step", 0), "model": model.state_dict(), "optimizer": None}
    else:
        state = state_at(store.get(start["parent"]), start["step"], device, progress=False)
    if start.get("fresh_optimizer"):
        state["optimizer"] = None
    if "start_mask" in start:  # random pruning: from the IMP level's m_IMP ⊙ W_k (open_lth)
        state = {**state, "model": prune.apply({k: v.clone() for k, v in state["model"].items()},
                                               prune.load(start["start_mask"], device))}
    mask = mask_of(run, device)
    if mask is not None:  # m ⊙ W_k: the survivors keep exactly their values at step k
        prune.apply(state["model"], mask)
    if "perturb" in start:  # the early-phase perturbations: pruned weights stay zero
        from ..studies import early_phase

        origin = None
        if early_phase.needs_origin(start["perturb"]):
            origin = state_at(store.get(start["parent"]), 0, device, progress=False)["model"]
        state = {**state, "model": early_phase.perturb(state["model"], start["perturb"],
                                                       hparams_of(run).model, mask, origin)}
    return {**state, "step": 0} if start.get("reset_schedule") else state


def training_data(run: store.Run, device="cpu"):
    """The data the run trains on: its data set, or the altered task of ``run_config(task=...)``."""
    hp = hparams_of(run)
    dataset = data.load(hp.dataset, str(device), hp.train_subset, None, image_size(hp))
    if "task" in run.config:
        from ..studies import early_phase

        dataset = early_phase.task_data(dataset, run.config["task"], run.config["data_seed"])
    return dataset


def state_at(run: store.Run, step: int | str, device="cpu", progress: bool = True,
             resume_every: int = 2000, accel: Accel | None = None) -> dict:
    """The run's full state (``model``, ``optimizer``, ``step``) at ``step``, computed if needed.

    Saved checkpoints are reused; otherwise training continues from the latest
    checkpoint before ``step`` (or from the run's start), saving a resume point every
    ``resume_every`` steps so an interrupted run loses little. The state is saved
    as a named checkpoint, so asking again costs only a load. ``accel``: the speed-ups
    (default: the device's; ``run_accel``).
    """
    hp = hparams_of(run)
    dataset = training_data(run, device)
    n = dataset.train_size
    step = to_steps(step, hp, n)
    first, total = start_step(run), to_steps(hp.training_steps, hp, n)
    if not first <= step <= total:
        raise ConfigError(f"step {step} is outside this run's steps {first}..{total}")
    found = store.load_checkpoint(run, step, device)
    if found is not None:
        return found
    with store.lock(run):
        found = store.load_checkpoint(run, step, device)
        if found is not None:
            return found
        state = store.latest_state(run, at_most=step, device=device) or starting_state(run, device)
        if state["step"] == step:
            store.save_checkpoint(run, state)
            return state
        model, optimizer = _fresh(hp, device)
        model.load_state_dict(state["model"])
        if state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])

        def snapshot(s: int) -> dict:
            return {"step": s, "model": model.state_dict(), "optimizer": optimizer.state_dict()}

        def on_save(s: int):
            if s == step:
                store.save_checkpoint(run, snapshot(s))
            else:
                store.save_resume_point(run, snapshot(s))

        resume_points = range(state["step"] + resume_every, step, resume_every)
        train(hp, model, optimizer, dataset, run.config["data_seed"], state["step"], step,
              save_at=resume_points, on_save=on_save,
              progress=f"run {run.hash[:8]}" if progress else False,
              augment_seed=run.config.get("augment_seed"), accel=run_accel(run, accel, device),
              mask=mask_of(run, device))
        store.clear_resume_point(run, at_most=step)
        return store.load_checkpoint(run, step, device)


def population_default(device) -> bool:
    """Whether runs train as populations by default: on a GPU, not on a CPU (where the gain is
    small or negative and solo runs stay bit-reproducible; see ``lmc.core.population``)."""
    return str(device).startswith("cuda")


POPULATION_BUDGET = 2 * 2**30  # bytes one population may use for weights, optimizer state, activations


def train_runs(runs: list[store.Run], step: int | str, device="cpu", progress: bool = True,
               populate: bool | None = None, budget: int = POPULATION_BUDGET,
               accel: Accel | None = None) -> None:
    """Make sure every run has its checkpoint at ``step``; the missing ones train together
    as populations (then ``state_at`` only loads).

    Runs with the same hyperparameters that resume from the same step form a population
    (as many members as ``budget`` bytes hold; ``population.member_bytes``); ``populate``
    None decides by device (``population_default``). Each member is stored as an
    ordinary run, with resume points and its checkpoint at ``step``. Populations use
    ``accel``'s bf16 (as each run's identity says), not compile or channels_last.
    """
    populate = population_default(device) if populate is None else populate
    pending = [r for r in runs if to_steps_of(r, step) not in r.checkpoints()]
    if populate and len(pending) > 1:
        groups: dict = {}
        for run in pending:
            key = (canonical_hparams(run), run.config.get("precision"), run.config.get("task"),
                   run.config["start"].get("fresh_optimizer", False))
            groups.setdefault(key, []).append(run)
        for members in groups.values():
            size = population.size_for(hparams_of(members[0]), budget, device)
            for i in range(0, len(members), size):
                _train_together(members[i:i + size], to_steps_of(members[0], step), device, progress,
                                run_accel(members[0], accel, device))
    for run in runs:  # what is left (one run, streamed data, populate off) trains one at a time
        if to_steps_of(run, step) not in run.checkpoints():
            state_at(run, step, device, progress, accel=accel)


def to_steps_of(run: store.Run, step: int | str) -> int:
    """``step`` of ``run`` in iterations."""
    hp = hparams_of(run)
    return to_steps(step, hp, train_size(hp))


def canonical_hparams(run: store.Run) -> str:
    return store.canonical(run.config["hparams"])


def _train_together(runs: list[store.Run], step: int, device, progress: bool, accel: Accel,
                    resume_every: int = 2000) -> None:
    """Train ``runs`` (same hyperparameters) to ``step`` as populations and save their checkpoints."""
    hp = hparams_of(runs[0])
    dataset = training_data(runs[0], device)  # a population shares one task (train_runs groups by it)
    if isinstance(dataset, data.StreamData):
        return  # streamed data sets train one run at a time (state_at)
    with contextlib.ExitStack() as held:
        for run in sorted(runs, key=lambda r: r.hash):  # one order, so two processes cannot deadlock
            held.enter_context(store.lock(run))
        todo = [r for r in runs if step not in r.checkpoints()]
        starts = {r.hash: store.latest_state(r, at_most=step, device=device) or starting_state(r, device)
                  for r in todo}
        by_step: dict = {}
        for run in todo:
            by_step.setdefault(starts[run.hash]["step"], []).append(run)
        for first, members in sorted(by_step.items()):
            states = [starts[r.hash] for r in members]
            if first == step:
                for run, state in zip(members, states, strict=True):
                    store.save_checkpoint(run, state)
                continue

            def on_save(s: int, snapshot, members=members):
                for i, run in enumerate(members):
                    (store.save_checkpoint if s == step else store.save_resume_point)(run, snapshot(i))

            population.train_population(
                hp, [st["model"] for st in states], [st["optimizer"] for st in states], dataset,
                [r.config["data_seed"] for r in members],
                [r.config.get("augment_seed", r.config["data_seed"]) for r in members],
                first, step, save_at=range(first + resume_every, step, resume_every), on_save=on_save,
                progress=f"population of {len(members)}" if progress else False, bf16=accel.bf16,
                masks=[mask_of(r, device) for r in members])
            for run in members:
                store.clear_resume_point(run, at_most=step)
