"""The early phase of training (Frankle, Schwab & Morcos, ICLR 2020), on this engine.

Two tools and one experiment built from them:

* **Telemetry** (their Figure 3): the state of a run over its first steps: test
  accuracy and loss, mean weight magnitude, the fraction of weights whose sign changed
  since initialization, the gradient norm, and the L2 distance (and cosine similarity)
  from the initial and from the final weights (``telemetry``).
* **Perturbations at step k** (their Figures 4-8): the starting weights of a subnetwork
  m ⊙ W_k changed before it trains from k to T (the kernels are ``lmc.core.perturb``'s: signs
  or magnitudes from step 0, permutations, Gaussian noise). A perturbation is part of a run's
  identity (``train.run_config(perturbation=...)``): each perturbed run (``perturbed_run``) is
  cached like any other, and ``train.starting_state`` applies it after the mask, so pruned
  weights stay zero.
* ``perturbation_study``: the IMP subnetwork of chapter 04 (same trunk, same masks, same
  cache entries), rewound to k, perturbed in each way, trained to T and compared with the
  unperturbed one, together with the telemetry of the dense network and the subnetwork,
  and the data-dependence runs (``pretrained_run``): the early phase 0..k trained on random
  labels, rotation prediction or blurred images (``lmc.core.tasks``), then the subnetwork
  trained normally to T.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import xarray as xr
from tqdm.auto import tqdm

from ..core import data, hparams, interpolate, loop, models, perturb, prune, results, store, train
from ..core.errors import ConfigError, choose
from ..core.tasks import TASKS
from ..experiments import imp, instability
from ..paper import presets, reported


def perturbed_run(trunk: store.Run, rewind_step: int, mask: str | None, spec: dict | None,
                  data_seed: int | None = None) -> store.Run:
    """The subnetwork m ⊙ W_k of ``imp.sparse_run``, perturbed by ``spec`` before training to T.

    An identity perturbation (or None) is the unperturbed run itself (the same cache entry).
    """
    if spec is None or perturb.is_identity(spec):
        return imp.sparse_run(trunk, rewind_step, mask, data_seed)
    hp = train.hparams_of(trunk)
    seed = trunk.config["data_seed"] if data_seed is None else data_seed
    return store.open_run(train.run_config(hp, seed, parent=trunk, parent_step=rewind_step, mask=mask,
                                           fresh_optimizer=mask is not None, perturbation=spec,
                                           precision=trunk.config.get("precision", "float32")))


def pretrained_run(trunk: store.Run, rewind_step: int, mask: str | None, task: str,
                   data_seed: int | None = None) -> store.Run:
    """The subnetwork m ⊙ W'_k, where W'_k is the trunk's initialization trained to k on ``task``
    instead of the real labels (same data order); it then trains normally from k to T."""
    hp = train.hparams_of(trunk)
    seed = trunk.config["data_seed"] if data_seed is None else data_seed
    precision = trunk.config.get("precision", "float32")
    early = store.open_run(train.run_config(hp, trunk.config["data_seed"], init_seed=trunk.config["start"]["init_seed"],
                                            task=task, precision=precision))
    return store.open_run(train.run_config(hp, seed, parent=early, parent_step=rewind_step, mask=mask,
                                           fresh_optimizer=mask is not None, precision=precision))


# --- telemetry --------------------------------------------------------------------------------

TELEMETRY = {  # variable -> (long name, units)
    "accuracy": ("test accuracy", "%"),
    "loss": ("test loss", "nats"),
    "magnitude": ("mean |w| of the kept weights", ""),
    "sign_changed": ("kept weights whose sign differs from initialization", "%"),
    "grad_norm": ("gradient norm on a fixed training batch", ""),
    "distance_init": ("L2 distance from the initial weights", ""),
    "distance_final": ("L2 distance from the final weights", ""),
    "cosine_init": ("cosine similarity to the initial weights", ""),
    "cosine_final": ("cosine similarity to the final weights", ""),
}


def _flat(state: dict, names, mask) -> torch.Tensor:
    parts = []
    for n in names:
        w = state[n].detach().double()
        parts.append(w[mask[n].to(w.device)] if mask is not None and n in mask else w.flatten())
    return torch.cat(parts)


def telemetry(run: store.Run, steps, device="cpu", test_subset: int | None = None,
              grad_examples: int = 1000, progress: bool = False) -> xr.Dataset:
    """Telemetry of the early phase (Frankle et al. 2020, Figure 3) at each of ``steps``.

    Weights are the kept conv and linear weights; "initial" is the weights the run's lineage
    started from (``train.origin_state``, masked), "final" its weights at T. The gradient norm is
    that of the training loss on the first ``grad_examples`` training examples (pruned
    entries excluded). Returns the variables of ``TELEMETRY`` over ``step`` (iterations).
    """
    hp = train.hparams_of(run)
    total = hparams.total_steps(hp)
    steps = sorted({hparams.iterations(hp, s) for s in steps})
    first = train.start_step(run)
    if not steps or steps[0] < first or steps[-1] > total:
        raise ConfigError(f"telemetry steps {steps} must lie within the run's steps {first}..{total}")
    dataset = data.load(hp.dataset, str(device), hp.train_subset, test_subset, hparams.image_size(hp))
    model = models.build(hp.model).to(device)
    names = models.prunable_layer_names(model)
    mask = train.mask_of(run, device)
    w0 = _flat(train.origin_state(run, device), names, mask)
    wt = _flat(train.state_at(run, total, device, progress)["model"], names, mask)
    x, y = dataset.train_x[:grad_examples], dataset.train_y[:grad_examples]
    rows = {k: [] for k in TELEMETRY}
    for step in tqdm(steps, desc="telemetry", disable=not progress):
        state = train.state_at(run, step, device, progress=False)["model"]
        error, loss = interpolate.evaluate(model, state, dataset.eval_batches("test"))
        w = _flat(state, names, mask)
        model.load_state_dict(state)
        model.train()
        model.zero_grad(set_to_none=True)
        models.loss(model(x), y).backward()
        grads = {n: p.grad if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()}
        if mask is not None:
            grads = prune.apply({n: g.clone() for n, g in grads.items()}, mask)
        rows["accuracy"].append(100.0 - error)
        rows["loss"].append(loss)
        rows["magnitude"].append(float(w.abs().mean()))
        rows["sign_changed"].append(100.0 * float((torch.sign(w) != torch.sign(w0)).double().mean()))
        rows["grad_norm"].append(float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))))
        rows["distance_init"].append(float((w - w0).norm()))
        rows["distance_final"].append(float((w - wt).norm()))
        rows["cosine_init"].append(float(torch.nn.functional.cosine_similarity(w, w0, dim=0)))
        rows["cosine_final"].append(float(torch.nn.functional.cosine_similarity(w, wt, dim=0)))
    return xr.Dataset({k: ("step", np.array(v), {"long_name": TELEMETRY[k][0], "units": TELEMETRY[k][1]})
                       for k, v in rows.items()}, coords={"step": steps})


# --- the experiment ----------------------------------------------------------------------------

# Per preset: the rewind step k where the perturbations are applied, the telemetry steps, and
# the noise scales n (multiples of σ). The paper uses k = 500 and 2000 on ResNet-20.
# ``skip``: perturbations left out of the preset's list (quick: to stay within 15 CPU minutes).
SIZES = {
    "smoke": {"rewind_step": "100", "telemetry_steps": (0, 25, 50, 100, 200), "noise_scales": (1.0,),
              "tasks": TASKS, "skip": ()},
    "quick": {"rewind_step": "500", "telemetry_steps": (0, 25, 50, 100, 250, 500, 1000, 2000),
              "noise_scales": (1.0, 2.0), "tasks": TASKS, "skip": ("signs 0, magnitudes k",)},
    "paper": {"rewind_step": "500", "telemetry_steps": (0, 25, 50, 100, 250, 500, 1000, 2000, 4000),
              "noise_scales": (0.5, 1.0, 2.0, 3.0), "tasks": TASKS, "skip": ()},
}


def standard_perturbations(noise_scales=(1.0,), seed: int = 0) -> dict[str, dict]:
    """The perturbations of Frankle et al. 2020 Figures 4-7, by label (the unperturbed subnetwork first)."""
    out = {"none": perturb.perturbation("signs_magnitudes", signs="k", magnitudes="k"),
           "signs 0, magnitudes k": perturb.perturbation("signs_magnitudes", signs="0", magnitudes="k"),
           "signs k, magnitudes 0": perturb.perturbation("signs_magnitudes", signs="k", magnitudes="0")}
    for same_sign in (False, True):
        for within in perturb.ELEMENTS:
            label = f"permute {within}" + (" (same sign)" if same_sign else "")
            out[label] = perturb.perturbation("permute", within=within, same_sign=same_sign, seed=seed)
    for n in noise_scales:
        out[f"noise {n:g}σ"] = perturb.perturbation("noise", scale=float(n), seed=seed)
    return out


DATA_FAMILY = "early phase on another task"


def task_label(task: str) -> str:
    """The label of the data-dependence run for ``task`` in a study's ``perturbation`` dimension."""
    return f"early phase: {task.replace('_', ' ')}"


