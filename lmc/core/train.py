"""Training runs: trajectories named by what they are, computed on demand and cached.

A training *run* is a trajectory: a starting state (a fresh initialization, or another
run's full state at step k, with a mask, a perturbation (``lmc.core.perturb``) or an altered
task (``lmc.core.tasks``) applied) and a data order. ``run_config`` is its identity;
``state_at(run, step)`` returns its state at any step, training forward (``lmc.core.loop``)
from the nearest checkpoint and caching what it computes through ``lmc.core.store``;
``train_runs`` trains many runs at once as populations (``lmc.core.population``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch

from . import data, hparams, identity, loop, models, perturb, population, prune, store, tasks
from .errors import ConfigError, choose
from .identity import always


@dataclass(frozen=True)
class FromInit:
    """Where a run starts: a fresh initialization from ``init_seed``; with ``reinit`` > 0 the
    ``reinit``-th further draw of that stream, trained from ``step`` (random reinitialization)."""

    init_seed: int
    reinit: int = 0
    step: int | None = None  # with reinit: the step the new weights start training at


@dataclass(frozen=True)
class FromParent:
    """Where a run starts: the full training state of the run ``parent`` (its hash) at ``step``."""

    parent: str
    step: int
    reset_schedule: bool = False   # its own clock and schedule restart at 0 (Figure 4)
    fresh_optimizer: bool = False  # a new optimizer state instead of the parent's (open_lth's rule)
    start_mask: str | None = None  # a stored mask applied to the parent's weights first (random pruning)
    perturb: dict | None = None    # a perturbation of the starting weights (``perturb.perturbation``)


@dataclass(frozen=True)
class RunSpec:
    """A training run: its recipe, where it starts, its data order and what it trains with. Its
    identity (``identity.as_dict``) names it in the cache; ``run_config`` builds and checks it."""

    hparams: hparams.Hparams
    start: FromInit | FromParent
    data_seed: int
    kind: str = always("train")
    augment_seed: int | None = None  # only when it differs from the data seed
    precision: str = "float32"       # "bf16": bfloat16 autocast (``loop.Accel.bf16``)
    mask: str | None = None          # the hash of a stored pruning mask (``prune.stored``)
    task: str | None = None          # an altered task (``tasks.TASKS``)


def run_config(hp: hparams.Hparams, data_seed: int, init_seed: int | None = None,
               parent: store.Run | None = None, parent_step: int | None = None,
               augment_seed: int | None = None, reset_schedule: bool = False,
               precision: str = "float32", mask: str | None = None,
               fresh_optimizer: bool = True, reinit: int = 0, perturbation: dict | None = None,
               task: str | None = None, start_mask: str | None = None) -> dict:
    """The identity of a training run (``RunSpec``): hyperparameters, where it starts, and its data order.

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
    ``perturbation``: a perturbation of the starting weights (``perturb.perturbation``),
    applied after the mask; only a given one enters the identity. ``task``: train on an altered
    task instead of the data set's labels (``tasks.TASKS``: random labels, rotation
    prediction, blurred images; the early phase of Frankle et al. 2020 §5); only a given one
    enters the identity.
    """
    choose("precision", precision, hparams.PRECISIONS)
    if (init_seed is None) == (parent is None):
        raise ValueError("a run starts from either init_seed or a parent run, not both")
    reset = bool(reset_schedule) and parent_step != 0  # from step 0 there is nothing to reset
    if reset and parent is None:
        raise ValueError("reset_schedule applies to a run that starts from a parent")
    if start_mask is not None and (parent is None or mask is None):
        raise ConfigError("start_mask applies to a masked run that starts from a parent's state")
    if perturbation is not None and parent is None:
        raise ConfigError("a perturbation applies to a run that starts from a parent's state at a step")
    if parent is None:  # reinit > 0: another draw of the init stream, trained from step parent_step
        start = FromInit(int(init_seed), int(reinit), int(parent_step or 0)) if reinit else FromInit(int(init_seed))
    else:
        start = FromParent(parent.hash, int(parent_step), reset_schedule=reset, fresh_optimizer=bool(fresh_optimizer),
                           start_mask=None if start_mask is None else str(start_mask),
                           perturb=None if perturbation is None else perturb.perturbation(**perturbation))
    spec = RunSpec(hp, start, int(data_seed),
                   augment_seed=None if augment_seed is None or augment_seed == data_seed else int(augment_seed),
                   precision=precision, mask=None if mask is None else str(mask),
                   task=None if task is None else choose("task", task, tasks.TASKS))
    return identity.as_dict(spec)


def mask_of(run: store.Run, device="cpu") -> prune.Mask | None:
    """The pruning mask a run trains with (None: dense)."""
    return prune.load(run.config["mask"], device) if "mask" in run.config else None


def run_accel(run: store.Run, accel: loop.Accel | None, device) -> loop.Accel:
    """The speed-ups a run trains with: ``accel`` (default: the device's), with bf16 as
    the run's identity says."""
    accel = accel or loop.accel_for(device)
    return dataclasses.replace(accel, bf16=run.config.get("precision") == "bf16")


def hparams_of(run: store.Run) -> hparams.Hparams:
    """The hyperparameters a run was trained with."""
    d = dict(run.config["hparams"])
    d["lr_drops"] = tuple(d["lr_drops"])
    return hparams.Hparams(**d)  # fields missing from older runs take their defaults


def start_step(run: store.Run) -> int:
    """The step at which the run's trajectory begins (0, or its parent's step)."""
    start = run.config["start"]
    return 0 if start.get("reset_schedule") else start.get("step", 0)


def _fresh(hp: hparams.Hparams, device) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = models.build(hp.model).to(device)
    return model, loop.make_optimizer(hp, model.parameters())


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
        origin = None
        if perturb.needs_origin(start["perturb"]):
            origin = state_at(store.get(start["parent"]), 0, device, progress=False)["model"]
        state = {**state, "model": perturb.apply(state["model"], start["perturb"], hparams_of(run).model, mask,
                                                 origin)}
    return {**state, "step": 0} if start.get("reset_schedule") else state


def origin_state(run: store.Run, device="cpu") -> dict:
    """The weights the run's lineage started from: the first state of its root run (the trunk's
    initialization, or a random reinitialization's own new draw), masked like the run."""
    root = run
    while "parent" in root.config["start"]:
        root = store.get(root.config["start"]["parent"])
    state = dict(state_at(root, start_step(root), device, progress=False)["model"])
    mask = mask_of(run, device)
    return prune.apply({k: v.clone() for k, v in state.items()}, mask) if mask is not None else state


def training_data(run: store.Run, device="cpu"):
    """The data the run trains on: its data set, or the altered task of ``run_config(task=...)``."""
    hp = hparams_of(run)
    dataset = data.load(hp.dataset, str(device), hp.train_subset, None, hparams.image_size(hp))
    if "task" in run.config:
        dataset = tasks.apply(dataset, run.config["task"], run.config["data_seed"])
    return dataset


def state_at(run: store.Run, step: int | str, device="cpu", progress: bool = True,
             resume_every: int = 2000, accel: loop.Accel | None = None) -> dict:
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
    step = hparams.to_steps(step, hp, n)
    first, total = start_step(run), hparams.to_steps(hp.training_steps, hp, n)
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
        loop.train(hp, model, optimizer, dataset, run.config["data_seed"], state["step"], step,
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
               accel: loop.Accel | None = None) -> None:
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
    return hparams.iterations(hp, step)


def canonical_hparams(run: store.Run) -> str:
    return store.canonical(run.config["hparams"])


def _train_together(runs: list[store.Run], step: int, device, progress: bool, accel: loop.Accel,
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
