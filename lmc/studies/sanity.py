"""Sanity checks for lottery tickets (Ma et al., NeurIPS 2021, "Sanity Checks for Lottery
Tickets: Does Your Winning Ticket Really Win the Jackpot?"), on our networks.

Ma et al. ask what a *winning ticket* must satisfy, given that the learning rate and the
training length decide whether one is found. A sparse subnetwork m ⊙ θ_0 trained to T,
f(x; (θ_0 ⊙ m)_T), is judged by five conditions:

1. a non-trivial sparsity and a sufficient number of training epochs;
2. a clear accuracy advantage over a small dense network with as many weights;
3. for some learning rate it beats the same mask on new initial weights θ'_0 (random
   reinitialization) trained at *any* learning rate, by more than 0.5 percentage points;
4. for some learning rate it is at least as accurate as the dense network at that rate;
5. for some learning rate it is at least as accurate as the *well-trained* dense network
   (the best learning rate).

All five: a *jackpot* winning ticket; 1-4: a *secondary prize* ticket (as in the
slides in ``shared/paper``). They also compare IMP with one-shot magnitude pruning (OMP),
ablate the learning rate of pre-training and of ticket training (their Table 4), and
Liu et al. (ICML 2021) compare tickets with *pruning and fine-tuning*: the trained
network pruned and its survivors trained a little more from their trained values.

Every network here is a cached run (``lmc.core.store``) named by what it is; the runs of
chapters 01-04 at the Table 1 learning rate (LeNet trunk: data seed 0; copies: data seed 1)
are reused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..core import data, hparams, interpolate, models, prune, results, store, train
from ..core.errors import ConfigError
from ..experiments import imp, instability
from ..paper import presets, reported

ADVANTAGE = 0.5            # pp: Ma et al.'s margin for "clearly better" (conditions 2 and 3)
NONTRIVIAL_DENSITY = 0.5   # condition 1: at most half the prunable weights left (our reading)
METHODS = ("imp", "omp")   # iterative and one-shot magnitude pruning
CONDITIONS = ("1 non-trivial sparsity, full T", "2 beats small dense", "3 beats random reinit",
              "4 ≥ dense at same lr", "5 ≥ best dense")


def total_steps(hp: hparams.Hparams) -> int:
    """T in iterations."""
    return hparams.total_steps(hp)


def test_accuracy(run: store.Run, preset: str, device: str = "cpu", progress: bool = True) -> float:
    """Test accuracy (%) of a run at the end of its training (the preset's test subset),
    cached under the run's identity."""
    hp = train.hparams_of(run)
    size = presets.get(preset)

    def compute() -> dict:
        dataset = data.load(hp.dataset, device, size.eval_train_subset(hp.model), size.test_subset,
                            hparams.image_size(hp))
        model = models.build(hp.model).to(device)
        state = train.state_at(run, total_steps(hp), device, progress)["model"]
        return {"accuracy": 100 - interpolate.evaluate(model, state, dataset.eval_batches("test"))[0]}

    return store.cached({"kind": "accuracy", "run": run.hash, "step": total_steps(hp),
                         "test_subset": size.test_subset}, compute)["accuracy"]


def trunk(hp: hparams.Hparams, init_seed: int = 0, lr: float | None = None) -> store.Run:
    """The dense network θ_T at learning rate ``lr`` (default ``hp.lr``): the trunk of
    chapters 01-04 (data seed ``instability.data_seed(init_seed)``)."""
    hp = hp if lr is None else hp.replace(lr=float(lr))
    return store.open_run(train.run_config(hp, instability.data_seed(init_seed), init_seed=init_seed))


def omp_mask(dense: store.Run, density: float, device: str = "cpu", progress: bool = True) -> str:
    """One-shot magnitude pruning (OMP): the mask keeping the ``density`` fraction of the
    prunable weights of ``dense`` at T with the largest magnitudes (global ranking)."""
    hp = train.hparams_of(dense)
    total = total_steps(hp)
    names = models.pruned_layer_names(models.build(hp.model))

    def compute():
        trained = train.state_at(dense, total, device, progress)["model"]
        return prune.prune_to_density(trained, prune.ones(trained, names), density)

    return prune.stored({"method": "omp", "pruned": dense.hash, "step": total, "density": float(density)},
                        compute)


def ticket_run(dense: store.Run, mask: str, lr: float | None = None, data_seed: int | None = None,
               reinit: int = 0) -> store.Run:
    """The subnetwork m ⊙ θ_0 trained from step 0 to T at learning rate ``lr`` (default:
    the dense run's, and then the very run ``imp.sparse_run`` names). ``reinit`` > 0: the
    same mask on newly drawn weights θ'_0 (random reinitialization, as ``imp.reinit_run``)."""
    hp = train.hparams_of(dense)
    lr = hp.lr if lr is None else float(lr)
    seed = dense.config["data_seed"] if data_seed is None else data_seed
    if lr == hp.lr:
        return (imp.reinit_run(dense, 0, mask, draw=reinit, data_seed=seed) if reinit
                else imp.sparse_run(dense, 0, mask, data_seed=seed))
    precision = dense.config.get("precision", "float32")
    if reinit:
        return store.open_run(train.run_config(hp.replace(lr=lr), seed, init_seed=dense.config["start"]["init_seed"],
                                               parent_step=0, mask=mask, reinit=reinit, precision=precision))
    return store.open_run(train.run_config(hp.replace(lr=lr), seed, parent=dense, parent_step=0, mask=mask,
                                           fresh_optimizer=True, precision=precision))


def finetune_run(dense: store.Run, mask: str, lr: float, steps: str, data_seed: int | None = None) -> store.Run:
    """Pruning and fine-tuning: θ_T of ``dense`` with ``mask`` applied, trained ``steps`` more
    at learning rate ``lr`` (constant, a new optimizer state, its own clock from step 0).

    Built from ``train.run_config`` alone: a run whose parent is the dense run at T, with
    the mask, a fresh optimizer and the schedule reset, and whose own hyperparameters set
    the fine-tuning lr and length (the parent's recipe is only used to reach T).
    """
    hp = train.hparams_of(dense)
    hparams.parse_step(steps)
    tune = hp.replace(lr=float(lr), training_steps=steps, lr_drops=(), warmup_steps="0it", lr_end=None)
    seed = dense.config["data_seed"] if data_seed is None else data_seed
    return store.open_run(train.run_config(tune, seed, parent=dense, parent_step=total_steps(hp), mask=mask,
                                           fresh_optimizer=True, reset_schedule=True,
                                           precision=dense.config.get("precision", "float32")))


def weight_count(model) -> int:
    """Number of conv and linear weights (biases and batch norm excluded)."""
    return sum(model.get_parameter(n).numel() for n in models.prunable_layer_names(model))


def sparse_weight_count(model_name: str, density: float) -> int:
    """Weights a subnetwork at ``density`` keeps: that fraction of the pruned layers plus every
    weight of the layers IMP leaves dense (LeNet's output layer)."""
    model = models.build(model_name)
    pruned = models.pruned_layer_names(model)
    kept = sum(model.get_parameter(n).numel() for n in pruned)
    return round(density * kept) + weight_count(model) - kept


def small_dense_name(model_name: str, density: float) -> str:
    """A narrower dense network with about as many weights as the subnetwork at ``density``
    (Ma et al.'s condition 2): LeNet with every hidden layer scaled by one factor, or the
    ResNet with a smaller width."""
    target = sparse_weight_count(model_name, density)
    parts = model_name.split("_")
    if parts[0] == "lenet" or parts[:2] == ["mnist", "lenet"]:
        widths = [int(w) for w in model_name.removeprefix("mnist_").split("_")[1:]]
        candidates = [("lenet_" + "_".join(str(max(1, round(w * s))) for w in widths))
                      for s in np.linspace(0.001, 1, 2000)]
    elif "resnet" in parts:
        base = parts[:3]
        width = int(parts[3]) if len(parts) == 4 else 16
        candidates = ["_".join([*base, str(w)]) for w in range(1, width + 1)]
    else:
        raise ConfigError(f"no small dense network is defined for {model_name!r}; "
                          f"sanity checks support LeNet and the CIFAR/Fashion-MNIST ResNets")
    return min(dict.fromkeys(candidates), key=lambda n: abs(weight_count(models.build(n)) - target))


def small_dense_run(hp: hparams.Hparams, density: float, init_seed: int = 0) -> store.Run:
    """The small dense network of condition 2 trained with ``hp`` (another architecture)."""
    small = hp.replace(model=small_dense_name(hp.model, density))
    return store.open_run(train.run_config(small, instability.data_seed(init_seed), init_seed=init_seed))


def conditions(ticket: dict, reinit: dict, dense: dict, small_dense: float, density: float,
               full_length: bool) -> dict:
    """Ma et al.'s five winning-ticket conditions (True/False) and the two prizes.

    Accuracies in %: ``ticket``, ``reinit`` and ``dense`` map learning rates to the
    ticket's, the randomly reinitialized mask's and the dense network's accuracy;
    ``small_dense`` is the small dense network's; ``density`` the ticket's;
    ``full_length``: trained for the full Table 1 T (our stand-in for "sufficient epochs").
    """
    if not ticket or not dense:
        raise ConfigError("conditions need the ticket's and the dense network's accuracy at ≥ 1 learning rate")
    finite = {lr: a for lr, a in ticket.items() if not np.isnan(a)}
    best_reinit = max((a for a in reinit.values() if not np.isnan(a)), default=float("nan"))
    best_dense = max(dense.values())
    c = {
        CONDITIONS[0]: bool(full_length and density <= NONTRIVIAL_DENSITY),
        CONDITIONS[1]: any(a > small_dense + ADVANTAGE for a in finite.values()),
        CONDITIONS[2]: bool(not np.isnan(best_reinit)
                            and any(a > best_reinit + ADVANTAGE for a in finite.values())),
        CONDITIONS[3]: any(a >= dense[lr] for lr, a in finite.items() if lr in dense),
        CONDITIONS[4]: any(a >= best_dense for a in finite.values()),
    }
    first_four = all(c[k] for k in CONDITIONS[:4])
    c["jackpot"] = first_four and c[CONDITIONS[4]]
    c["secondary prize"] = first_four
    return c


def sanity_checks(config: instability.InstabilityConfig, levels: int, pretrain_lrs, ticket_lrs,
                  finetune_lr: float, finetune_steps: str, device: str = "cpu",
                  progress: bool = True) -> xr.Dataset:
    """Ma et al.'s sanity checks on one initialization (``config.init_seeds[0]``), k = 0.

    IMP (``levels`` rounds, at the Table 1 learning rate ``config.hparams.lr``: the masks
    of chapter 04) and OMP to the same density; for every pre-training learning rate of
    ``pretrain_lrs`` (the dense network that is pruned; IMP only at the Table 1 rate)
    and every ticket learning rate of ``ticket_lrs``: the ticket's test accuracy, and, at
    the Table 1 pre-training rate, its random reinitialization's; the dense networks';
    the small dense network's;
    pruning and fine-tuning (``finetune_steps`` at ``finetune_lr``) for both masks.
    """
    hp = config.hparams
    if hparams.parse_step(config.rewind_step) != (0, 0):
        raise ConfigError(f"sanity checks rewind to k = 0 (lottery tickets at initialization), "
                          f"got rewind_step {config.rewind_step!r}")
    pretrain_lrs = sorted({float(x) for x in pretrain_lrs} | {hp.lr})
    ticket_lrs = sorted({float(x) for x in ticket_lrs} | {hp.lr})
    if min(pretrain_lrs + ticket_lrs) <= 0:
        raise ConfigError("learning rates must be positive")
    seed = config.init_seeds[0]
    copy_seed = instability.data_seed(seed, 0, 0)  # the first copy of chapter 04's pair
    acc = lambda run: test_accuracy(run, config.preset, device, progress)
    dense = {p: trunk(hp, seed, p) for p in pretrain_lrs}
    imp_mask = imp.masks(dense[hp.lr], 0, levels, device=device, progress=progress)[-1]
    density = prune.density(prune.load(imp_mask))
    masks = {("imp", p): imp_mask for p in [hp.lr]}
    masks.update({("omp", p): omp_mask(dense[p], density, device, progress) for p in pretrain_lrs})
    shape = (len(METHODS), len(pretrain_lrs), len(ticket_lrs))
    ticket, reinit = np.full(shape, np.nan), np.full(shape, np.nan)
    for (method, p), mask in masks.items():
        i, j = METHODS.index(method), pretrain_lrs.index(p)
        for k, t in enumerate(ticket_lrs):
            ticket[i, j, k] = acc(ticket_run(dense[p], mask, t, copy_seed))
            if p == hp.lr:  # condition 3 is judged at the Table 1 pre-training rate (cost)
                reinit[i, j, k] = acc(ticket_run(dense[p], mask, t, copy_seed, reinit=1))
    small = small_dense_run(hp, density, seed)
    tuned = [acc(finetune_run(dense[hp.lr], masks[m, hp.lr], finetune_lr, finetune_steps, copy_seed))
             for m in METHODS]
    ds = xr.Dataset(
        {"ticket": (("pruning", "pretrain_lr", "ticket_lr"), ticket, {"long_name": "ticket test accuracy", "units": "%"}),
         "reinit": (("pruning", "pretrain_lr", "ticket_lr"), reinit,
                    {"long_name": "random reinitialization test accuracy", "units": "%"}),
         "dense": (("pretrain_lr",), np.array([acc(dense[p]) for p in pretrain_lrs]),
                   {"long_name": "dense test accuracy", "units": "%"}),
         "finetune": (("pruning",), np.array(tuned), {"long_name": "pruning and fine-tuning test accuracy",
                                                     "units": "%"}),
         "small_dense": ((), acc(small), {"long_name": f"small dense {train.hparams_of(small).model} test accuracy",
                                          "units": "%"})},
        coords={"pruning": list(METHODS), "pretrain_lr": pretrain_lrs, "ticket_lr": ticket_lrs})
    ds.attrs.update(results.provenance({
        "experiment": "sanity_checks", **config.as_dict(), "levels": levels,
        "density": density, "hparams": hp.as_dict(), "finetune_lr": float(finetune_lr),
        "finetune_steps": finetune_steps, "small_dense_model": train.hparams_of(small).model,
        "small_dense_weights": weight_count(models.build(train.hparams_of(small).model)),
        "ticket_weights": sparse_weight_count(hp.model, density),
        "full_length": hp.training_steps == reported.setting(config.model, config.variant).hparams.training_steps},
        device))
    return ds


def condition_table(ds: xr.Dataset) -> pd.DataFrame:
    """Per pruning method (and pre-training lr): Ma et al.'s conditions and prizes."""
    config = results.config_of(ds)
    rows = []
    dense = {float(p): float(ds.dense.sel(pretrain_lr=p)) for p in ds.pretrain_lr.values}
    for method in ds.pruning.values:
        for p in ds.pretrain_lr.values:
            t = ds.ticket.sel(pruning=method, pretrain_lr=p)
            r = ds.reinit.sel(pruning=method, pretrain_lr=p)
            if np.isnan(t.values).all() or np.isnan(r.values).all():
                continue  # conditions need the ticket and its random reinitialization
            ticket = {float(lr): float(t.sel(ticket_lr=lr)) for lr in ds.ticket_lr.values}
            reinit = {float(lr): float(ds.reinit.sel(pruning=method, pretrain_lr=p, ticket_lr=lr))
                      for lr in ds.ticket_lr.values}
            c = conditions(ticket, reinit, dense, float(ds.small_dense), config["density"], config["full_length"])
            rows.append({"pruning": str(method), "pre-training lr": float(p), **c})
    return pd.DataFrame(rows)


def ablation_table(ds: xr.Dataset) -> pd.DataFrame:
    """Ma et al.'s Table 4 on our network: ticket accuracy (IMP, OMP) for each pre-training
    and ticket learning rate, with the dense network's at the pre-training rate."""
    frame = ds[["ticket"]].to_dataframe().reset_index()
    table = frame.pivot_table(index=["pretrain_lr", "ticket_lr"], columns="pruning", values="ticket",
                              dropna=False).reset_index()
    table["dense at pre-training lr"] = [float(ds.dense.sel(pretrain_lr=p)) for p in table.pretrain_lr]
    return table.rename(columns={"imp": "IMP (%)", "omp": "OMP (%)"})


def _verdict(row) -> str:
    return "jackpot" if row["jackpot"] else "secondary prize" if row["secondary prize"] else "neither"


def summary(ds: xr.Dataset) -> dict[str, str]:
    """The values chapter b2 quotes (glue key -> text): the density and weight counts, the IMP
    ticket's verdict and the conditions it fails, IMP against one-shot pruning (OMP) at the
    recipe's learning rate, random reinitialization, the dense and small dense networks,
    fine-tuning, and the learning rates; then the pre-training and ticket rates at which OMP
    does best (``best_*``)."""
    config = results.config_of(ds)
    lr, low = config["hparams"]["lr"], float(ds.pretrain_lr.min())
    imp_row = condition_table(ds).query("pruning == 'imp'").iloc[0]
    at = lambda var, **sel: float(ds[var].sel(**sel))  # noqa: E731
    imp, omp = at("ticket", pruning="imp", pretrain_lr=lr, ticket_lr=lr), at("ticket", pruning="omp", pretrain_lr=lr, ticket_lr=lr)
    ablation = ablation_table(ds)
    best = ablation.loc[ablation["OMP (%)"].idxmax()]
    return {
        "density": f"{100 * config['density']:.1f}",
        "small_model": config["small_dense_model"], "small_weights": f"{config['small_dense_weights']:,}",
        "ticket_weights": f"{config['ticket_weights']:,}",
        "imp_verdict": _verdict(imp_row),
        "imp_failed": "; ".join(c for c in CONDITIONS if not imp_row[c]) or "none",
        "imp_acc": f"{imp:.2f}", "omp_acc": f"{omp:.2f}", "imp_minus_omp": f"{imp - omp:+.2f}",
        "imp_reinit": f"{at('reinit', pruning='imp', pretrain_lr=lr, ticket_lr=lr):.2f}",
        "dense_acc": f"{at('dense', pretrain_lr=lr):.2f}", "small_acc": f"{float(ds.small_dense):.2f}",
        "ft_imp": f"{at('finetune', pruning='imp'):.2f}", "ft_omp": f"{at('finetune', pruning='omp'):.2f}",
        "lr": f"{lr:g}", "low_lr": f"{low:g}",
        "best_pretrain": f"{best.pretrain_lr:g}", "best_ticket": f"{best.ticket_lr:g}", "best_omp": f"{best['OMP (%)']:.2f}"}