def family(spec: dict) -> str:
    """The group a perturbation belongs to in the figures."""
    if perturb.is_identity(spec):
        return "none"
    if spec["kind"] == "permute":
        return "permute (same sign)" if spec["same_sign"] else "permute"
    return {"signs_magnitudes": "signs / magnitudes", "noise": "noise"}[spec["kind"]]


@dataclass(frozen=True)
class EarlyPhaseConfig:
    """What ``perturbation_study`` computes: the IMP subnetwork, where it is perturbed, and how."""

    model: str
    variant: str
    preset: str
    init_seed: int
    levels: int                 # IMP rounds (Table 1's density: 15 for LeNet)
    mask_rewind_step: str       # the IMP run whose mask is used (k = 0: chapter 04's masks)
    rewind_step: str            # k: the subnetwork m ⊙ W_k that is perturbed and trained to T
    telemetry_steps: tuple[int, ...]
    perturbations: tuple[tuple[str, dict], ...]  # (label, spec), the unperturbed one first
    tasks: tuple[str, ...] = ()  # data-dependence: the early phase (0..k) trained on these tasks
    instability: bool = False    # also train a second copy of each and measure its instability

    @property
    def hparams(self) -> hparams.Hparams:
        return _instability_config(self).hparams


def _instability_config(config: EarlyPhaseConfig):
    return instability.instability_config(model=config.model, variant=config.variant,
                                          rewind_step=config.mask_rewind_step, preset=config.preset,
                                          init_seeds=[config.init_seed], pairs=1)


