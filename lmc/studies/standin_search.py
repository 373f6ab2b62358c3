"""Choosing the CPU stand-in: a recorded search for a CPU-scale network that shows Section 4's pattern.

The paper's main claim about sparse networks (Section 4, Table 2, Figures 5-8): in its larger
networks, IMP subnetworks rewound to initialization (k = 0) are neither matching nor stable;
rewound to a step k shortly after initialization they become stable, then matching; random
pruning and random reinitialization never are. Table 1's ``low`` and ``warmup`` recipes are the
paper's own lever: with a lower or warmed-up learning rate, IMP works at k = 0 (Table 2's other
half). This module searches CPU-scale settings (a CIFAR-style ResNet on MNIST or Fashion-MNIST,
its depth, width, image size, T and learning rate) for one where, on the mean over 3
initializations × 2 data-order pairs with the spread shown:

1. ``imp_fails_at_0``: at the setting's density (Appendix B's rule: the most extreme IMP level at
   which IMP at some rewind step k matches), IMP rewound to k = 0 is not matching and its test
   instability is ≥ 2 pp;
2. ``imp_rescued``: IMP rewound to some k ≤ 10% of T is matching and stable (< 2 pp);
3. ``baselines_never_match``: random pruning and random reinitialization match at no k of the grid;
4. ``dense_unstable_at_0_stable_later``: the dense network is unstable at k = 0 and stable from an
   early k on;

and where the ``low`` or ``warmup`` variant's IMP at k = 0 is matching and stable at its own
Appendix B density (``imp_works_at_0``): Appendix B selects the density "for each network and
hyperparameter configuration", and Table 1 gives ResNet-20 16.8% for ``standard`` and 8.6% for
``low`` and ``warmup``. ``table_2`` shows those recipes at the standard recipe's density too. Every setting tried is one result file (a *shard*),
``results/standin_search/<candidate id>.nc``, written as soon as it is computed, so the search
continues where it stopped, on any machine that has the files; the appendix chapter
"Choosing the CPU stand-in" shows every shard, negative results included.

**Stage 1** (``stage_1``, screening): 9 settings at 1 initialization × 1 pair, the dense
network and IMP only (the random baselines are checked in stage 2, at the density stage 1
finds), IMP levels 4, 6, 8 (41% to 17% of the weights), k at 0 and 5% of T; width 4 and 8,
learning rate 0.1, 0.2 and 0.4 at T = 600, width 4 at 0.4 for T = 1,800, and two follow-ups of
that longer run (``follow_ups``: its k grid extended to 10% and 20% of T, and its ``low`` recipe
at k = 0). Estimated 4.0 CPU-hours in all from an empty run cache (``estimated_seconds``: 0.24
to 1.2 CPU-hours a setting; ``grid_table`` lists them).

**Stage 2** (``stage_2``): the stage-1 settings in ``STAGE_2_PICKS`` (the one that passed the
screen), or else the ``best`` 3, or the ``--pick`` ids, at 3 initializations × 2 pairs with all
four subnetworks, at the stage-1 pick and the levels either side of it: the standard recipe over its k grid, ``low`` and ``warmup`` at k = 0 (what
Table 2 tests). One shard per initialization (``Candidate.first_seed``) and, for the standard
recipe, per rewind step (``Candidate.shard_step``), each complete on its own; ``load`` joins a
setting's shards once an initialization has every k. For width 4 at T = 1,800 (levels 6, 8, 10;
k = 0, 90, 180, 360) the estimates are 0.9 to 1.1 CPU-hours a shard (19 for the setting, 15.5
of them without ``warmup``); the first, ``low`` at initialization 0, took 59 min on one core.

**Stage 3** (``stage_3``): Appendix B's rule beyond stage 2's grid. Stage 2's levels were set
around stage 1's pick; where IMP still matches at the sparsest of them, the rule's density lies
beyond the grid. One probe per stage-2 setting (``Candidate.purpose`` "appendix_b"): the next three
levels (12, 14, 16 for the width-4 setting), every k, 1 × 1, the dense network and IMP only;
``appendix_b`` reads it. It is never ranked by ``best`` nor judged as a setting of the search.

Costs assume one process per core (``OMP_NUM_THREADS=1``): about 40 s per 600 iterations of the
current stand-in on one core, scaled by step times measured for each network
(``RELATIVE_STEP_COST``), plus the evaluation of every path.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from ..core import data, hparams, interpolate, models, paths, processes, results, store
from ..core.errors import ConfigError, choose
from ..experiments import appendices, imp, instability, sparse, tables
from ..paper import presets, reported

# Table 1's CIFAR-10 recipe in proportion: drops at 32K and 48K of 63K iterations; ``low`` divides
# the learning rate by 10 (0.1 -> 0.01); ``warmup`` trains ResNet-20 at 0.03 warmed up over 30K of
# 63K iterations (VGG-16 keeps 0.1; our networks are ResNets): (lr factor, share of T warmed up).
DROPS = (32_000 / 63_000, 48_000 / 63_000)
VARIANTS = {"standard": (1.0, 0.0), "low": (0.1, 0.0), "warmup": (0.3, 30_000 / 63_000)}
REWIND_SHARES = (0.0, 0.02, 0.05, 0.1)  # the default k grid, as shares of T
RESCUE_BY = 0.1        # criterion 2: rewinding to some k ≤ 10% of T rescues IMP
NATIVE_SIDE = 28       # MNIST and Fashion-MNIST images (image_size 28 = unpooled)
SCREEN = ("dense", "imp")  # stage 1's subnetworks; stage 2 adds Table 2's random baselines
PURPOSES = ("search", "appendix_b")  # a setting of the search, or stage 3's probe of sparser levels
FOLDER = paths.STANDIN_SEARCH  # shards: <results_dir>/standin_search/<candidate id>.nc (lmc.core.paths)

# The search's sizes: each candidate's recipe as it is (no preset T or subset), test accuracy on
# the whole test set, paths of 11 α, train error on 5,000 examples (no criterion uses it).
SEARCH = presets.Preset("search", None, None, None, n_init=1, n_pairs=1, n_alpha=11, models=(),
                        eval_train_size=5_000)

# Seconds per training iteration: the stand-in's 600 iterations took about 40 s on one core in a
# first measurement (2026-12-02, both cores busy), times each network's step time relative to it
# (batch 128, one thread, the same day: ResNet-20 width 4 at 14 px 151 ms a step, width 8 234,
# width 16 632; at 28 px width 4 431, width 8 670; ResNet-14 and -32 width 8 at 14 px 181 and 356).
# The search's own shards then took 0.55 to 0.65 of what that predicted on this 2-core AMD EPYC
# (stage 1's T = 1,800 runs 41 of 65 min and 23 of 34; stage 2's low shard 59 of 107 min;
# 2026-12-04), so the rate is scaled by 0.6.
SECONDS_PER_ITERATION = 0.6 * 40 / 600
RELATIVE_STEP_COST = {
    ("fmnist_resnet_20_4", 14): 1.0, ("fmnist_resnet_20_8", 14): 1.55, ("fmnist_resnet_20_16", 14): 4.2,
    ("fmnist_resnet_20_4", 28): 2.85, ("fmnist_resnet_20_8", 28): 4.4,
    ("fmnist_resnet_14_8", 14): 1.2, ("fmnist_resnet_32_8", 14): 2.35,
}
EVAL_COST = 0.36  # an evaluated example costs this share of a trained one (same measurement)


def rewind_grid(steps: int, shares=REWIND_SHARES) -> tuple[int, ...]:
    """The rewind steps k (iterations) at ``shares`` of T = ``steps``: 0, 2%, 5% and 10% by default."""
    return tuple(sorted({round(share * steps) for share in shares}))


def _short(model: str) -> str:
    """``fmnist_resnet_20_8`` -> ``r20w8`` (other names unchanged)."""
    parts = model.split("_")
    if parts[1:2] == ["resnet"] and len(parts) == 4:
        return f"r{parts[2]}w{parts[3]}"
    return model


@dataclass(frozen=True)
class Candidate:
    """One setting to try: a network, its data, the CIFAR recipe's shape at length T, and what to measure."""

    model: str = "fmnist_resnet_20_4"   # network in lmc.core.models (1-channel CIFAR ResNet: fmnist_resnet_D_W)
    dataset: str = "fashion_mnist"      # "fashion_mnist" or "mnist"
    image_size: int = 14                # images average-pooled to this side (28: as they are)
    steps: int = 600                    # T: training iterations
    lr: float = 0.1                     # the standard recipe's peak learning rate (variants scale it)
    variant: str = "standard"           # Table 1's recipe shape: "standard", "low" or "warmup" (VARIANTS)
    levels: tuple[int, ...] = (2, 4, 6, 8)  # IMP levels evaluated (density 0.8^level)
    rewind_steps: tuple[int, ...] = ()  # rewind steps k in iterations; () -> rewind_grid(steps)
    subnetworks: tuple[str, ...] = SCREEN  # "dense", "imp" and optionally Table 2's random baselines
    n_init: int = 1                     # initializations (seeds first_seed .. first_seed + n_init - 1)
    pairs: int = 1                      # data-order pairs per initialization
    momentum: float = 0.9               # SGD momentum (Table 1)
    weight_decay: float = 1e-4          # open_lth's CIFAR value
    batch_size: int = 128               # Table 1
    train_subset: int | None = None     # train on the first N examples only (tests)
    first_seed: int = 0                 # the first initialization (stage 2: one shard per initialization)
    shard_step: int | None = None       # stage 2: this shard computes only this k of rewind_steps (None: all)
    purpose: str = "search"             # "search", or "appendix_b": stage 3's probe of sparser levels (PURPOSES)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "levels", tuple(int(n) for n in self.levels))
        set_(self, "rewind_steps", tuple(int(k) for k in self.rewind_steps) or rewind_grid(self.steps))
        set_(self, "subnetworks", tuple(self.subnetworks))
        choose("variant", self.variant, VARIANTS)
        choose("purpose", self.purpose, PURPOSES)
        choose("dataset", self.dataset, ("fashion_mnist", "mnist"))
        network = models.build(self.model)
        first = dict(network.named_parameters())[f"{models.first_layer_name(network)}.weight"]
        if not models.is_convolutional(network) or first.shape[1] != 1 or not 1 <= self.image_size <= NATIVE_SIDE:
            raise ConfigError(f"a candidate is a convolutional network for 1-channel images of side ≤ "
                              f"{NATIVE_SIDE} (e.g. fmnist_resnet_20_8 at 14), got {self.model!r} at {self.image_size}")
        if not self.levels or min(self.levels) < 1 or list(self.levels) != sorted(set(self.levels)):
            raise ConfigError(f"levels must be increasing IMP rounds ≥ 1, got {self.levels}")
        ks = self.rewind_steps
        if ks[0] != 0 or list(ks) != sorted(set(ks)) or ks[-1] >= self.steps:
            raise ConfigError(f"rewind_steps must start at 0, increase and stay below T={self.steps}, got {ks}")
        if not {"dense", "imp"} <= set(self.subnetworks) or not set(self.subnetworks) <= set(sparse.SUBNETWORKS):
            raise ConfigError(f"subnetworks must include dense and imp, among {sparse.SUBNETWORKS}; "
                              f"got {self.subnetworks}")
        if self.shard_step is not None and self.shard_step not in ks:
            raise ConfigError(f"shard_step must be one of rewind_steps {ks} (or None: all of them), "
                              f"got {self.shard_step}")
        if self.n_init < 1 or self.pairs < 1 or self.first_seed < 0:
            raise ConfigError(f"n_init and pairs must be ≥ 1 and first_seed ≥ 0, got {self.n_init}, {self.pairs} "
                              f"and {self.first_seed}")

    @property
    def init_seeds(self) -> list[int]:
        """The initializations this candidate (or shard of one) trains."""
        return list(range(self.first_seed, self.first_seed + self.n_init))

    @property
    def computed_steps(self) -> tuple[int, ...]:
        """The rewind steps k this candidate's shard trains: ``shard_step`` alone, or the whole grid."""
        return self.rewind_steps if self.shard_step is None else (self.shard_step,)

    @property
    def name(self) -> str:
        """The recipe's readable name (its variant apart), e.g. ``r20w8-fmnist14-T1200-lr0p1``:
        the ``reported.SETTINGS`` key of its variants (dot-free, so usable in file names)."""
        data_name = {"fashion_mnist": "fmnist", "mnist": "mnist"}[self.dataset]
        lr = f"{self.lr:g}".replace(".", "p")
        subset = f"-n{self.train_subset}" if self.train_subset else ""
        return f"{_short(self.model)}-{data_name}{self.image_size}-T{self.steps}-lr{lr}{subset}"

    @property
    def id(self) -> str:
        """The shard's name: readable name, variant, draws and the hash of every field."""
        seed = f"-init{self.first_seed}" if self.first_seed else ""
        step = f"-k{self.shard_step}" if self.shard_step is not None else ""
        probe = "-appb" if self.purpose == "appendix_b" else ""
        return (f"{self.name}-{self.variant}-{self.n_init}x{self.pairs}{seed}{step}{probe}-"
                f"{store.config_hash(self.as_dict())[:8]}")

    def as_dict(self) -> dict:
        """The fields, lists for tuples; ``first_seed`` only where it is not 0, ``shard_step`` only
        where it is set and ``purpose`` only where it is not "search", so that the shards computed
        before they existed keep their ids."""
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        if not d["first_seed"]:
            del d["first_seed"]
        if d["shard_step"] is None:
            del d["shard_step"]
        if d["purpose"] == "search":
            del d["purpose"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Candidate":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def hparams(self) -> hparams.Hparams:
        """The recipe: Table 1's CIFAR recipe shape (SGD with momentum, batch 128, ×0.1 at 51% and
        76% of T) at length T, with the variant's learning rate and warmup."""
        factor, warmup = VARIANTS[self.variant]
        return hparams.Hparams(
            model=self.model, dataset=self.dataset, optimizer="sgd", lr=self.lr * factor,
            momentum=self.momentum, weight_decay=self.weight_decay, batch_size=self.batch_size,
            training_steps=f"{self.steps}it", lr_drops=tuple(f"{round(s * self.steps)}it" for s in DROPS),
            warmup_steps=f"{round(warmup * self.steps)}it", train_subset=self.train_subset,
            image_size=None if self.image_size == NATIVE_SIDE else self.image_size)


def register(candidate: Candidate) -> str:
    """The ``reported.SETTINGS`` model name under which ``candidate`` is registered (with its variant),
    so that ``instability.instability_config(model=name, variant=..., preset="search")`` accepts it.

    Adds a ``reported.Setting`` (nothing reported: it is not in the paper) and the search's preset
    ``SEARCH``; registering the same recipe again is a no-op, a different one under a taken name
    an error. Table 1 and ``reported.STAND_INS`` are left as they are.
    """
    presets.PRESETS.setdefault(SEARCH.name, SEARCH)
    key, hp = (candidate.name, candidate.variant), candidate.hparams()
    found = reported.SETTINGS.get(key)
    if found is not None and found.hparams != hp:
        raise ConfigError(f"setting {key} is already registered with another recipe")
    params = models.count_parameters(models.build(candidate.model))
    reported.SETTINGS[key] = reported.Setting(
        f"{candidate.name} (stand-in search candidate)", candidate.variant, hp, f"{params / 1000:.0f}K",
        (float("nan"), float("nan")), float("nan"), "iterative")
    return candidate.name


def config(candidate: Candidate, init_seeds=None, pairs: int | None = None) -> instability.InstabilityConfig:
    """The validated instability configuration of ``candidate`` at k = 0 (registered first)."""
    return instability.instability_config(
        model=register(candidate), variant=candidate.variant, rewind_step=0, preset=SEARCH.name,
        init_seeds=candidate.init_seeds if init_seeds is None else init_seeds,
        pairs=candidate.pairs if pairs is None else pairs)


def evaluate(candidate: Candidate, init_seeds=None, pairs: int | None = None, device: str = "auto",
             progress: bool = True) -> xr.Dataset:
    """Figures 6-8 for one candidate: at every IMP level and rewind step k, the test accuracy
    (``test_accuracy``, per copy) and test instability (``test_instability``) of the dense network
    and the candidate's subnetworks (``sparse.sparsity_grid``, whose runs the cache shares).

    ``init_seeds`` and ``pairs`` default to the candidate's. The result also keeps the grid's
    error and loss along every path; ``verdict`` reads it.
    """
    cfg = config(candidate, init_seeds, pairs)
    grid = sparse.sparsity_grid(cfg, list(candidate.levels), [str(k) for k in candidate.computed_steps],
                                candidate.subnetworks, device, progress)
    accuracy = tables.test_accuracy(grid).drop_vars("split")
    ds = grid.assign(
        test_accuracy=accuracy.transpose("level", "rewind_step", "subnetwork", "init_seed", "pair", "copy"),
        test_instability=grid.instability.sel(split="test", drop=True))
    ds = ds.assign_coords(rewind_fraction=("rewind_step", [k / candidate.steps for k in ds.rewind_step.values]))
    ds.test_accuracy.attrs["units"] = "%"
    ds.test_instability.attrs["units"] = "percentage points"
    grid_config = results.config_of(grid)
    ds.attrs = results.provenance({"experiment": "standin_search", "preset": SEARCH.name,
                                   "candidate": candidate.as_dict(), "candidate_id": candidate.id,
                                   "init_seeds": list(cfg.init_seeds), "pairs": cfg.pairs,
                                   "grid": grid_config}, grid.attrs["device"])
    return ds


# --- the verdict: the four criteria, from a shard ------------------------------------------

def verdict(ds: xr.Dataset, level: int | None = None) -> dict:
    """Whether one candidate shows the paper's pattern: the four criteria (module docstring) and
    ``imp_works_at_0``, at Appendix B's density (the most extreme level at which IMP at some k
    matches the full network at the same k), or at ``level`` (a ``low`` or ``warmup`` shard is
    judged at the standard recipe's level by ``table_2``'s second row). Means over initializations × pairs (× copies for
    accuracy), spreads as "mean ± std" text. A criterion whose subnetworks were not trained
    (stage 1's random baselines) is None.

    Reads ``test_accuracy`` (level, rewind_step, subnetwork, init_seed, pair, copy),
    ``test_instability`` (level, rewind_step, subnetwork, init_seed, pair) and the coordinate
    ``rewind_fraction`` (k / T), so it can be checked on a dataset built by hand.
    """
    acc, inst = ds.test_accuracy, ds.test_instability
    steps = [int(k) for k in ds.rewind_step.values]
    share = dict(zip(steps, (float(f) for f in ds.rewind_fraction.values)))
    dense = acc.sel(subnetwork="dense").isel(level=0)
    full, full_std = tables.full_spread(dense)

    def accuracy(name, n, k):
        return acc.sel(subnetwork=name, level=n, rewind_step=k)

    def matching(name, n, k) -> bool:
        return tables.matching_at(accuracy(name, n, k), full, full_std, k)

    def instability(name, n, k) -> xr.DataArray:
        return inst.sel(subnetwork=name, level=n, rewind_step=k)

    def stable(name, n, k) -> bool:
        return float(instability(name, n, k).mean()) < interpolate.STABLE_BELOW

    levels = [int(n) for n in ds.level.values]
    pick = max((n for n in levels if any(matching("imp", n, k) for k in steps)), default=None)
    if level is not None and level not in levels:
        raise ConfigError(f"level {level} is not in this shard's levels {levels}")
    at = level if level is not None else pick if pick is not None else levels[0]
    rescues = [k for k in steps if 0 < k and share[k] <= RESCUE_BY + 1e-9
               and matching("imp", at, k) and stable("imp", at, k)]
    baselines = [n for n in ("random_prune", "random_reinit") if n in ds.subnetwork.values]
    baselines_never = None if len(baselines) < 2 else not any(matching(n, at, k) for n in baselines for k in steps)
    dense_inst = inst.sel(subnetwork="dense").isel(level=0)
    dense_from = tables.first_step(dense_inst.mean(("init_seed", "pair")) < interpolate.STABLE_BELOW)
    dense_unstable_0 = float(dense_inst.sel(rewind_step=0).mean()) >= interpolate.STABLE_BELOW
    density = (float(ds.density.sel(level=at, subnetwork="imp").mean()) if "density" in ds
               else imp.density_after(at))
    n_init, n_pairs = ds.sizes["init_seed"], ds.sizes["pair"]
    out = {
        "level": at, "appendix_b_level": pick, "density": 100 * density,
        # Appendix B's rule stopped by the grid, not by IMP: a sparser level may match as well
        "appendix_b_at_sparsest": pick is not None and pick == max(levels),
        "draws": f"{n_init} × {n_pairs}", "enough_draws": n_init >= 3 and n_pairs >= 2,
        "imp_fails_at_0": not matching("imp", at, 0) and not stable("imp", at, 0),
        "imp_rescued": bool(rescues), "rescued_from": rescues[0] if rescues else None,
        "baselines_never_match": baselines_never,
        "dense_unstable_at_0_stable_later": dense_unstable_0 and dense_from is not None,
        "dense_stable_from": dense_from,
        "imp_works_at_0": matching("imp", at, 0) and stable("imp", at, 0),
        "imp_matching_at_0": matching("imp", at, 0),
        "full_at_0": results.mean_std(dense.sel(rewind_step=0), unit="copy"),
        "imp_at_0": results.mean_std(accuracy("imp", at, 0), unit="copy"),
        "imp_gap_at_0": float(full.sel(rewind_step=0)) - float(accuracy("imp", at, 0).mean()),
        "imp_instability_at_0": results.mean_std(instability("imp", at, 0)),
        "imp_instability_at_0_mean": float(instability("imp", at, 0).mean()),
        "dense_instability_at_0": results.mean_std(dense_inst.sel(rewind_step=0)),
    }
    out["screen"] = out["imp_fails_at_0"] and out["imp_rescued"] and out["dense_unstable_at_0_stable_later"]
    out["shows_pattern"] = bool(out["screen"] and baselines_never and out["enough_draws"])
    return out


# --- shards: one result file per candidate ------------------------------------------------------

def shard_path(candidate: Candidate, results_dir="results") -> Path:
    """Where ``candidate``'s result is saved: ``<results_dir>/standin_search/<candidate.id>.nc``."""
    return paths.standin_shard(results_dir, candidate.id)


def missing(candidates, results_dir="results") -> list[Candidate]:
    """The candidates without a shard: the standard recipe's first, then ``low``'s, then
    ``warmup``'s (one of the two is enough for the pattern), each cheapest first."""
    order = list(VARIANTS)
    return sorted((c for c in candidates if not shard_path(c, results_dir).exists()),
                  key=lambda c: (order.index(c.variant), c.levels[0], estimated_seconds(c)))


def shard_command(number: int, candidate_id: str, picks=None) -> str:
    """The command that computes one shard of stage ``number`` (with the stage-2 ``picks`` it was
    listed under, if not the default ones)."""
    pick = f" --pick {' '.join(picks)}" if picks else ""
    return f"lmc search-standin --stage {number}{pick} --candidate {candidate_id}"


def run(candidates, results_dir="results", device: str = "auto", progress: bool = True, *, number: int,
        picks=None) -> list[Path]:
    """Compute every missing shard of ``candidates`` (cheapest first), saving each as soon as it is
    done (``results.save``) with the seconds it took (``wall_seconds``, ``cpu_seconds``) and the
    command that recomputes it (``shard_command``: ``candidates`` are stage ``number``'s, listed
    under ``picks``); returns the paths written. A shard already there is not recomputed."""
    written = []
    for candidate in missing(candidates, results_dir):
        start, cpu = time.time(), time.process_time()
        ds = evaluate(candidate, device=device, progress=progress)
        # what it took, as the paper archive's shards record it (lmc.experiments.archive.compute)
        ds.attrs.update(wall_seconds=round(time.time() - start, 3), cpu_seconds=round(time.process_time() - cpu, 3),
                        shard_command=shard_command(number, candidate.id, picks))
        written.append(results.save(ds, shard_path(candidate, results_dir)))
        if progress:
            print(f"{candidate.id}: {(time.time() - start) / 60:.1f} min, wrote {written[-1]}", flush=True)
    return written


def load(results_dir="results") -> dict[str, xr.Dataset]:
    """Every result under ``<results_dir>/standin_search/`` (not those ``results.save`` kept aside),
    by candidate id; the one-initialization shards of one setting (stage 2) joined into one result
    over their initializations (``join``)."""
    folder = paths.standin_folder(results_dir)
    return join({p.stem: results.load(p) for p in sorted(folder.glob("*.nc")) if not results.is_kept(p)})


def join(shards: dict[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    """The shards of one setting that differ only in their initialization (``first_seed``), the
    rewind step they compute (``shard_step``) and their IMP levels (stage 2's extension to a
    sparser level, ``extension``), joined into one result whose candidate counts them all (its id
    names the seeds it covers): per initialization, each level set's shards along ``rewind_step``
    and the level sets along ``level``; then the initializations along ``init_seed``. Draws are
    never mixed: an initialization joins once its first level set has every k of the grid, and a
    further level set joins only when every joined initialization has all of its k. Other shards
    stay as they are."""
    groups: dict[str, list[xr.Dataset]] = {}
    for ds in shards.values():
        c = candidate_of(ds)
        key = {k: v for k, v in c.as_dict().items() if k not in ("n_init", "first_seed", "shard_step", "levels")}
        groups.setdefault(json.dumps(key, sort_keys=True), []).append(ds)
    out = {}
    for parts in groups.values():
        if len(parts) == 1 and candidate_of(parts[0]).shard_step is None:
            out[candidate_of(parts[0]).id] = parts[0]
            continue
        cells: dict[tuple, dict[tuple, list[xr.Dataset]]] = {}  # seeds -> levels -> shards
        for ds in parts:
            c = candidate_of(ds)
            cells.setdefault(tuple(c.init_seeds), {}).setdefault(c.levels, []).append(ds)
        seeds = [s for key in cells for s in key]
        for by_levels in cells.values():
            for group in by_levels.values():
                steps = [k for ds in group for k in candidate_of(ds).computed_steps]
                if len(set(steps)) != len(steps):
                    raise ConfigError(f"shards {[candidate_of(ds).id for ds in group]} repeat an initialization "
                                      f"and rewind step")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"shards {[candidate_of(ds).id for ds in parts]} repeat an initialization")
        grid = candidate_of(parts[0]).rewind_steps

        def complete(group) -> bool:
            return sorted(k for ds in group for k in candidate_of(ds).computed_steps) == list(grid)

        level_sets = sorted({levels for by_levels in cells.values() for levels in by_levels})
        whole = [key for key in sorted(cells) if complete(cells[key].get(level_sets[0], []))]
        if not whole:
            continue
        joined_sets = [ls for ls in level_sets if all(complete(cells[key].get(ls, [])) for key in whole)]
        per_seed = []
        for key in whole:
            by_set = []
            for ls in joined_sets:
                group = sorted(cells[key][ls], key=lambda ds: candidate_of(ds).computed_steps)
                by_set.append(group[0] if len(group) == 1 else
                              xr.concat(group, dim="rewind_step", join="outer", combine_attrs="drop_conflicts"))
            per_seed.append(by_set[0] if len(by_set) == 1 else
                            xr.concat(by_set, dim="level", join="outer", combine_attrs="drop_conflicts"))
        seeds = [s for key in whole for s in key]
        levels = tuple(n for ls in joined_sets for n in ls)
        first = candidate_of(cells[whole[0]][joined_sets[0]][0])
        c = dataclasses.replace(first, n_init=len(seeds), first_seed=seeds[0], shard_step=None, levels=levels)
        ds = (per_seed[0] if len(per_seed) == 1 else
              xr.concat(per_seed, dim="init_seed", join="outer", combine_attrs="drop_conflicts"))
        config = {**results.config_of(parts[0]), "candidate": c.as_dict(), "candidate_id": c.id, "init_seeds": seeds,
                  "shards": [candidate_of(p).id for key in whole for ls in joined_sets for p in cells[key][ls]]}
        ds.attrs.update(config=json.dumps(config, sort_keys=True), config_hash=store.config_hash(config))
        out[c.id] = ds
    return out


def candidate_of(ds: xr.Dataset | dict) -> Candidate:
    """The candidate a shard was computed for (from the shard, or its ``results.attributes``)."""
    return Candidate.from_dict(results.config_of(ds)["candidate"])


def estimated_seconds(candidate: Candidate) -> float:
    """Estimated CPU time (s, one core) of ``evaluate`` from an empty cache: the trunks, for every
    k the IMP rounds before the last level and each pair's copies of every subnetwork and level,
    and the evaluation of every path (NaN for a network whose step time was not measured)."""
    c = candidate
    relative = RELATIVE_STEP_COST.get((c.model, c.image_size), float("nan"))
    sparse = len(c.subnetworks) - 1
    iterations = c.n_init * c.steps
    for k in c.computed_steps:
        iterations += c.n_init * (c.steps - k) * (max(c.levels) - 1 + 2 * c.pairs * (1 + sparse * len(c.levels)))
    n_paths = c.n_init * c.pairs * len(c.computed_steps) * (1 + sparse * len(c.levels))
    test_size = data.entry(c.dataset)["splits"]["test"]["size"]
    iterations += n_paths * SEARCH.n_alpha * (test_size + SEARCH.eval_train_size) * EVAL_COST / c.batch_size
    return iterations * SECONDS_PER_ITERATION * relative


# --- the stages -----------------------------------------------------------------------------------

SCREEN_LEVELS = (4, 6, 8)       # stage 1's IMP levels: 41%, 26% and 17% of the weights
SCREEN_SHARES = (0.0, 0.05)     # stage 1's k: initialization and 5% of T


def stage_1() -> list[Candidate]:
    """Screening: standard recipe, 1 initialization × 1 pair, dense and IMP at levels 4, 6 and 8
    and k at 0 and 5% of T, for ResNet-20 of width 4 and 8 on 14 × 14 Fashion-MNIST (600
    iterations) at learning rates 0.1, 0.2 and 0.4, and width 4 at 0.4 trained three times as
    long, and two follow-ups of that longer run (``follow_ups``). The learning rate is the paper's own lever (Table 1's ``low`` variant lowers it to
    make IMP work at k = 0), pushed the other way; width is the cheapest change of capacity.
    The longer run was added after the first setting (width 4, lr 0.4, T = 600; 2026-12-04)
    came out unstable at k = 0 yet matching: its dense network reached only 83.9% test
    accuracy, so an IMP subnetwork at 84.2% matched it while its copies were 12 pp apart.
    About 4.3 CPU-hours in all. (A wider first grid, 23 settings over T, image size, depth and
    data set at 84 CPU-hours, did not fit a 2-core machine; it is in git history before this
    screen.)"""
    screen = dict(levels=SCREEN_LEVELS)
    long_run = Candidate("fmnist_resnet_20_4", steps=1800, lr=0.4, rewind_steps=rewind_grid(1800, SCREEN_SHARES), **screen)
    return ([Candidate(f"fmnist_resnet_20_{w}", steps=600, lr=lr, rewind_steps=rewind_grid(600, SCREEN_SHARES), **screen)
             for w in (4, 8) for lr in (0.4, 0.2, 0.1)]
            + [long_run, *follow_ups(long_run)])


FOLLOW_UP_SHARES = (0.0, 0.05, 0.1, 0.2)  # k at 0, 5%, 10% and 20% of T


def follow_ups(candidate: Candidate) -> list[Candidate]:
    """Two screens of a setting whose IMP subnetwork fails at k = 0 and is rescued by rewinding
    (width 4, lr 0.4, T = 1800; 2026-12-04: IMP at k = 0 85.90% against the dense 87.26%, 38.8 pp
    apart, matching and stable at k = 90) but whose dense network was still unstable at its
    largest k (65.5 pp at k = 0, unstable at k = 90): the standard recipe on a longer k grid
    (10% and 20% of T: where does the dense network become stable?), and the ``low`` recipe at
    k = 0 (Table 2's other half: does IMP work at k = 0 with a tenth of the learning rate?).
    Both reuse the setting's cached runs where they are the same."""
    return [dataclasses.replace(candidate, rewind_steps=rewind_grid(candidate.steps, FOLLOW_UP_SHARES)),
            dataclasses.replace(candidate, variant="low", rewind_steps=(0,))]


def _neighbours(candidate: Candidate, level: int | None) -> tuple[int, ...]:
    """The stage-1 pick and one step of the candidate's level grid either side (the grid itself if
    nothing matched): a pick at the grid's sparsest level looks one step further."""
    if level is None:
        return candidate.levels
    step = candidate.levels[1] - candidate.levels[0] if len(candidate.levels) > 1 else 1
    return tuple(n for n in (level - step, level, level + step) if n >= 1)


STAGE_2_INITS = 3  # initializations of stage 2, one shard each (× 2 pairs)


def stage_2(picks) -> list[Candidate]:
    """For each stage-1 (candidate, Appendix B level) in ``picks``: 3 initializations × 2 pairs with
    all four subnetworks at that level and its neighbours; the standard recipe over its k grid,
    ``low`` and ``warmup`` at k = 0 (Table 2). One shard per initialization (``first_seed``), so
    that each is complete on its own within a session on one core; ``load`` joins them."""
    out = []
    for candidate, level in picks:
        base = dataclasses.replace(candidate, levels=_neighbours(candidate, level), n_init=1, pairs=2,
                                   subnetworks=sparse.SUBNETWORKS)
        out += [dataclasses.replace(base, first_seed=i, shard_step=k)
                for i in range(STAGE_2_INITS) for k in base.rewind_steps]
        for variant in ("low", "warmup"):
            out += [dataclasses.replace(base, variant=variant, rewind_steps=(0,), first_seed=i)
                    for i in range(STAGE_2_INITS)]
    return out


PROBE_LEVELS = 3  # stage 3: this many IMP levels beyond stage 2's sparsest, one grid step apart


def stage_3(stage_2_candidates) -> list[Candidate]:
    """Appendix B's rule beyond stage 2's grid: stage 2's levels stop where ``_neighbours`` put them,
    and if IMP still matches at the sparsest of them, the rule's density is sparser than the grid
    can say. For each setting of stage 2, one probe (``purpose`` "appendix_b"): its standard
    recipe at the next ``PROBE_LEVELS`` levels (one grid step apart), every k of its grid, 1
    initialization × 1 pair, the dense network and IMP only (the rule needs accuracies, not
    baselines). On the machine that computed stage 2 its IMP runs up to stage 2's sparsest level
    come from the run cache."""
    out = []
    for c in stage_2_candidates:
        if c.variant != "standard" or c.shard_step not in (None, c.rewind_steps[0]) or c.first_seed != 0:
            continue
        step = c.levels[1] - c.levels[0] if len(c.levels) > 1 else 1
        levels = tuple(c.levels[-1] + step * i for i in range(1, PROBE_LEVELS + 1))
        out.append(dataclasses.replace(c, levels=levels, subnetworks=SCREEN, n_init=1, pairs=1, shard_step=None,
                                       purpose="appendix_b"))
    return out


def best(shards: dict, n: int = 3) -> list[tuple[Candidate, int | None]]:
    """The ``n`` standard-recipe shards closest to the pattern: most of the screen's three criteria
    met, then the largest IMP test instability at k = 0; as (candidate, Appendix B level)."""
    scored = []
    for ds in shards.values():
        candidate = candidate_of(ds)
        if (candidate.variant != "standard" or (candidate.n_init, candidate.pairs) != (1, 1)
                or candidate.purpose != "search"):
            continue
        v = verdict(ds)
        met = v["imp_fails_at_0"] + v["imp_rescued"] + v["dense_unstable_at_0_stable_later"]
        scored.append((met, v["imp_instability_at_0_mean"], candidate, v["appendix_b_level"]))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return [(c, level) for _, _, c, level in scored[:n]]


# Stage 2's pick (2026-12-04): the one stage-1 setting that passed the screen (width 4, T = 1,800,
# lr 0.4: IMP at 16.8% fails at k = 0 and is rescued at k = 90; the dense network is stable from
# k = 180), with its ``low`` recipe working at k = 0. ``stage(2)`` uses it where its stage-1 shard
# is present (``--pick`` chooses others).
STAGE_2_PICKS = ("r20w4-fmnist14-T1800-lr0p4-standard-1x1-f3fe5d06",)


def stage(number: int, results_dir="results", picks=None, shards: dict | None = None) -> list[Candidate]:
    """Stage ``number``'s candidates; stage 2 from ``picks`` (stage-1 candidate ids, or None:
    ``STAGE_2_PICKS`` where their shards are under ``results_dir``, else the ``best`` stage-1 shards);
    stage 3 probes stage 2's settings beyond their sparsest level (``stage_3``). ``shards``:
    ``load(results_dir)`` where the caller has it already."""
    if number not in (1, 2, 3):
        raise ConfigError(f"stage must be 1, 2 or 3, got {number!r}")
    if number == 1:
        return stage_1()
    shards = load(results_dir) if shards is None else shards
    base = _stage_2_base(shards, results_dir, picks)
    if number == 3:
        return stage_3(base)
    return base + extension(base, shards)


def extension(base, shards: dict) -> list[Candidate]:
    """Stage 2 carried to Appendix B's density where stage 3's probe found it beyond stage 2's
    levels: for each setting whose probe (``probe``) finds IMP matching at some k at level L
    sparser than its sparsest level, every stage-2 shard of the setting again (each
    initialization, k and recipe) at the probe's levels up to L. ``join`` adds them to the
    setting's result along ``level`` once every initialization has them."""
    out = []
    for name in dict.fromkeys(c.name for c in base):
        found = _probe_named(shards, name)
        if found is None:
            continue
        w = verdict(found)
        mine = [c for c in base if c.name == name]
        if not _matches_beyond(w, max(mine[0].levels)):
            continue
        pick = w["appendix_b_level"]
        levels = tuple(n for n in candidate_of(found).levels if n <= pick)
        out += [dataclasses.replace(c, levels=levels) for c in mine]
    return out


def _stage_2_base(shards: dict, results_dir="results", picks=None) -> list[Candidate]:
    """Stage 2 from its picks (``stage``; ``shards`` as ``load(results_dir)`` gives them), before
    any ``extension``."""
    if not picks and all(p in shards for p in STAGE_2_PICKS):
        picks = STAGE_2_PICKS
    if picks:
        by_id = {candidate_of(ds).id: ds for ds in shards.values()}
        unknown = [p for p in picks if p not in by_id]
        if unknown:
            raise ConfigError(f"no stage-1 shard {unknown} under {Path(results_dir) / FOLDER}")
        return stage_2([(candidate_of(by_id[p]), verdict(by_id[p])["appendix_b_level"]) for p in picks])
    if not shards:
        raise ConfigError(f"stage 2 picks the best stage-1 shards and there are none under "
                          f"{Path(results_dir) / FOLDER}; compute stage 1 first ({command(1)})")
    return stage_2(best(shards))


# --- what has been found -----------------------------------------------------------------------

def summary(shards: dict) -> pd.DataFrame:
    """One row per shard (negative results included): the setting, its draws and density, the
    criteria and their numbers. Every recipe is judged at its own Appendix B density, as Table 1
    gives each variant its own (ResNet-20: 16.8% standard, 8.6% low and warmup; Appendix B
    selects "for each network and hyperparameter configuration"); ``table_2`` also shows the
    ``low`` and ``warmup`` recipes at the standard recipe's density."""
    rows = []
    for ds in shards.values():
        c = candidate_of(ds)
        v = verdict(ds)
        rows.append({
            "candidate": c.id, "network": _short(c.model), "data": f"{c.dataset} {c.image_size}px",
            "T": c.steps, "variant": c.variant, "purpose": c.purpose, "lr": c.hparams().lr, "draws": v["draws"],
            "density (%)": round(v["density"], 1), "full k=0 (%)": v["full_at_0"], "IMP k=0 (%)": v["imp_at_0"],
            "IMP k=0 instability (pp)": v["imp_instability_at_0"], "IMP fails at k=0": v["imp_fails_at_0"],
            "IMP rescued": v["imp_rescued"], "rescued from k": v["rescued_from"],
            "baselines never match": v["baselines_never_match"],
            "dense k=0 instability (pp)": v["dense_instability_at_0"],
            "dense unstable, then stable": v["dense_unstable_at_0_stable_later"],
            "IMP works at k=0": v["imp_works_at_0"], "enough draws": v["enough_draws"], "screen": v["screen"],
            "shows pattern": v["shows_pattern"]})
    return pd.DataFrame(rows)


TABLE_2_VARIANTS = tuple(VARIANTS)  # Table 2's rows: standard, low, warmup


def per_initialization(shards: dict, name: str | None = None) -> pd.DataFrame:
    """Whether the pattern rests on every initialization or on a lucky one: for the setting nearest
    the pattern (or ``name``), each recipe's result with the most draws judged one initialization
    at a time (its pairs only), at the density its whole result is judged at (each recipe's own
    Appendix B density, as ``summary``). One row per
    (variant, initialization): IMP and the full network at k = 0, IMP's test instability there,
    the first k ≤ 10% of T that rescues IMP, whether the baselines never match, the dense network's
    instability at k = 0 and the k it is stable from; empty when no standard setting is computed."""
    standard = _nearest(shards, "standard", name)
    if standard is None:
        return pd.DataFrame()
    name = candidate_of(standard).name
    rows = []
    for variant in TABLE_2_VARIANTS:
        ds = _nearest(shards, variant, name)
        if ds is None:
            continue
        level = verdict(ds)["level"]
        for seed in ds.init_seed.values:
            v = verdict(ds.sel(init_seed=[seed]), level)
            rows.append({"variant": variant, "init_seed": int(seed), "pairs": ds.sizes["pair"],
                         "density (%)": round(v["density"], 1), "full k=0 (%)": v["full_at_0"],
                         "IMP k=0 (%)": v["imp_at_0"], "IMP k=0 instability (pp)": v["imp_instability_at_0"],
                         "IMP fails at k=0": v["imp_fails_at_0"], "IMP works at k=0": v["imp_works_at_0"],
                         "rescued from k": v["rescued_from"] if len(ds.rewind_step) > 1 else None,
                         "baselines never match": v["baselines_never_match"],
                         "dense k=0 instability (pp)": v["dense_instability_at_0"],
                         "dense stable from k": v["dense_stable_from"] if len(ds.rewind_step) > 1 else None,
                         "dense unstable, then stable": (v["dense_unstable_at_0_stable_later"]
                                                         if len(ds.rewind_step) > 1 else None)})
    return pd.DataFrame(rows).astype({"rescued from k": "Int64", "dense stable from k": "Int64"}) if rows else pd.DataFrame()


def one_at_a_time(frame: pd.DataFrame) -> str:
    """``per_initialization``'s table as a sentence for the a_s appendix: on how many of the
    standard recipe's initializations each criterion holds on its own pairs (naming those where it
    does not), and on how many of the other recipes' IMP at k = 0 works, each at its density; then
    whether every initialization shows its part (``verdict`` judges the mean over them). A
    criterion no row could judge (stage 1's missing baselines) is left out."""
    if frame.empty:
        return "not testable yet: no standard setting is computed"
    criteria = (("IMP fails at k=0", "IMP at k = 0 is neither matching nor stable"),
                ("rescued from k", "some k ≤ 10% of T makes it matching and stable"),
                ("baselines never match", "random pruning and reinitialization match at no k"),
                ("dense unstable, then stable", "the dense network is unstable at k = 0 and stable later"))
    short, parts = [], []
    for variant, rows in frame.groupby("variant", sort=False):
        n, density = len(rows), rows["density (%)"].iloc[0]
        if variant == "standard":  # "rescued from k" holds a k, the others a truth value (None: not judged)
            checks = [(label, rows[column].notna() if column == "rescued from k" else rows[column].fillna(False))
                      for column, label in criteria if column == "rescued from k" or rows[column].notna().any()]
        else:
            checks = [("IMP at k = 0 is matching and stable", rows["IMP works at k=0"])]
        checks[0] = (f"with the {variant} recipe at {density:.1f}%, {checks[0][0]}", checks[0][1])
        for label, held in checks:
            missed = [int(seed) for seed in rows.init_seed[~held.to_numpy(dtype=bool)]]
            parts.append(f"{label} on {n - len(missed)} of {n}"
                         + (f" (not on initialization {', '.join(map(str, missed))})" if missed else ""))
            if missed:
                short.append(label)
    return ("One initialization at a time: " + "; ".join(parts) + ". "
            + ("Every initialization measured shows its part of the pattern on its own pairs."
               if not short else f"Not every initialization shows its part of the pattern on its own pairs "
                                 f"({len(short)} of the {len(parts)} criteria above)."))


def table_2(shards: dict, name: str | None = None) -> pd.DataFrame:
    """Table 2's layout for one setting (``name``, a ``Candidate.name``; default: the standard
    setting ``best`` ranks first): one row per variant, each from its shard with the most draws, at
    k = 0 and the variant's own Appendix B density (its verdict's level, as Table 1 gives each
    variant its own), and for ``low`` and ``warmup`` a second row at the standard recipe's density
    where that differs (the comparison at one density, our addition): the test accuracy of the full
    network, IMP, random pruning and random reinitialization (mean ± std over initializations ×
    pairs × copies), whether each subnetwork is matching (Y/N, within one std of the full
    network), IMP's test instability at k = 0, and the draws; then the paper's ResNet-20 rows
    (``reported.TABLE2``) beside. A subnetwork the shard did not train is "—"."""
    standard = _nearest(shards, "standard", name)
    if standard is None:
        return pd.DataFrame()
    name = candidate_of(standard).name
    chosen = {v: _nearest(shards, v, name) for v in TABLE_2_VARIANTS}
    chosen = {v: ds for v, ds in chosen.items() if ds is not None and 0 in ds.rewind_step.values}
    level = verdict(chosen["standard"])["level"]
    judged = []  # (row label, result, level)
    for variant in (v for v in TABLE_2_VARIANTS if v in chosen):
        own = verdict(chosen[variant])["level"]
        judged.append((variant, chosen[variant], own))
        if variant != "standard" and own != level and level in chosen[variant].level.values:
            judged.append((f"{variant} at the standard recipe's density", chosen[variant], level))
    rows = []
    for label_, ds, at in judged:
        acc = ds.test_accuracy.sel(rewind_step=0)
        dense = acc.sel(subnetwork="dense").isel(level=0)
        full, full_std = tables.full_spread(dense)
        row = {"setting": name, "variant": label_, "density (%)": round(100 * imp.density_after(at), 1),
               "draws": f"{ds.sizes['init_seed']} × {ds.sizes['pair']}",
               "full (%)": results.mean_std(dense, unit="copy")}
        for sub, label in (("imp", "IMP"), ("random_prune", "random pruning"), ("random_reinit", "random reinit")):
            if sub not in ds.subnetwork.values:
                row[f"{label} (%)"], row[f"{label} matching"] = "—", "—"
                continue
            values = acc.sel(subnetwork=sub, level=at)
            row[f"{label} (%)"] = results.mean_std(values, unit="copy")
            row[f"{label} matching"] = "Y" if tables.matching_at(values, full, full_std) else "N"
        row["IMP instability (pp)"] = results.mean_std(
            ds.test_instability.sel(rewind_step=0, subnetwork="imp", level=at))
        rows.append(row)
    for variant in TABLE_2_VARIANTS:
        theirs = reported.TABLE2[("cifar_resnet_20", variant)]
        setting = reported.setting("cifar_resnet_20", variant)

        def printed(value: float) -> str:  # the paper's Y/N rule on its printed, rounded numbers
            return "Y" if imp.matching(value, theirs.full, setting.accuracy[1], resolution=0.1) else "N"

        rows.append({"setting": "paper: ResNet-20 (CIFAR-10)", "variant": variant,
                     "density (%)": setting.pruning_density, "draws": "3 × 3",
                     "full (%)": f"{theirs.full:g}", "IMP (%)": f"{theirs.imp:g}", "IMP matching": printed(theirs.imp),
                     "random pruning (%)": f"{theirs.random_prune:g}",
                     "random pruning matching": printed(theirs.random_prune),
                     "random reinit (%)": f"{theirs.random_reinit:g}",
                     "random reinit matching": printed(theirs.random_reinit), "IMP instability (pp)": "—"})
    return pd.DataFrame(rows)


def densities(shards: dict, name: str | None = None) -> str:
    """Appendix B's density for each recipe of the setting nearest the pattern (or ``name``), each
    from its result with the most draws (``verdict``'s level), beside Table 1's for ResNet-20
    (``reported.setting``), and whether the standard recipe's is the denser one, as in the paper;
    "not testable yet: ..." when no standard setting is computed. A recipe measured at k = 0 only
    could reach a sparser density with rewinding, so the sentence says so."""
    standard = _nearest(shards, "standard", name)
    if standard is None:
        return "not testable yet: no setting of the stand-in search is computed"
    name = candidate_of(standard).name
    ours, at_0_only = {}, []  # variant -> verdict; the variants measured at k = 0 only
    for variant in TABLE_2_VARIANTS:
        ds = _nearest(shards, variant, name)
        w = verdict(ds) if ds is not None else None
        if w is not None and w["level"] is not None:
            ours[variant] = w
            if list(ds.rewind_step.values) == [0]:
                at_0_only.append(variant)
    paper = {v: reported.setting("cifar_resnet_20", v).pruning_density for v in TABLE_2_VARIANTS}
    text = (f"Appendix B's density per recipe of {name}: "
            + ", ".join(f"{v} {w['density']:.1f}% ({w['draws']} draws" + (", k = 0 only" if v in at_0_only else "") + ")"
                        for v, w in ours.items())
            + "; Table 1's for ResNet-20: " + ", ".join(f"{v} {d:g}%" for v, d in paper.items()) + ".")
    others = [v for v in ours if v != "standard"]
    if not others:
        return text
    paper_denser = all(paper["standard"] > paper[v] for v in others)  # ResNet-20: 16.8% against 8.6%
    level = ours["standard"]["level"]  # a larger level is a sparser density
    signs = {(level > ours[v]["level"]) - (level < ours[v]["level"]) for v in others}
    order = ("the order differs by recipe" if len(signs) > 1 else
             "the standard recipe's density is the same as the others'" if signs == {0} else
             "the standard recipe's density is the " + ("denser" if signs == {-1} else "sparser") + " one, "
             + ("as in the paper" if (signs == {-1}) == paper_denser else "the other way round from the paper"))
    short = [v for v in others if v in at_0_only]
    return (text + f" Here {order}"
            + (f"; {' and '.join(short)} {'is' if len(short) == 1 else 'are'} measured at k = 0 only, and rewinding "
               f"could carry {'it' if len(short) == 1 else 'them'} sparser" if short else "")
            + ".")


def against_quick(shards: dict, results_dir="results") -> str:
    """Why the ``quick`` book keeps its cheaper stand-in (``reported.STAND_IN``): the nearest
    setting's T and Appendix B density beside the quick stand-in's, and the CPU time its shard
    files under ``results_dir`` record (``run``'s ``cpu_seconds``), as a clause for the a_s
    appendix; "no setting ..." when no standard setting is computed."""
    ds = _nearest(shards)
    if ds is None:
        return "no setting of the stand-in search is computed yet"
    candidate, v = candidate_of(ds), verdict(ds)
    timed = [seconds / 60 for c, seconds in cpu_seconds(results_dir).values() if c.name == candidate.name]
    quick = reported.setting(reported.STAND_IN)
    steps = hparams.total_steps(quick.hparams)
    judged = (f"is judged at {v['density']:.1f}% of the weights (IMP level {v['level']}: as many rounds of "
              f"training and pruning)" if v["level"] is not None else "matches at no IMP level")
    return (f"the nearest setting ({candidate.name}) trains T = {candidate.steps:,} iterations, "
            f"{candidate.steps / steps:.3g} times the quick stand-in's {steps:,}, and {judged}, where the "
            f"quick stand-in stops at {quick.pruning_density:g}%"
            + (f"; its {len(timed)} shard files record {min(timed):.0f} to {max(timed):.0f} CPU-minutes each "
               f"(one core; a shard reuses the runs earlier shards left in the run cache)" if timed else ""))


def _nearest(shards: dict, variant: str = "standard", name: str | None = None) -> xr.Dataset | None:
    """The ``variant`` shard of setting ``name`` (default: the standard setting ``best`` ranks first
    among stage 1's, or without any, the standard setting with the most draws) with the most draws,
    or None."""
    if name is None:
        picked = best(shards, n=1)
        if picked:
            name = picked[0][0].name
        else:
            standard = [ds for ds in shards.values()
                        if (candidate_of(ds).variant, candidate_of(ds).purpose) == ("standard", "search")]
            if not standard:
                return None
            name = candidate_of(max(standard, key=lambda ds: ds.sizes["init_seed"] * ds.sizes["pair"])).name
    found = [ds for ds in shards.values()
             if (candidate_of(ds).name, candidate_of(ds).variant, candidate_of(ds).purpose) == (name, variant, "search")]
    # the most draws; between equals, the longest k grid (stage 1's follow-up over its screen)
    return max(found, key=lambda ds: (ds.sizes["init_seed"] * ds.sizes["pair"], ds.sizes["rewind_step"]), default=None)


def rewind_curve(shards: dict, name: str | None = None) -> tuple[xr.Dataset | None, str]:
    """Figures 6 and 7 for the setting nearest the pattern (or ``name``): its standard recipe's
    shard with the most draws at its verdict's level, as a ``sparse_curve``-like result (``error``
    and ``instability`` over rewind_step, subnetwork, init_seed, pair, ...) for
    ``plots.instability_vs_rewind`` and ``plots.error_vs_rewind``, with a title that names the
    setting, its density and draws; (None, "") when no standard setting is computed."""
    ds = _nearest(shards, "standard", name)
    if ds is None:
        return None, ""
    c, at = candidate_of(ds), verdict(ds)["level"]
    title = (f"{c.name} ({100 * imp.density_after(at):.1f}% of weights, "
             f"{ds.sizes['init_seed']} × {ds.sizes['pair']} draws)")
    return ds.sel(level=at), title


def sparsity_grid(shards: dict, name: str | None = None) -> tuple[xr.Dataset | None, str]:
    """Figure 8 for the setting nearest the pattern (or ``name``): its standard recipe's shard with
    the most draws at every level it has, as a ``sparse.sparsity_grid``-like result for
    ``tables.stability_and_matching``, with a title that names the setting and its draws; (None, "")
    when no standard setting is computed. Stage 1's shards hold the dense network and IMP only."""
    ds = _nearest(shards, "standard", name)
    if ds is None:
        return None, ""
    return ds, f"{candidate_of(ds).name} ({ds.sizes['init_seed']} × {ds.sizes['pair']} draws)"


def figure_9(shards: dict, name: str | None = None) -> tuple[pd.DataFrame, tuple[float, float], str, str]:
    """Appendix B's Figure 9 for the setting nearest the pattern (or ``name``), from its standard
    recipe's shard with the most draws: ``appendices.figure9_table``'s table (per level IMP at its
    best k and at k = 0, and the random baselines at k = 0, where trained), the full network's
    mean and std at k = 0, a title with the draws, and the sentence ``appendix_b`` gives; (empty
    table, (nan, nan), "", "not testable yet: ...") when no standard setting is computed."""
    ds = _nearest(shards, "standard", name)
    if ds is None:
        return pd.DataFrame(), (float("nan"), float("nan")), "", "not testable yet: no setting of the stand-in search is computed"
    if "density" in ds:  # measured per initialization; the nominal 0.8^level otherwise
        density = ds.density.sel(subnetwork="imp").mean([d for d in ds.density.dims if d not in ("level", "subnetwork")])
        density = density.drop_vars("subnetwork", errors="ignore")
    else:
        density = xr.DataArray([imp.density_after(int(n)) for n in ds.level.values], coords={"level": ds.level.values})
    layout = xr.Dataset({"accuracy": ds.test_accuracy, "density": density})
    title = f"{candidate_of(ds).name} ({ds.sizes['init_seed']} × {ds.sizes['pair']} draws)"
    return appendices.figure9_table(layout), appendices.full_network(layout), title, appendix_b(ds, probe(shards, ds))


def probe(shards: dict, ds: xr.Dataset) -> xr.Dataset | None:
    """Stage 3's probe (``stage_3``) of the setting of search result ``ds``, or None."""
    return _probe_named(shards, candidate_of(ds).name)


def _matches_beyond(probe_verdict: dict, level: int) -> bool:
    """Whether stage 3's probe (its ``verdict``) finds IMP matching at some k sparser than ``level``."""
    return probe_verdict["appendix_b_level"] is not None and probe_verdict["appendix_b_level"] > level


def _probe_named(shards: dict, name: str) -> xr.Dataset | None:
    found = [p for p in shards.values() if (candidate_of(p).name, candidate_of(p).purpose) == (name, "appendix_b")]
    return found[0] if found else None


def _densities(ds: xr.Dataset) -> str:
    return ", ".join(f"{100 * imp.density_after(int(n)):.1f}%" for n in ds.level.values)


def appendix_b(ds: xr.Dataset, beyond: xr.Dataset | None = None) -> str:
    """Appendix B's choice for one search result, as a sentence: the sparsest level at which IMP
    at some rewind step matches the full network at the same k (``verdict``), its density and
    draws, and whether the grid stopped the rule (its sparsest level still matching); with
    ``beyond`` (stage 3's probe of the sparser levels), what the rule finds there too."""
    v = verdict(ds)
    if v["appendix_b_level"] is None:
        return (f"IMP matches the full network at no rewind step at any density measured ({_densities(ds)}; "
                f"{v['draws']} draws): Appendix B's rule picks none")
    text = f"Appendix B's rule picks {v['density']:.1f}% of the weights (level {v['appendix_b_level']}, of " \
           f"{_densities(ds)}; {v['draws']} draws)"
    if not v["appendix_b_at_sparsest"]:
        return text + ": IMP matches at no k at the sparser densities measured"
    if beyond is None:
        return (text + f": the sparsest density measured, so the rule's answer is {v['density']:.1f}% or "
                f"sparser; stage 3 (`lmc search-standin --stage 3`) probes the sparser levels")
    w = verdict(beyond)
    settled = ("" if _matches_beyond(w, v["level"]) else f"; none sparser than {v['density']:.1f}%, so that is the rule's answer")
    return (text + f": the sparsest density measured. Stage 3's probe beyond it ({_densities(beyond)}; "
            f"{w['draws']} draws, the dense network and IMP only): {_beyond(beyond)}{settled}")


def _beyond(probe_ds: xr.Dataset) -> str:
    """What stage 3's probe finds: how far IMP at some k still matches, or that it nowhere does."""
    w = verdict(probe_ds)
    if w["appendix_b_level"] is None:
        return "IMP matches at none of them at any k"
    return (f"IMP matches at some k down to {w['density']:.1f}% (level {w['appendix_b_level']})"
            + (", the probe's sparsest level too" if w["appendix_b_at_sparsest"] else ""))


def figure_8(grid: xr.Dataset | None) -> tuple[pd.DataFrame, str]:
    """Figure 8 for a search result (``sparsity_grid``'s): per density and subnetwork the first k
    from which it is stable and matching (``tables.stability_and_matching`` with Figure 8's
    margin), and a sentence for the chapter: at how many densities IMP becomes matching at the
    k of the grid at which it becomes stable (Section 4.4: "at about the same" step), with the
    draws; (empty table, "not testable yet: ...") for None."""
    if grid is None:
        return pd.DataFrame(), "not testable yet: no setting of the stand-in search is computed"
    table = tables.stability_and_matching(grid, margin=reported.MATCHING_MARGIN)
    rows = table[table.subnetwork == "imp"]
    same = rows[(rows["stable from k"] == rows["matching from k"]).fillna(False)]

    def k(value) -> str:
        return "no k of the grid" if pd.isna(value) else f"k = {value}"

    each = "; ".join(f"{r['density (%)']:.1f}%: stable from {k(r['stable from k'])}, matching from "
                     f"{k(r['matching from k'])}" for _, r in rows.iterrows())
    n = grid.sizes["init_seed"] * grid.sizes["pair"]
    word = ("not testable yet (one draw; a verdict needs at least two)" if n < 2 else
            "supported" if len(same) == len(rows) else "contradicted" if same.empty else "partly supported")
    return table, (f"{word}: IMP becomes matching at the rewind step at which it becomes stable at "
                   f"{len(same)} of {len(rows)} densities ({each}; {grid.sizes['init_seed']} × "
                   f"{grid.sizes['pair']} draws, k = {', '.join(str(int(k)) for k in grid.rewind_step.values)})")


def curves(shards: dict) -> pd.DataFrame:
    """For the figure: per shard, IMP at its verdict's level against k as % of T: test instability
    and test accuracy minus the full network's at the same k (pp), per initialization and pair."""
    frames = []
    for ds in shards.values():
        c = candidate_of(ds)
        at = verdict(ds)["level"]
        acc = ds.test_accuracy.mean("copy")
        gap = acc.sel(level=at, subnetwork="imp") - acc.sel(subnetwork="dense").isel(level=0).mean(("init_seed", "pair"))
        frame = xr.Dataset({"instability": ds.test_instability.sel(level=at, subnetwork="imp"),
                            "gap": gap.drop_vars("level", errors="ignore")}).to_dataframe().reset_index()
        frame["k (% of T)"] = 100 * frame["rewind_step"] / c.steps
        frame["candidate"] = f"{c.name} {c.variant} ({100 * imp.density_after(at):.0f}%)"
        frames.append(frame[["candidate", "k (% of T)", "instability", "gap"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["candidate", "k (% of T)", "instability", "gap"])


def command(number: int, jobs: int = 2, picks=None) -> str:
    """The command that computes stage ``number``'s missing shards, one process per core."""
    pick = f" --pick {' '.join(picks)}" if picks else ""
    return f"lmc search-standin --stage {number} --jobs {jobs}{pick}"


def conclusion(shards: dict, candidates, results_dir="results", number: int = 1) -> str:
    """The finding so far, as a sentence for the book: which setting shows the whole pattern (the
    four criteria on ≥ 3 × 2 draws, and IMP at k = 0 matching and stable with ``low`` or
    ``warmup``), or that none does yet, and how many of stage ``number``'s shards are missing."""
    table = summary(shards)
    todo = missing(candidates, results_dir)
    left = (f" {len(todo)} of the {len(candidates)} shards of stage {number} are still to compute "
            f"(about {sum(map(estimated_seconds, todo)) / 3600:.0f} CPU-hours; `{command(number)}` computes them)."
            if todo else f" Every shard of stage {number} is computed." if candidates else "")
    if table.empty:
        return "Nothing is computed yet." + left
    found, halves = [], []  # settings with the whole pattern; those whose standard recipe alone shows it
    for _, row in table[table["shows pattern"]].iterrows():
        recipe = row["candidate"].split("-standard-")[0]
        variants = table[table.candidate.str.startswith(recipe + "-") & (table.variant != "standard")]
        others = variants[variants["IMP works at k=0"] & variants["enough draws"]]
        if not others.empty:
            found.append(f"{row['candidate']} (with {', '.join(others.variant)})")
        else:
            halves.append((row, variants))
    if found:  # the numbers it rests on, the mean over the draws: ``closest`` on the same setting
        return (f"The whole pattern holds, on the mean over its draws, for {', '.join(found)}."
                + closest(shards, lead="In numbers") + left)
    screened = int(table["screen"].sum())
    text = (f"No setting shows the whole pattern yet: of the {len(table)} computed, {screened} pass the "
            f"screen (IMP at k = 0 neither matching nor stable, rescued by rewinding to k ≤ 10% of T, "
            f"the dense network unstable at k = 0 and stable later).")
    for row, variants in halves:  # the standard recipe's four criteria hold; Table 2's other half is short
        works = variants[variants["IMP works at k=0"]]
        text += (f" The standard recipe of {row['candidate']} meets all four criteria on {row.draws} draws; "
                 f"what is missing is Table 2's other half, IMP at k = 0 matching and stable with the low or "
                 f"warmup recipe on at least 3 × 2 draws ("
                 + (f"shown on {', '.join(sorted(set(works.draws)))} so far" if not works.empty else
                    "not shown on any draws so far" if not variants.empty else "neither recipe is computed")
                 + ").")
    return text + closest(shards) + left


def finding(results_dir="results", shards: dict | None = None) -> tuple[str, str]:
    """What the search shows so far, for the chapters that cite it: ("supported", sentence) where a
    setting shows the whole pattern (the four criteria on ≥ 3 × 2 draws, with its ``low`` or
    ``warmup`` recipe matching and stable at k = 0; the sentence adds ``one_at_a_time``, as the
    verdict is on the mean), ("contradicted", ...) where stage 2 is
    computed and none does, else ("not testable yet", ...); the sentence is ``conclusion``'s, for
    stage 2 once stage 1 has a shard. ``shards``: ``load(results_dir)`` where the caller has it."""
    shards = load(results_dir) if shards is None else shards
    number = 2 if shards else 1
    candidates = stage(number, results_dir, shards=shards)
    text = conclusion(shards, candidates, results_dir, number)
    unsettled = density_unsettled(shards)
    if unsettled and (text.startswith("The whole pattern holds") or number == 2):
        # judged at a density that is not Appendix B's: neither verdict stands
        return "not testable yet", f"{text} {unsettled}"
    if text.startswith("The whole pattern holds"):  # judged on the mean; say what each initialization shows
        return "supported", f"{text} {one_at_a_time(per_initialization(shards))}"
    # a setting's standard recipe on ≥ 3 × 2 draws without the pattern decides it, whatever its
    # low and warmup shards still to compute would show
    judged = [(candidate_of(ds), verdict(ds)) for ds in shards.values()]
    failed = {c.name for c, v in judged if c.variant == "standard" and v["enough_draws"] and not v["shows_pattern"]}
    if number == 2 and candidates and (not missing(candidates, results_dir)
                                       or {c.name for c in candidates} <= failed):
        return "contradicted", text
    return "not testable yet", text


def density_unsettled(shards: dict, name: str | None = None) -> str:
    """Why the nearest setting's (or ``name``'s) result with the most draws is not judged at
    Appendix B's density, or "" when it is: its rule picks the sparsest level of the grid and
    either no stage-3 probe is computed or the probe finds IMP matching beyond the grid."""
    ds = _nearest(shards, "standard", name)
    if ds is None:
        return ""
    v = verdict(ds)
    if v["appendix_b_level"] is None or not v["appendix_b_at_sparsest"]:
        return ""
    beyond = probe(shards, ds)
    if beyond is None:
        return (f"Appendix B's density is not settled: IMP still matches at {v['density']:.1f}%, the sparsest "
                f"level measured, and stage 3's probe of the sparser levels is not computed "
                f"(`lmc search-standin --stage 3`).")
    w = verdict(beyond)
    if not _matches_beyond(w, max(ds.level.values)):
        return ""
    return (f"Appendix B's density lies beyond the grid the criteria are judged on: stage 3's probe "
            f"({w['draws']} draws) finds that {_beyond(beyond)}, so the search's levels must reach "
            f"that density before the pattern can be judged there.")


def quoted(results_dir="results", shards: dict | None = None) -> dict[str, str]:
    """What chapters 04-06 quote from the search, as glue key -> text: ``search_word`` and
    ``search_finding`` (``finding``), ``search_figure_8`` (``figure_8`` on the nearest
    setting's grid), ``search_appendix_b`` (``appendix_b`` on it, for Appendix B) and
    ``search_densities`` (``densities``: each recipe's Appendix B density beside Table 1's). ``shards``: the search's results as ``load`` gives them, when the caller has
    them already (read from ``results_dir`` otherwise)."""
    shards = load(results_dir) if shards is None else shards
    word, text = finding(results_dir, shards)
    return {"search_word": word, "search_finding": text, "search_figure_8": figure_8(sparsity_grid(shards)[0])[1],
            "search_appendix_b": figure_9(shards)[3], "search_densities": densities(shards)}


def _pp(text: str) -> str:
    """"0.35 (one pair)" -> "0.35 pp (one pair)"; "1.2 ± 0.3" -> "1.2 ± 0.3 pp"."""
    value, one, rest = text.partition(" (")
    return f"{value} pp" + (f" ({rest}" if one else "")


def closest(shards: dict, lead: str = "Nearest") -> str:
    """A sentence on the standard-recipe setting nearest the pattern (``best``), from its shard with
    the most draws (``_nearest``), with its numbers against each screening criterion, and on its
    ``low`` and ``warmup`` recipes where computed (each its shard with the most draws, judged at
    its own Appendix B density and, where that differs, at the standard recipe's); "" when no
    standard setting is computed. ``lead`` opens it ("Nearest" short of the pattern, "In numbers"
    where the setting shows it)."""
    ds = _nearest(shards)
    if ds is None:
        return ""
    candidate = candidate_of(ds)
    v = verdict(ds)
    k_max = max(int(k) for k in ds.rewind_step.values)
    parts = [f"IMP at k = 0 is {v['imp_at_0']}% against the full network's {v['full_at_0']}% "
             f"({'' if v['imp_matching_at_0'] else 'not '}matching) with test instability "
             f"{_pp(v['imp_instability_at_0'])}",
             (f"rewinding to k = {v['rescued_from']} ({100 * v['rescued_from'] / candidate.steps:.0f}% of T) makes it "
              f"matching and stable" if v["imp_rescued"] else "no rewind step up to 10% of T makes it matching and stable"),
             (f"the dense network's test instability is {_pp(v['dense_instability_at_0'])} at k = 0 and "
              + (f"below 2 pp from k = {v['dense_stable_from']}" if v["dense_stable_from"] is not None
                 else f"still at least 2 pp at k = {k_max}, the largest k measured"))]
    for variant in TABLE_2_VARIANTS[1:]:
        ds_other = _nearest(shards, variant, candidate.name)
        if ds_other is not None:
            other = candidate_of(ds_other)
            w = verdict(ds_other)
            text = (f"with the {other.variant} recipe ({w['draws']} draws), at its own Appendix B density "
                    f"{w['density']:.1f}%, IMP at k = 0 is {w['imp_at_0']}% against {w['full_at_0']}% with test "
                    f"instability {_pp(w['imp_instability_at_0'])} "
                    f"({'matching and stable' if w['imp_works_at_0'] else 'not both matching and stable'})")
            if w["level"] != v["level"] and v["level"] in other.levels:
                u = verdict(ds_other, v["level"])
                text += (f", and at the standard recipe's {v['density']:.1f}% it is {u['imp_at_0']}% with "
                         f"{_pp(u['imp_instability_at_0'])} "
                         f"({'matching and stable' if u['imp_works_at_0'] else 'not both matching and stable'})")
            parts.append(text)
    beyond = probe(shards, ds)
    censored = ""
    if v["appendix_b_at_sparsest"] and v["level"] == v["appendix_b_level"]:
        w = verdict(beyond) if beyond is not None else None
        if w is not None and not _matches_beyond(w, v["level"]):
            censored = (f" (the sparsest level measured; stage 3's probe, {w['draws']} draws, finds "
                        f"IMP matching at no sparser level)")
        else:
            censored = (" (the sparsest level measured, at which IMP still matches: Appendix B's density may be "
                        "sparser still" + (f"; stage 3's probe, {w['draws']} draws: {_beyond(beyond)}"
                                           if w is not None else "") + ")")
    return (f" {lead}: {candidate.id} at {v['density']:.1f}% density{censored} ({v['draws']} draws): "
            + "; ".join(parts) + ".")


# --- running in the background: one process per core ---------------------------------------------

def run_parallel(candidates, jobs: int = 2, results_dir="results", device: str = "cpu", *, number: int,
                 picks=None):
    """Compute the missing shards of ``candidates`` (stage ``number``'s, listed under ``picks``),
    ``jobs`` at a time, each in a child process with cores / ``jobs`` torch threads (one per core on
    a 2-core machine with ``jobs`` 2); yields (candidate, seconds, error or None) as each finishes.
    A child's output goes to ``<cache>/standin_search/<id>.log``."""
    code = ("import json, sys; from lmc.studies import standin_search as s; "
            "s.run([s.Candidate.from_dict(json.loads(sys.argv[1]))], sys.argv[2], sys.argv[3], progress=False, "
            "number=int(sys.argv[4]), picks=json.loads(sys.argv[5]))")
    logs = store.cache_dir() / FOLDER
    tasks = [(c, ["-c", code, json.dumps(c.as_dict()), str(results_dir), device, str(number),
                  json.dumps(list(picks) if picks else None)], logs / f"{c.id}.log")
             for c in missing(candidates, results_dir)]
    for c, seconds, returncode, log in processes.run(tasks, jobs, poll=1.0):
        yield c, seconds, None if returncode == 0 else f"exit {returncode}; see {log}"


def cpu_seconds(results_dir="results") -> dict[str, tuple[Candidate, float]]:
    """Each shard file under ``results_dir`` that records its CPU time (``run``'s ``cpu_seconds``),
    by candidate id: its candidate and the seconds."""
    out = {}
    for path in sorted(paths.standin_folder(results_dir).glob("*.nc")):
        if not results.is_kept(path):
            attrs = results.attributes(path)
            if "cpu_seconds" in attrs:
                out[path.stem] = (candidate_of(attrs), attrs["cpu_seconds"])
    return out


def status_text(results_dir="results") -> str:
    """For ``lmc status``: per stage, how many of its shards exist under ``results_dir`` and the
    command for each missing one (stage 2 once stage 1 has a shard)."""
    lines = [f"stand-in search in {paths.standin_folder(results_dir)} (appendix: choosing the CPU stand-in)"]
    shards, timings = load(results_dir), cpu_seconds(results_dir)
    for number in (1, 2, 3):
        try:
            candidates = stage(number, results_dir, shards=shards)
        except ConfigError as error:  # stage 2 or 3 before any stage-1 shard
            lines.append(f"  stage {number}: {error}")
            continue
        todo = missing(candidates, results_dir)
        timed = [timings[c.id][1] for c in candidates if c.id in timings]
        lines.append(f"  stage {number}: {len(candidates) - len(todo)} of {len(candidates)} shards"
                     + (f" ({len(timed)} timed: {sum(timed) / 3600:.1f} CPU-hours)" if timed else "")
                     + (f"; the missing ones about {sum(map(estimated_seconds, todo)) / 3600:.0f} CPU-hours "
                        f"(estimated)" if todo else ""))
        lines += [f"    missing  {c.id}  {shard_command(number, c.id)}" for c in todo]
    return "\n".join(lines)


def grid_table(candidates, results_dir="results") -> pd.DataFrame:
    """The candidates of a stage: what each varies, its estimated CPU time and whether its shard exists."""
    return pd.DataFrame([{
        "candidate": c.id, "network": _short(c.model), "params": models.count_parameters(models.build(c.model)),
        "data": f"{c.dataset} {c.image_size}px", "T": c.steps, "variant": c.variant, "lr": c.hparams().lr,
        "levels": ", ".join(map(str, c.levels)), "k": ", ".join(map(str, c.computed_steps)),
        "draws": f"{c.n_init} × {c.pairs}", "CPU-hours (est.)": round(estimated_seconds(c) / 3600, 1),
        "computed": shard_path(c, results_dir).exists()} for c in candidates])


def main(number: int, jobs: int = 2, results_dir="results", device: str = "cpu", candidate: str | None = None,
         picks=None, list_only: bool = False, progress: bool = True) -> int:
    """``lmc search-standin``: print stage ``number``'s missing shards with the command for each, then
    (unless ``list_only``) compute one (``candidate``, an id) in this process or every missing one,
    ``jobs`` at a time; returns the number of failures."""
    candidates = stage(number, results_dir, picks)
    todo = missing(candidates, results_dir)
    if list_only:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(grid_table(candidates, results_dir).to_string(index=False))
    for c in todo:
        print(f"missing: {c.id} (about {estimated_seconds(c) / 3600:.1f} CPU-hours): "
              f"{shard_command(number, c.id, picks)}")
    print(f"stage {number}: {len(todo)} of {len(candidates)} shards missing, about "
          f"{sum(map(estimated_seconds, todo)) / 3600:.0f} CPU-hours; one process per core: "
          f"{command(number, 2, picks)}", flush=True)
    if list_only or not todo:
        return 0
    if candidate is not None:
        chosen = [c for c in candidates if c.id == candidate]
        if not chosen:
            raise ConfigError(f"no candidate {candidate!r} in stage {number}; `lmc search-standin --stage "
                              f"{number} --list` lists them")
        run(chosen, results_dir, device, progress, number=number, picks=picks)
        return 0
    failures = 0
    for c, seconds, error in run_parallel(todo, jobs, results_dir, device, number=number, picks=picks):
        failures += error is not None
        print(f"{c.id}: {'failed, ' + error if error else 'done'} ({seconds / 60:.0f} min)", flush=True)
    return failures
