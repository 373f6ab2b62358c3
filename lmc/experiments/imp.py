"""Iterative magnitude pruning (IMP) with rewinding, and the random baselines of Table 2.

Level 0 is the dense network trained from its initialization to T (the trunk of
instability analysis). Level L removes 20% of the weights that survived level L − 1
(counted over every prunable tensor, those a model never prunes included, as open_lth's
``sparse_global`` counts), ranked by the magnitude they reached at T (globally across the
tensors that may be pruned), and trains the survivors again from their values at the
rewind step k: the weights of level 0 at k, the pruned ones zero, a new optimizer state
(``hparams.OPTIMIZER_AT_K``), the schedule resumed at k. k = 0 is the
original lottery ticket procedure (rewinding to initialization).

Every mask and every level's run is a cached object named by what it derives from
(the run whose weights were pruned, the previous mask, the fraction), so chapters share
levels, and a sweep cut off after level r resumes at level r + 1.

Baselines at the same density as an IMP mask, as open_lth's branches make them:
**random pruning** (``lottery/branch/randomly_prune.py``: a random mask keeping each layer's
count by default, ``layerwise``, or only the total, ``global``), trained from the IMP level's
own starting state m_IMP ⊙ W_k with the random mask applied on top (open_lth loads the level's
weights at the rewind step, which its runner saved after applying the IMP mask), and
**random reinitialization** (the IMP mask on newly drawn weights).
"""

from __future__ import annotations

import math

from ..core import hparams, models, prune, store, train
from ..core.errors import ConfigError, choose
from ..core.seeds import generator

FRACTION = 0.2  # of the remaining weights pruned per level (the paper's IMP)


def density_after(levels: int, fraction: float = FRACTION) -> float:
    """The nominal density after ``levels`` rounds: (1 − fraction)^levels."""
    return (1 - fraction) ** levels