def early_phase_config(model: str = "lenet_300_100", variant: str = "standard", preset: str = presets.DEFAULT,
                       init_seed: int = 0, density: float | None = None, mask_rewind_step: str | int = 0,
                       rewind_step: str | int | None = None, telemetry_steps=None, noise_scales=None,
                       perturbations: dict | None = None, tasks=None, instability: bool = False) -> EarlyPhaseConfig:
    """A validated EarlyPhaseConfig; None values take the preset's sizes (``SIZES``) and Table 1's density."""
    presets.get(preset)
    setting = reported.setting(model, variant)
    sizes = SIZES[preset]
    if density is None:
        density = setting.pruning_density / 100
    levels = imp.levels_for(density)
    if levels < 1:
        raise ConfigError(f"density {density} is the dense network; pass a density below 0.9")
    if isinstance(init_seed, bool) or not isinstance(init_seed, (int, np.integer)) or init_seed < 0:
        raise ConfigError(f"init_seed must be a non-negative integer, got {init_seed!r}")
    if perturbations is None:
        scales = sizes["noise_scales"] if noise_scales is None else noise_scales
        if isinstance(scales, (int, float, str)):
            raise ConfigError(f"noise_scales must be a list of numbers, got {scales!r}; pass e.g. [0.5, 1, 2]")
        perturbations = {label: spec for label, spec in standard_perturbations(scales).items()
                         if label not in sizes["skip"]}
    if not isinstance(perturbations, dict) or not perturbations:
        raise ConfigError(f"perturbations must be a non-empty dict label -> specification, got {perturbations!r}")
    specs = tuple((str(label), perturb.perturbation(**spec)) for label, spec in perturbations.items())
    if not perturb.is_identity(specs[0][1]):
        raise ConfigError(f"the first perturbation must be the unperturbed reference (e.g. 'none': "
                          f"{{'kind': 'noise', 'scale': 0}}), got {specs[0][0]!r}: {specs[0][1]}")
    tasks = sizes["tasks"] if tasks is None else tasks
    if isinstance(tasks, str) or len(set(tasks)) != len(tasks):
        raise ConfigError(f"tasks must be a list of distinct tasks, got {tasks!r}; pass e.g. {list(TASKS)} or []")
    tasks = tuple(choose("task", t, TASKS) for t in tasks)
    if not isinstance(instability, bool):
        raise ConfigError(f"instability must be True or False, got {instability!r}")
    rewind = str(sizes["rewind_step"] if rewind_step is None else rewind_step)
    steps = sizes["telemetry_steps"] if telemetry_steps is None else telemetry_steps
    if isinstance(steps, (int, str)) or not len(steps):
        raise ConfigError(f"telemetry_steps must be a non-empty list of steps, got {steps!r}")
    config = EarlyPhaseConfig(model, variant, preset, int(init_seed), levels, str(mask_rewind_step), rewind,
                              (), specs, tasks, instability)
    hp = config.hparams  # validates the mask's rewind step against T
    k, total = hparams.iterations(hp, rewind), hparams.total_steps(hp)
    if k >= total:
        raise ConfigError(f"rewind step k={rewind} ({k} iterations) must be before the end of training "
                          f"({total} iterations); choose a smaller k")
    iterations = tuple(sorted({hparams.iterations(hp, s) for s in steps}))
    if telemetry_steps is None:  # the preset's steps, cut at this network's T
        iterations = tuple(s for s in iterations if s <= total)
    if iterations[-1] > total:
        raise ConfigError(f"telemetry step {iterations[-1]} is after the end of training ({total}); "
                          f"choose smaller steps")
    return EarlyPhaseConfig(model, variant, preset, int(init_seed), levels, str(mask_rewind_step), rewind,
                            iterations, specs, tasks, instability)


def _test_metrics(model: nn.Module, state: dict, dataset) -> tuple[float, float]:
    error, loss = interpolate.evaluate(model, state, dataset.eval_batches("test"))
    return 100.0 - error, loss


def perturbation_study(config: EarlyPhaseConfig, device: str = "auto", progress: bool = True) -> xr.Dataset:
    """Perturbations of the IMP subnetwork m ⊙ W_k, each trained to T, and early-phase telemetry.

    The trunk and IMP masks are chapter 04's (same configuration, same cache entries). Returns
    ``trained_accuracy`` and ``trained_loss`` (test, at T), ``distance`` and ``effective_sigma``
    (``perturbation_size``) over ``perturbation`` (with its ``family``; the ``tasks`` come last,
    labelled by ``task_label``, family ``DATA_FAMILY``); the references
    ``dense_accuracy`` (the trunk at T) and ``rewind_accuracy`` (the IMP subnetwork rewound to
    the mask's own k: chapter 04's first copy, same data order); and the ``telemetry`` variables over
    (``network``, ``step``) for the dense trunk and that IMP subnetwork. With ``config.instability``
    a second copy of every run trains on chapter 04's second data order, adding ``instability``
    over (``perturbation``, ``split``) and ``path_error`` over (``perturbation``, ``split``, ``alpha``).
    """
    device = instability.resolve_device(device)
    inst = _instability_config(config)
    hp, preset = inst.hparams, presets.get(config.preset)
    k, total = hparams.iterations(hp, config.rewind_step), hparams.total_steps(hp)
    mask_k = hparams.iterations(hp, config.mask_rewind_step)
    evaluation = data.load(hp.dataset, device, hp.train_subset, preset.test_subset, hparams.image_size(hp))
    trunk = store.open_run(train.run_config(hp, instability.data_seed(config.init_seed),
                                            init_seed=config.init_seed))
    mask = imp.masks(trunk, mask_k, config.levels, device=device, progress=progress)[-1]
    seed = instability.data_seed(config.init_seed, 0, 0)  # copy 0 of chapter 04's first pair
    ticket = imp.sparse_run(trunk, mask_k, mask, seed)  # that copy: chapter 04 trained it already
    runs = {label: perturbed_run(trunk, k, mask, spec, seed) for label, spec in config.perturbations}
    runs.update({task_label(t): pretrained_run(trunk, k, mask, t, seed) for t in config.tasks})
    families = [family(spec) for _, spec in config.perturbations] + [DATA_FAMILY] * len(config.tasks)
    pairs = {}
    if config.instability:  # a second copy of each, on chapter 04's second data order, then the path between
        other = instability.data_seed(config.init_seed, 0, 1)
        second = {label: perturbed_run(trunk, k, mask, spec, other) for label, spec in config.perturbations}
        second.update({task_label(t): pretrained_run(trunk, k, mask, t, other) for t in config.tasks})
        pairs = {label: [runs[label], second[label]] for label in runs}
    train.train_runs(list(runs.values()), total, device, progress)  # as populations on a GPU (train_runs)
    model = models.build(hp.model).to(device)
    base = train.starting_state(imp.sparse_run(trunk, k, mask, seed), device)["model"]  # unperturbed m ⊙ W_k
    loaded = prune.load(mask, device)
    accuracy, loss, distance, sigma = [], [], [], []
    for label, run in tqdm(runs.items(), desc="perturbations", disable=not progress):
        start = train.starting_state(run, device)["model"]
        size = perturb.perturbation_size(base, start, hp.model, loaded)
        a, l = _test_metrics(model, train.state_at(run, total, device, progress)["model"], evaluation)
        accuracy.append(a)
        loss.append(l)
        distance.append(size["distance"])
        sigma.append(size["effective_sigma"])
    dense_accuracy, _ = _test_metrics(model, train.state_at(trunk, total, device, progress)["model"], evaluation)
    rewind_accuracy, _ = _test_metrics(model, train.state_at(ticket, total, device, progress)["model"], evaluation)
    labels = list(runs)
    ds = xr.Dataset(
        {"trained_accuracy": ("perturbation", np.array(accuracy), {"long_name": "test accuracy at T", "units": "%"}),
         "trained_loss": ("perturbation", np.array(loss), {"long_name": "test loss at T", "units": "nats"}),
         "distance": ("perturbation", np.array(distance),
                      {"long_name": "‖W' − W_k‖ / ‖W_k‖ of the kept conv and linear weights"}),
         "effective_sigma": ("perturbation", np.array(sigma),
                             {"long_name": "RMS change of the kept weights in units of the layer's init σ"}),
         "dense_accuracy": ((), dense_accuracy, {"long_name": "test accuracy of the dense trunk at T", "units": "%"}),
         "rewind_accuracy": ((), rewind_accuracy, {"long_name": f"test accuracy of the IMP subnetwork rewound "
                                                                f"to k = {mask_k} at T", "units": "%"}),
         "density": ((), prune.density(loaded), {"long_name": "fraction of prunable weights remaining"})},
        coords={"perturbation": labels, "family": ("perturbation", families)})
    parts = []
    for name, run in (("dense", trunk), ("imp", ticket)):
        steps = [s for s in config.telemetry_steps if s >= train.start_step(run)]
        parts.append(telemetry(run, steps, device, preset.test_subset, progress=progress)
                     .reindex(step=list(config.telemetry_steps)))
    tele = xr.concat(parts, dim="network").assign_coords(network=["dense", "imp"])
    ds = ds.merge(tele)
    if pairs:
        speed = loop.accel_for(device, bf16=False)
        paths, _ = instability.pair_paths(hp, pairs, total, preset, inst.n_alpha, device, progress,
                                          train.population_default(device), speed)
        path = instability.path_dataset([paths[label] for label in runs], (len(runs),), ("perturbation",),
                                        {"perturbation": list(runs)}, inst.n_alpha)
        ds["instability"] = path.instability
        ds["path_error"] = path.error.rename("path_error")
    record = asdict(config)
    record["perturbations"] = [[label, spec] for label, spec in config.perturbations]
    record["telemetry_steps"] = list(config.telemetry_steps)
    record["tasks"] = list(config.tasks)
    ds.attrs.update(results.provenance({"experiment": "early_phase", **record, "hparams": hp.as_dict(),
                                        "rewind_iterations": k, "mask_rewind_iterations": mask_k,
                                        "training_iterations": total, "mask": mask,
                                        "runs": {label: runs[label].hash for label in labels}}, device))
    return ds