def levels_for(density: float, fraction: float = FRACTION) -> int:
    """How many rounds reach ``density``: the level whose nominal density is nearest on a log
    scale (Table 1 quotes 0.8^n rounded: LeNet's 3.5% is 0.8^15 = 3.52%, ResNet-20's 16.8% is 0.8^8)."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
        raise ConfigError(f"density must be in (0, 1], got {density!r}")
    return max(0, round(math.log(density) / math.log(1 - fraction)))


def sparse_run(trunk: store.Run, rewind_step: int, mask: str | None, data_seed: int | None = None,
               optimizer_at_k: str = "fresh", start_mask: str | None = None) -> store.Run:
    """The subnetwork m ⊙ W_k trained from k to T: the trunk's weights at step k with the
    pruned ones zeroed (the trunk's own data order by default), and a new optimizer state
    (``optimizer_at_k`` "fresh", open_lth's rule; "inherit" keeps the trunk's).

    Without a mask it is the dense copy of instability analysis (the same run chapters 01-02
    train). ``start_mask``: the copy starts from ``start_mask`` ⊙ W_k before its own mask is
    applied (random pruning starts from the IMP level's state, as in open_lth).
    """
    hp = train.hparams_of(trunk)
    seed = trunk.config["data_seed"] if data_seed is None else data_seed
    choose("optimizer_at_k", optimizer_at_k, hparams.OPTIMIZER_AT_K)
    return store.open_run(train.run_config(hp, seed, parent=trunk, parent_step=rewind_step, mask=mask,
                                           fresh_optimizer=optimizer_at_k == "fresh", start_mask=start_mask,
                                           precision=trunk.config.get("precision", "float32")))


def masks(trunk: store.Run, rewind_step: int, levels: int, fraction: float = FRACTION, device="cpu",
          progress: bool = True) -> list[str | None]:
    """IMP's masks of levels 0 .. ``levels`` (level 0: None, dense), training what they need.

    Level L's mask prunes level L − 1's run (``sparse_run``) at T; each level's run and
    mask are cached, so asking for more levels later continues from the last one.
    """
    return masks_for([(trunk, rewind_step)], levels, fraction, device, progress)[0]


def masks_for(sweeps: list[tuple[store.Run, int]], levels: int, fraction: float = FRACTION, device="cpu",
              progress: bool = True, populate: bool | None = False, accel=None) -> list[list[str | None]]:
    """``masks`` for several IMP sweeps (trunk, rewind step) in lockstep: each level's runs of
    every sweep train together (``train.train_runs``: a population where ``populate``, e.g. the
    3 initializations × the rewind steps of a paper-scale Figure 6 on a GPU), then each is pruned.
    The runs and masks are the ones ``masks`` would make, found in the cache by either."""
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise ConfigError(f"levels must be a non-negative integer, got {levels!r}")
    out: list[list[str | None]] = [[None] for _ in sweeps]
    runs = [trunk for trunk, _ in sweeps]
    for _ in range(levels):
        totals = [hparams.total_steps(train.hparams_of(r)) for r in runs]
        configs = [{"method": "imp", "pruned": run.hash, "step": total, "previous": masks[-1], "fraction": fraction,
                    **_ignored(train.hparams_of(run).model)} for run, total, masks in zip(runs, totals, out)]
        missing = [i for i, config in enumerate(configs) if not prune.is_stored(config)]
        for total in sorted({totals[i] for i in missing}):  # only runs whose masks are missing train
            train.train_runs([runs[i] for i in missing if totals[i] == total], total, device, progress, populate,
                             accel=accel)
        for i, (run, total, config) in enumerate(zip(runs, totals, configs)):

            def compute(run=run, previous=config["previous"], total=total):
                trained = train.state_at(run, total, device, progress)["model"]
                name = train.hparams_of(run).model
                current = prune.load(previous, device) if previous else prune.dense_mask(name, trained)
                return prune.magnitude_prune(trained, current, fraction,
                                             models.pruned_layer_names(models.build(name)))

            out[i].append(prune.stored(config, compute))
        runs = [sparse_run(trunk, k, masks[-1]) for (trunk, k), masks in zip(sweeps, out)]
    return out


def one_shot(trunk: store.Run, density: float, device="cpu", progress: bool = True) -> str:
    """One-shot magnitude pruning (the paper's ImageNet networks): the trunk trained to T,
    pruned straight to ``density`` of its prunable weights by global magnitude."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density < 1:
        raise ConfigError(f"a one-shot density must be in (0, 1), got {density!r}; e.g. 0.3 for 30%")
    hp = train.hparams_of(trunk)
    total = hparams.total_steps(hp)

    def compute():
        trained = train.state_at(trunk, total, device, progress)["model"]
        return prune.prune_to_density(trained, prune.dense_mask(hp.model, trained), float(density),
                                      models.pruned_layer_names(models.build(hp.model)))

    return prune.stored({"method": "one_shot", "pruned": trunk.hash, "step": total, "density": float(density),
                         **_ignored(hp.model)}, compute)


def _ignored(model_name: str) -> dict:
    """What a mask's identity records about the tensors the model never prunes: their names, when
    it has any (they are in the mask and count towards its density; see ``lmc.core.prune``)."""
    ignored = sorted(getattr(models.build(model_name), "prune_ignore", ()))
    return {"ignored": ignored} if ignored else {}


def random_prune(mask: str, seed: int, strategy: str = "layerwise") -> str:
    """A random mask with the density of the stored ``mask``, drawn from the ``prune`` stream of
    ``seed``: each tensor keeps the mask's count (``layerwise``, open_lth's default) or only the
    total is kept (``global``); see ``prune.random_mask``."""
    choose("random pruning strategy", strategy, prune.STRATEGIES)
    return prune.stored({"method": "random", "like": mask, "seed": int(seed), "strategy": strategy},
                        lambda: prune.random_mask(prune.load(mask), generator("prune", int(seed)), strategy))


def reinit_run(trunk: store.Run, rewind_step: int, mask: str, draw: int = 1,
               data_seed: int | None = None, optimizer_at_k: str = "fresh") -> store.Run:
    """Random reinitialization: the IMP ``mask`` on weights newly drawn (``draw`` of the
    trunk's init seed), trained from step k to T. There is no optimizer state to keep (the
    weights are new), so ``optimizer_at_k`` only is checked: every rule starts it fresh."""
    choose("optimizer_at_k", optimizer_at_k, hparams.OPTIMIZER_AT_K)
    hp = train.hparams_of(trunk)
    seed = trunk.config["data_seed"] if data_seed is None else data_seed
    init_seed = trunk.config["start"]["init_seed"]
    return store.open_run(train.run_config(hp, seed, init_seed=init_seed, parent_step=rewind_step, mask=mask,
                                           reinit=draw, precision=trunk.config.get("precision", "float32")))


MATCHING_FLOAT = 1e-9  # pp: float representation error of a difference of accuracies near 100 (~1e-14)


def matching(sparse_accuracy: float, full_mean: float, full_std: float, margin: float | None = None,
             resolution: float = 0.0) -> bool:
    """Whether a sparse subnetwork matches the full network's test accuracy (in %).

    The paper's two rules: within one standard deviation of the full network's mean
    (Table 2, Figure 7, Appendix B; the default), or, with ``margin``, an accuracy drop
    smaller than that many percentage points (Figure 8; ``reported.MATCHING_MARGIN``).
    ``full_mean`` and ``full_std`` are the full network's at the same rewind step k.

    ``resolution``: the numbers were printed rounded to this step (0.1 for the paper's
    tables), so each may be off by half of it; the verdict then gives them that benefit,
    sparse + r/2 ≥ (mean − r/2) − (std + r/2). Applied to Table 2's printed numbers this gives
    the paper's Y/N on every row (VGG-16 warmup, 93.2 against 93.4 ± 0.1, is Y only so). Our
    own numbers are unrounded (resolution 0); ``MATCHING_FLOAT`` absorbs float error at equality.
    """
    if margin is not None:
        return full_mean - sparse_accuracy < margin + resolution + MATCHING_FLOAT
    return sparse_accuracy >= full_mean - full_std - 1.5 * resolution - MATCHING_FLOAT