PAPER_SIGN_CHANGE = 9.0  # % of ResNet-20's weights whose sign changes in the early phase (slides, Figure 3)
PAPER_R = {500: -0.672, 2000: -0.726}  # Figure 8: effective perturbation size vs accuracy, sparsity 26.2%


def changes(ds: xr.Dataset) -> dict[str, float]:
    """Test accuracy at T of each perturbed subnetwork minus the unperturbed one's (pp)."""
    acc = ds.trained_accuracy.to_series()
    return {label: float(acc[label] - acc.iloc[0]) for label in acc.index[1:]}


def size_correlation(ds: xr.Dataset) -> float:
    """Pearson r between effective perturbation size (init σ) and accuracy at T over the weight
    perturbations (not the unperturbed run, not the data-dependence runs; NaN with fewer than three)."""
    chosen = (ds.family != DATA_FAMILY).values
    chosen[0] = False
    sizes, accs = ds.effective_sigma.values[chosen], ds.trained_accuracy.values[chosen]
    if len(sizes) < 3 or np.std(sizes) == 0 or np.std(accs) == 0:
        return float("nan")
    return float(np.corrcoef(sizes, accs)[0, 1])


def rewinding_verdict(ds: xr.Dataset, margin: float = reported.MATCHING_MARGIN) -> str:
    """Whether rewinding to k rather than to the mask's own k recovers accuracy, or cannot be tested
    because the subnetwork rewound there already matches the dense network (within ``margin`` pp)."""
    dense = float(ds.dense_accuracy)
    gap_own, gap_k = dense - float(ds.rewind_accuracy), dense - float(ds.trained_accuracy[0])
    if gap_own <= margin:
        return (f"not testable here: rewound to the mask's own k it is already within {margin:g} pp "
                f"of the dense network")
    return "agrees" if gap_k < gap_own - margin else "does not agree"


def claims_table(ds: xr.Dataset, margin: float = reported.MATCHING_MARGIN):
    """The source paper's claims beside our measurements and a verdict, one row each.

    A change of accuracy counts only beyond ``margin`` percentage points (one seed per
    perturbation; Figure 8's margin "for noise" of the main paper, ``reported.MATCHING_MARGIN``).
    """
    import pandas as pd

    config = results.config_of(ds)
    k = config["rewind_iterations"]
    delta = changes(ds)

    def text(label: str) -> str:
        return f"{delta[label]:+.2f} pp" if label in delta else "not run"

    def hurts(*labels) -> str:
        found = [delta[lb] for lb in labels if lb in delta]
        if not found:
            return "not run"
        return "agrees" if all(d < -margin for d in found) else \
            "not seen here" if all(d >= -margin for d in found) else "partly"

    rows = []
    sign = ds.sign_changed.sel(network="dense")
    measured = f"{float(sign.sel(step=k)):.1f}% of the dense network's weights by k = {k}" \
        if k in sign.step.values else "k not among the telemetry steps"
    rows.append((f"About {PAPER_SIGN_CHANGE:g}% of the weights change sign in the early phase (ResNet-20, CIFAR-10)",
                 measured, "not comparable (another network and data set); measured for reference"))
    rows.append(("Rewinding to k > 0 rather than 0 is what makes the ResNet-20 subnetwork match",
                 f"IMP subnetwork at k = {k}: {float(ds.trained_accuracy[0]):.2f}%, rewound to the mask's own "
                 f"k = {config['mask_rewind_iterations']}: {float(ds.rewind_accuracy):.2f}%, dense: "
                 f"{float(ds.dense_accuracy):.2f}%",
                 rewinding_verdict(ds, margin)))
    rows.append(("Not robust to re-initializing while keeping signs: signs of k, magnitudes of step 0 lose accuracy",
                 text("signs k, magnitudes 0"), hurts("signs k, magnitudes 0")))
    rows.append(("(Figure 4 also trains signs of step 0 with magnitudes of k; no separate claim)",
                 text("signs 0, magnitudes k"), "measured only"))
    rows.append(("Permuting weights within a layer or a filter hurts: weights are not i.i.d. after the early phase",
                 f"layer {text('permute layer')}, neuron {text('permute neuron')}",
                 hurts("permute layer", "permute neuron")))
    pairs = [(f"permute {e}", f"permute {e} (same sign)") for e in perturb.ELEMENTS]
    pairs = [(a, b) for a, b in pairs if a in delta and b in delta]
    rows.append(("Permuting only among weights of equal sign hurts less (a smaller perturbation)",
                 ", ".join(f"{b}: {text(b)}" for _, b in pairs) or "not run",
                 "not run" if not pairs else
                 "agrees" if all(delta[b] > delta[a] for a, b in pairs) else "does not agree"))
    noise = sorted((float(perturb.perturbation(**spec)["scale"]), label) for label, spec in config["perturbations"]
                   if spec["kind"] == "noise" and spec["scale"] > 0)
    ordered = [delta[label] for _, label in noise]
    rows.append(("Gaussian noise of n·σ costs more accuracy as n grows",
                 ", ".join(f"{label}: {text(label)}" for _, label in noise) or "not run",
                 "not run" if not noise else "one scale only" if len(noise) == 1 else
                 "agrees" if all(a >= b for a, b in zip(ordered, ordered[1:])) and ordered[-1] < -margin
                 else "does not agree"))
    r = size_correlation(ds)
    paper_r = ", ".join(f"{v:g} (k = {s})" for s, v in PAPER_R.items())
    rows.append((f"Larger perturbations cost more accuracy: r = {paper_r} between effective size and accuracy",
                 f"r = {r:.2f} over {int((ds.family != DATA_FAMILY).sum()) - 1} perturbations, one seed each",
                 "not enough perturbations" if r != r else "agrees (negative)" if r < 0 else "does not agree"))
    own = float(ds.rewind_accuracy)
    gain = float(ds.trained_accuracy[0]) - own  # what the real early phase adds over step 0

    def data_row(task: str, claim: str, helps: bool) -> None:
        label = task_label(task)
        if label not in delta:
            rows.append((claim, "not run", "not run"))
            return
        acc = float(ds.trained_accuracy.sel(perturbation=label))
        measured = (f"{acc:.2f}% vs {float(ds.trained_accuracy[0]):.2f}% after the real early phase and "
                    f"{own:.2f}% rewound to step {config['mask_rewind_iterations']}")
        if gain <= margin:
            verdict = f"not testable here: the real early phase itself adds {gain:+.2f} pp over step 0"
        elif helps:
            verdict = "agrees" if acc - own > margin else "does not agree"
        else:
            verdict = "agrees" if acc - own <= margin else "does not agree"
        rows.append((claim, measured, verdict))

    data_row("random_labels", "An early phase on random labels brings no improvement (and hurts if longer)", False)
    data_row("rotation", "An early phase on self-supervised rotation prediction helps (needs longer: 40 vs 1.25 epochs)",
             True)
    data_row("blur", "An early phase on 4x-blurred images helps (also needs longer: 40 vs 1.25 epochs)", True)
    return pd.DataFrame(rows, columns=["claim (Frankle, Schwab & Morcos 2020)", "ours", "verdict"])


def summary(ds: xr.Dataset) -> dict[str, str]:
    """The values chapter b1 quotes (glue key -> text): the perturbation step k, the density, the
    accuracy of the unperturbed, dense and rewound copies, the share of signs changed by k (beside
    the paper's), the perturbation that hurts most and by how much, the size-accuracy correlation
    (beside Figure 8's) and the verdict on rewinding."""
    k = results.config_of(ds)["rewind_iterations"]
    delta = changes(ds)
    sign = ds.sign_changed.sel(network="dense")
    return {"k": str(k), "density": f"{100 * float(ds.density):.1f}",
            "none": f"{float(ds.trained_accuracy[0]):.2f}", "dense": f"{float(ds.dense_accuracy):.2f}",
            "rewind": f"{float(ds.rewind_accuracy):.2f}",
            "sign_k": f"{float(sign.sel(step=k)):.1f}" if k in sign.step.values else "not measured",
            "paper_sign": f"{PAPER_SIGN_CHANGE:g}",
            "worst": min(delta, key=delta.get), "worst_change": f"{min(delta.values()):+.2f}",
            "r": f"{size_correlation(ds):.2f}", "paper_r": ", ".join(f"{v:g}" for v in PAPER_R.values()),
            "rewinding": rewinding_verdict(ds)}
