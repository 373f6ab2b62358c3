"""What a chapter computes, in three calls: ``plan``, ``compute``, ``summary``.

A chapter notebook keeps its papermill parameters, its figures and its prose; what it computes
and the values its prose quotes are named here, one entry of ``CHAPTERS`` per chapter::

    plan = chapters.plan("a_b_sparsity_levels", preset, models, variant, levels=levels, ...)
    plan.table()                                             # what will be computed, per network
    found = chapters.compute(plan, results_dir, device)      # {model: xr.Dataset}, saved as netCDF
    quoted, table = chapters.summary(plan, found)            # the glue values and the chapter's table

Chapters 02-06 and the appendices B, C, D, G and H have an entry.
An entry says which networks the chapter shows by default, each parameter's default (the
preset's k grid; for the appendices ``appendices.sizes``: the runs chapters 02 and 04-06 train, so
that the appendices measure the same cached runs), which function computes a network's result
and which one reads it. A
parameter left at None takes the default; a parameter the chapter does not have is an error
that lists the ones it has.

Glue keys name a network by its role in the prose (``reported.ROLES``: ``ours_lenet``,
``ours_standin``), so the prose stays when the stand-in changes; a key of a network the preset
does not compute reads "not computed with this preset".
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from ..core import paths, results
from ..core.errors import ConfigError, DataError
from ..paper import presets, reported
from . import appendices, imp, instability, sparse, tables

NOT_COMPUTED = "not computed with this preset"


@dataclass(frozen=True)
class Plan:
    """One chapter's computation: per network (by model name), its validated configuration and
    the values of the chapter's own parameters (k grids, IMP levels, ...)."""

    chapter: str
    preset: str
    variant: str
    configs: dict[str, instability.InstabilityConfig]
    values: dict[str, dict]
    options: dict = field(default_factory=dict)  # chapter-wide parameters (e.g. Appendix C's ``weights``)

    def network(self, model: str) -> str:
        """The name the paper (or the stand-in's entry) gives ``model``."""
        return reported.setting(model, self.variant).network

    def table(self) -> pd.DataFrame:
        """What will be computed: a row per network, its parameters' values, seeds and pairs."""
        rows = []
        for m, c in self.configs.items():
            row = {"network": self.network(m), **{k: _shown(v) for k, v in self.values[m].items()}}
            if "levels" in self.values[m]:
                row["densities (%)"] = _shown([_density(n) for n in self.values[m]["levels"]])
            elif self.values[m].get("level") is not None:
                row["density (%)"] = _density(self.values[m]["level"])
            rows.append({**row, "init seeds": _shown(c.init_seeds), "pairs": c.pairs, "α points": c.n_alpha})
        return pd.DataFrame(rows).set_index("network") if rows else pd.DataFrame()


@dataclass(frozen=True)
class Found:
    """A chapter's results: each network's dataset (``datasets``) and, for Appendices C and H, the
    stability steps read from chapters 02 and 05's curves (``stable``: model -> {subnetwork: k})."""

    datasets: dict[str, xr.Dataset]
    stable: dict[str, dict] = field(default_factory=dict)

    def items(self):
        return self.datasets.items()


@dataclass(frozen=True)
class Chapter:
    """An appendix chapter: its default networks (``networks(preset)``), its parameters' defaults
    (``defaults(preset, model, variant)``: parameter -> value), whether a network needs an IMP
    level to be shown by default, how one network's result is computed and how the results are
    summarised (``summary(plan, found) -> (quoted, table)``)."""

    networks: Callable[[str], list[str]]
    defaults: Callable[[str, str, str], dict] | None  # None: ``build`` gives the values
    compute: Callable[[instability.InstabilityConfig, dict, dict, str], xr.Dataset]
    summary: Callable[[Plan, Found], tuple[dict, pd.DataFrame | None]]
    parameters: tuple[str, ...]  # the keys ``defaults`` returns: the chapter's per-network parameters
    needs_level: bool = False
    options: dict = field(default_factory=dict)  # chapter-wide parameters and their defaults
    stable_steps: bool = False  # read the stability steps of chapters 02 and 05 (Appendices C, H)
    sizes: Callable[[str, str, str], dict] = appendices.sizes  # seeds and α points of the configs
    command: Callable[[instability.InstabilityConfig, dict], str] | None = None  # the CLI that computes it
    # chapters 04-06: (config, values) of a network from ``sparse.sparse_plan``, whose density sets the level
    build: Callable[..., tuple[instability.InstabilityConfig, dict]] | None = None


def _density(level: int) -> float:
    return round(100 * imp.density_after(int(level)), 1)


def _shown(value):
    return ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def _preset_networks(preset: str) -> list[str]:
    return list(presets.get(preset).models)


# --- each chapter's parameters and their defaults ----------------------------------------------

def _levels_defaults(preset: str, model: str, variant: str) -> dict:  # Appendix B
    s = appendices.sizes(preset, model, variant)
    return {"levels": s["grid_levels"], "rewind_steps": s["sparse_steps"], "reinit_levels": s["reinit_levels"]}


def _distance_defaults(preset: str, model: str, variant: str) -> dict:  # Appendices C and H
    s = appendices.sizes(preset, model, variant)
    return {"dense_steps": s["dense_steps"], "sparse_steps": s["sparse_steps"], "level": s["level"]}


def _through_defaults(preset: str, model: str, variant: str) -> dict:  # Appendix D
    s = appendices.through_sizes(preset, model, variant)
    return {"dense_steps": s["dense_steps"], "imp_steps": s["imp_steps"], "level": s["level"],
            "every": s["every"], "eval_train_subset": s["train_subset"]}


def _train_defaults(preset: str, model: str, variant: str) -> dict:  # Appendix G
    s = appendices.sizes(preset, model, variant)
    return {"level": s["level"], "rewind_steps": s["sparse_steps"]}


def _curve_sizes(preset: str, model: str, variant: str) -> dict:  # chapters 02 and 03
    return presets.get(preset).curve(model)


def _curve_defaults(preset: str, model: str, variant: str) -> dict:
    return {"rewind_steps": _curve_sizes(preset, model, variant)["rewind_steps"]}


def _sparse_build(grid: bool):
    """Chapters 04-05 (``grid`` False: one IMP level, from ``density``, default Table 1's) and 06
    (``grid`` True: chapter 06's density grid ``levels``): ``sparse.sparse_plan``'s configuration,
    whose rewind step is the grid's first, and the chapter's values."""
    def build(preset, model, variant, init_seeds, pairs, n_alpha, overrides):
        p = sparse.sparse_plan(preset, model, variant, overrides.get("density"), overrides.get("rewind_steps"),
                               init_seeds, pairs, n_alpha, overrides.get("levels"))[model]
        values = {"levels": p["grid_levels"]} if grid else {"level": p["levels"]}
        return p["config"], {**values, "rewind_steps": p["rewind_steps"]}
    return build


# --- each chapter's computation of one network -------------------------------------------------

def _curve_compute(config, values, options, device):
    return instability.instability_curve(config, values["rewind_steps"], device=device)


def _schedule_compute(config, values, options, device):
    return instability.schedule_comparison(config, values["rewind_steps"], device=device)


def _curve_command(config, values) -> str:
    return instability.cli_command(config, values["rewind_steps"])


def _table2_compute(config, values, options, device):
    return sparse.sparse_instability(config, values["level"], sparse.KNOWN_SUBNETWORKS, device=device)


def _rewind_compute(config, values, options, device):
    return sparse.sparse_curve(config, values["level"], values["rewind_steps"], device=device)


def _grid_compute(config, values, options, device):
    return sparse.sparsity_grid(config, values["levels"], values["rewind_steps"], device=device)


def _sparse_command(config, values) -> str:
    return sparse.sparse_command(config, values["rewind_steps"], values.get("levels", values.get("level")))


def _levels_compute(config, values, options, device):
    return appendices.sparsity_accuracy(config, values["levels"], values["rewind_steps"],
                                        values["reinit_levels"], device=device)


def _distance_compute(subnetworks):
    def compute(config, values, options, device):
        return appendices.distances(config, values["dense_steps"], values["sparse_steps"], values["level"],
                                    subnetworks, options["weights"], device)
    return compute


def _through_compute(config, values, options, device):
    imp_steps = values["imp_steps"] if values["level"] else []
    return appendices.through_training(config, values["dense_steps"], imp_steps, values["every"],
                                       values["level"], values["eval_train_subset"], device=device)


def _train_compute(config, values, options, device):
    return sparse.sparse_curve(config, values["level"], values["rewind_steps"], device=device)


# --- each chapter's summary: the glue values (by role) and its table ---------------------------

def _keys(prefixes, value: str = NOT_COMPUTED) -> dict:
    """Every glue key ``<prefix>_<role>`` of the prose, each saying ``value`` until it is measured."""
    return {f"{p}_{role}": value for p in prefixes for role in reported.ROLES}


def _stacked(plan: Plan, tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The networks' tables one under the other, each row labelled with its network."""
    shown = [t.assign(network=plan.network(m))[["network", *t.columns]] for m, t in tables.items()]
    return pd.concat(shown, ignore_index=True) if shown else None


def _curve_summary(plan: Plan, found: Found):
    """Chapter 02: per network the step from which it is stable (also as a share of training), its
    instability at k = 0, its schedule and the rewind steps as shares of training; the paper's
    stability steps of ResNet-20 and VGG-16."""
    curves = {(m, plan.variant): ds for m, ds in found.items()}
    table = tables.stability_table(curves)
    quoted = _keys(("stable", "k0", "stable_pct", "schedule", "shares"))
    for _, row in table.iterrows():
        role, ds = reported.role(row["model"]), curves[(row["model"], plan.variant)]
        config, stable = results.config_of(ds), row["stable from k (ours)"]
        quoted[f"stable_{role}"] = stable
        quoted[f"k0_{role}"] = row["test instability at k=0 (pp)"]
        quoted[f"schedule_{role}"] = reported.schedule_note(config)
        quoted[f"shares_{role}"] = reported.rewind_share(config, ds.rewind_step.values)
        quoted[f"stable_pct_{role}"] = f"{100 * int(stable) / row['T (iterations)']:.1f}%" if stable.isdigit() else "never"
    for m in ("cifar_resnet_20", "cifar_vgg_16"):  # the paper's readings
        s = reported.setting(m)
        k = instability.rewind_iterations(s, s.stable_from)
        T = instability.rewind_iterations(s, s.hparams.training_steps)
        quoted[f"paper_stable_{m}"] = f"{k:,} of {T:,} iterations ({100 * k / T:.1f}% of training)"
    return quoted, table.drop(columns="model") if len(table) else None


def _schedule_summary(plan: Plan, found: Found):
    """Chapter 03: the largest difference between the two schedules' instability, and the table."""
    if not found.datasets:
        return {"largest_gap": NOT_COMPUTED}, None
    table = tables.schedule_table({(m, plan.variant): ds for m, ds in found.items()})
    return {"largest_gap": f"{table['largest |difference| (pp)'].max():.2f}"}, table


TABLE2_KEYS = ("density", "full", "imp", "random_prune", "random_reinit", "delta", "matching", "inst_imp",
               "inst_prune", "inst_reinit", "paper_row", "random_prune_global", "inst_prune_global", "schedule",
               "verdict", "paper_verdict")


def _table2_summary(plan: Plan, found: Found):
    """Chapter 04: Table 2's row of each network (ours, and the paper's where it has one) and the
    verdict on the paper's claim for it."""
    quoted, tables_ = _keys(TABLE2_KEYS), {}
    for m, ds in found.items():
        role, table = reported.role(m), tables.table2(ds)
        ours = table.loc["ours"]
        quoted.update({f"density_{role}": f"{ours['density (%)']:.1f}", f"full_{role}": ours["dense (%)"],
                       f"imp_{role}": ours["imp (%)"], f"random_prune_{role}": ours["random_prune (%)"],
                       f"random_reinit_{role}": ours["random_reinit (%)"], f"delta_{role}": f"{ours['Δ IMP (pp)']:.2f}",
                       f"matching_{role}": "matching" if ours["matching (1 std)"] else "not matching",
                       f"inst_imp_{role}": f"{ours['instability imp (pp)']:.2f}",
                       f"inst_prune_{role}": f"{ours['instability random_prune (pp)']:.2f}",
                       f"inst_reinit_{role}": f"{ours['instability random_reinit (pp)']:.2f}",
                       f"random_prune_global_{role}": ours.get("random_prune_global (%)", "not computed"),
                       f"inst_prune_global_{role}": f"{ours.get('instability random_prune_global (pp)', float('nan')):.2f}",
                       f"schedule_{role}": reported.schedule_note(results.config_of(ds)),
                       f"verdict_{role}": tables.table2_verdict(ds)})
        theirs = reported.TABLE2.get((m, plan.variant))
        quoted[f"paper_row_{role}"] = ("not in the paper" if theirs is None else
                                       f"{theirs.full:g} / {theirs.imp:g} / {theirs.random_prune:g} / {theirs.random_reinit:g}")
        quoted[f"paper_verdict_{role}"] = ("not in the paper" if theirs is None else
                                           "matching" if theirs.matching else "not matching")
        tables_[m] = table.rename_axis("row").reset_index()
    return quoted, _stacked(plan, tables_)


def _rewind_summary(plan: Plan, found: Found):
    """Chapter 05: per network the first k from which its IMP subnetwork is stable, the k at which
    it matches, whether a random baseline ever matches; the paper's k; the schedule and draws."""
    quoted, tables_ = _keys(("stable", "matching", "baselines", "paper", "schedule", "shares", "draws")), {}
    for m, ds in found.items():
        role, table = reported.role(m), tables.rewind_table(ds)
        imp_rows = table[table.subnetwork == "imp"].set_index("k")
        stable = tables.first_step(ds.instability.sel(split="test", subnetwork="imp").mean(("init_seed", "pair")) < 2)
        quoted[f"stable_{role}"] = "never in our grid" if stable is None else f"k = {stable}"
        quoted[f"matching_{role}"] = ", ".join(f"k = {k}" for k in imp_rows.index[imp_rows.matching]) or "no k in our grid"
        others = table[table.subnetwork.isin(["random_prune", "random_reinit"])]
        quoted[f"baselines_{role}"] = "matching at some k" if others.matching.any() else "matching at no k"
        theirs = reported.IMP_STABLE_FROM.get((m, plan.variant))
        quoted[f"paper_{role}"] = "not in the paper" if theirs is None else theirs
        config = results.config_of(ds)
        quoted[f"schedule_{role}"] = reported.schedule_note(config)
        quoted[f"shares_{role}"] = reported.rewind_share(config, ds.rewind_step.values)
        quoted[f"draws_{role}"] = f"{ds.sizes['init_seed']} initialization(s) × {ds.sizes['pair']} pair(s)"
        tables_[m] = table
    return quoted, _stacked(plan, tables_)


def _range_text(part: pd.Series) -> str:
    if part.empty:
        return "no density of our grid"
    return f"{part.max():.1f}%" if len(part) == 1 else f"{part.max():.1f}% to {part.min():.1f}%"


def _grid_summary(plan: Plan, found: Found):
    """Chapter 06: per network and density, where it is stable and matching (the paper's matching
    rule with its 0.2 pp margin); the densities of the three sparsity ranges, and the densities
    at which it is not stable from the first rewind step."""
    quoted, tables_ = _keys(("stable", "rangeI", "rangeII", "rangeIII")), {}
    for m, ds in found.items():
        role = reported.role(m)
        table = tables.stability_and_matching(ds, margin=reported.MATCHING_MARGIN)
        ranges = tables.sparsity_ranges(table)
        for name in ("I", "II", "III"):
            quoted[f"range{name}_{role}"] = _range_text(ranges[ranges["range"] == name]["density (%)"])
        first = min(int(k) for k in ds.rewind_step.values)
        late = table[table["stable from k"].isna() | (table["stable from k"] > first)]
        quoted[f"stable_{role}"] = ("stable from the first rewind step at every density of our grid" if late.empty else
                                    "not stable from the first rewind step at " + ", ".join(
                                        f"{d:.1f}% ({s})" for d, s in zip(late["density (%)"], late["subnetwork"])))
        tables_[m] = table
    return quoted, _stacked(plan, tables_)


def ranges_paper() -> pd.DataFrame:
    """The paper's sparsity ranges (Section 4.4), a row per network."""
    return pd.DataFrame([{"network": reported.setting(*key).network, "range I (% remaining)": f"> {r.random_matching:g}",
                          "range II": f"{r.random_matching:g} to {r.imp_matching:g}", "range III": f"< {r.imp_matching:g}",
                          "matching and stable at about the same k": f"{r.coincide[0]:g} to {r.coincide[1]:g}"}
                         for key, r in reported.RANGES.items()])


def _levels_summary(plan: Plan, found: Found):
    quoted, tables = _keys(("ours", "table1", "full")), {}
    for m, ds in found.items():
        setting, role = reported.setting(m, plan.variant), reported.role(m)
        table = appendices.figure9_table(ds)
        full, std = appendices.full_network(ds)
        ours = appendices.extreme_matching(table)
        quoted[f"ours_{role}"] = "no density in the grid" if ours is None else f"{ours:.1f}%"
        quoted[f"table1_{role}"] = ("none (not in the paper)" if setting.pruning_density != setting.pruning_density
                                    else f"{setting.pruning_density:g}%")
        quoted[f"full_{role}"] = f"{full:.2f} ± {std:.2f}%"
        tables[m] = table
    return quoted, _stacked(plan, tables)


def _readings(plan: Plan, found: Found, subnetworks, describe):
    """Appendices C and H at each network's stability step: the full network at chapter 02's, the
    sparse ``subnetworks`` at the IMP subnetwork's of chapter 05, each described by ``describe``."""
    quoted = _keys(("dense", *subnetworks))
    for m, ds in found.items():
        role, stable = reported.role(m), found.stable.get(m, {})
        quoted[f"dense_{role}"] = describe(appendices.at_step(ds, "dense", stable.get("dense")))
        if "imp" in stable:
            for sub in subnetworks:
                quoted[f"{sub}_{role}"] = describe(appendices.at_step(ds, sub, stable["imp"]))
    return quoted


def _k(setting: reported.Setting, step: str) -> str:
    return f"{instability.rewind_iterations(setting, step):,}" if step.endswith("it") else step


def appendix_c_paper() -> pd.DataFrame:
    """The paper's readings of Appendix C.2, a row per network."""
    rows = []
    for key, r in reported.APPENDIX_C.items():
        setting = reported.setting(*key)
        rows.append({"network": setting.network, "full: stable from k": _k(setting, r.dense_stable),
                     "full: test error at k (%)": r.dense_error, "final test error (%)": r.final_error,
                     "IMP: stable from k": _k(setting, r.imp_stable), "IMP: test error at k (%)": r.imp_error,
                     "IMP: copy ↔ copy / init → end (%)": r.imp_copies_share})
    return pd.DataFrame(rows)


def _distance_summary(plan: Plan, found: Found):
    quoted = _readings(plan, found, ("imp",), appendices.describe)
    resnet = reported.APPENDIX_C[("cifar_resnet_20", "standard")]
    vgg = reported.APPENDIX_C[("cifar_vgg_16", "standard")]
    r20, v16 = reported.setting("cifar_resnet_20"), reported.setting("cifar_vgg_16")
    quoted["paper_resnet"] = (f"k = {_k(r20, resnet.dense_stable)} with about {resnet.dense_error:g}% test error "
                              f"(final {resnet.final_error:g}%)")
    quoted["paper_vgg"] = f"k = {_k(v16, vgg.dense_stable)} with about {vgg.dense_error:g}% (final {vgg.final_error:g}%)"
    quoted["paper_imp"] = (f"{resnet.imp_error:g}% (ResNet-20, k = {_k(r20, resnet.imp_stable)}) "
                           f"and {vgg.imp_error:g}% (VGG-16, k = {_k(v16, vgg.imp_stable)})")
    quoted["paper_share"] = " / ".join(f"{r.imp_copies_share:g}%" for r in reported.APPENDIX_C.values())
    return quoted, _stacked(plan, {m: appendices.distance_table(ds) for m, ds in found.items()})


def _disagreements(reading: dict | None) -> str:
    if reading is None:
        return "not stable in the measured grid (or not computed with this preset)"
    return (f"{reading['test disagreements']:.0f} test examples at k = {reading['k']} "
            f"({reading['% of the most possible']:.0f}% of the most possible; L2 {reading['L2']:.2f}, "
            f"cosine {reading['cosine']:.3f})")


def _other_distance_summary(plan: Plan, found: Found):
    quoted = _readings(plan, found, ("imp", "random_prune", "random_reinit"), _disagreements)
    setting = reported.setting("cifar_resnet_20")
    quoted["paper_resnet"] = " and ".join(
        f"about {n:g} at k = {instability.rewind_iterations(setting, k):,} ({share:g}% of the most possible)"
        for k, n, share in reported.APPENDIX_H_DISAGREEMENTS[("cifar_resnet_20", "standard")])
    return quoted, _stacked(plan, {m: appendices.other_distances_table(ds) for m, ds in found.items()})


def _through_summary(plan: Plan, found: Found):
    quoted, tables = _keys(("agree",)), {}
    for m, ds in found.items():
        table = appendices.through_table(ds)
        stable = table[table["stable at T"]]
        same = int(stable["stable throughout"].sum())
        quoted[f"agree_{reported.role(m)}"] = (
            f"{same} of the {len(stable)} (subnetwork, k) cases stable at T "
            f"{'is' if len(stable) == 1 else 'are'} stable at every measured step"
            if len(stable) else "none of the measured cases is stable at T")
        tables[m] = table
    return quoted, _stacked(plan, tables)


def _train_summary(plan: Plan, found: Found):
    quoted, tables = _keys(("gap", "train")), {}
    for m, ds in found.items():
        role, table = reported.role(m), appendices.train_instability(ds)
        worst = table.loc[table["train − test (pp)"].abs().idxmax()]
        quoted[f"gap_{role}"] = (f"{abs(worst['train − test (pp)']):.2f} pp ({worst['subnetwork']}, k = {worst['k']}: "
                                 f"train {worst['train instability (pp)']:.2f}, "
                                 f"test {worst['test instability (pp)']:.2f})")
        imp_rows = table[table["subnetwork"] == "imp"]
        quoted[f"train_{role}"] = ", ".join(f"{r['train error (%)']:.2f}% at k = {r['k']}" for _, r in imp_rows.iterrows())
        tables[m] = table
    return quoted, _stacked(plan, tables)


DISTANCES = ("dense_steps", "sparse_steps", "level")
CHAPTERS: dict[str, Chapter] = {
    "02_instability_during_training": Chapter(_preset_networks, _curve_defaults, _curve_compute, _curve_summary,
                                              ("rewind_steps",), sizes=_curve_sizes, command=_curve_command),
    "03_training_time_or_schedule": Chapter(_preset_networks, _curve_defaults, _schedule_compute, _schedule_summary,
                                            ("rewind_steps",), sizes=_curve_sizes, command=_curve_command),
    "04_lottery_tickets_at_init": Chapter(_preset_networks, None, _table2_compute, _table2_summary,
                                          ("density", "rewind_steps"), command=_sparse_command,
                                          build=_sparse_build(grid=False)),
    "05_rewinding": Chapter(_preset_networks, None, _rewind_compute, _rewind_summary, ("density", "rewind_steps"),
                            command=_sparse_command, build=_sparse_build(grid=False)),
    "06_sparsity_ranges": Chapter(_preset_networks, None, _grid_compute, _grid_summary, ("levels", "rewind_steps"),
                                  command=_sparse_command, build=_sparse_build(grid=True)),
    "a_b_sparsity_levels": Chapter(_preset_networks, _levels_defaults, _levels_compute, _levels_summary,
                                   ("levels", "rewind_steps", "reinit_levels"), needs_level=True),
    "a_c_distances": Chapter(_preset_networks, _distance_defaults, _distance_compute(("dense", "imp")),
                             _distance_summary, DISTANCES, options={"weights": "all"}, stable_steps=True),
    "a_d_instability_through_training": Chapter(
        appendices.through_models, _through_defaults, _through_compute, _through_summary,
        ("dense_steps", "imp_steps", "level", "every", "eval_train_subset"), sizes=appendices.through_sizes),
    "a_g_train_instability": Chapter(_preset_networks, _train_defaults, _train_compute, _train_summary,
                                     ("level", "rewind_steps"), needs_level=True),
    "a_h_other_distances": Chapter(_preset_networks, _distance_defaults, _distance_compute(sparse.SUBNETWORKS),
                                   _other_distance_summary, DISTANCES, options={"weights": "all"}, stable_steps=True),
}


def functions(chapter: str) -> list[str]:
    """The public ``lmc.experiments`` functions that compute and summarise ``chapter``'s results,
    read from its entry's code (``lmc.report.status`` lists them in each chapter's outline, so
    a reader finds a figure's computation in two hops: chapter, then this entry)."""
    spec = _chapter(chapter)
    parts = (spec.build, spec.compute, _stable_steps if spec.stable_steps else None, spec.summary)
    code = "\n".join(inspect.getsource(f) for f in parts if f is not None)
    modules = {"appendices": appendices, "imp": imp, "instability": instability, "sparse": sparse, "tables": tables}
    found = [(m, name) for m, name in re.findall(r"\b(appendices|imp|instability|sparse|tables)\.([a-z]\w*)\(", code)
             if inspect.isfunction(getattr(modules[m], name, None))]  # not ``ds.instability.sel(``
    return list(dict.fromkeys(f"lmc.experiments.{module}.{name}" for module, name in found))


def _chapter(chapter: str) -> Chapter:
    if chapter not in CHAPTERS:
        raise ConfigError(f"no chapter {chapter!r} in lmc.experiments.chapters; choose one of {', '.join(CHAPTERS)}")
    return CHAPTERS[chapter]


def plan(chapter: str, preset: str, models=None, variant: str = "standard", init_seeds=None,
         pairs: int | None = None, n_alpha: int | None = None, **overrides) -> Plan:
    """The computation of ``chapter`` under ``preset``: ``models`` (a name or a list; None: the
    chapter's default networks, those with an IMP level where the chapter needs one), each with
    its configuration (``init_seeds``, ``pairs``, ``n_alpha``; None: the preset's) and the
    chapter's own parameters (``overrides``; None: the default)."""
    spec = _chapter(chapter)
    unknown = sorted(set(overrides) - set(spec.parameters) - set(spec.options))
    if unknown:
        raise ConfigError(f"chapter {chapter} has no parameter {', '.join(unknown)}; its parameters: "
                          f"{', '.join([*spec.parameters, *spec.options])}, models, variant, init_seeds, pairs, n_alpha")
    names = [models] if isinstance(models, str) else models
    configs, values = {}, {}
    for m in (spec.networks(preset) if names is None else list(names)):
        if spec.build is not None:
            configs[m], values[m] = spec.build(preset, m, variant, init_seeds, pairs, n_alpha, overrides)
            continue
        size = spec.sizes(preset, m, variant)
        if names is None and spec.needs_level and size["level"] is None:
            continue  # no IMP level for this network under this preset
        chosen = {k: (v if overrides.get(k) is None else overrides[k])
                  for k, v in spec.defaults(preset, m, variant).items()}
        if "reinit_levels" in chosen and overrides.get("reinit_levels") is None:
            chosen["reinit_levels"] = [n for n in chosen["reinit_levels"] if n in chosen["levels"]]
        configs[m] = instability.instability_config(
            model=m, variant=variant, preset=preset, pairs=pairs,
            init_seeds=size["init_seeds"] if init_seeds is None else init_seeds,
            n_alpha=size["n_alpha"] if n_alpha is None else n_alpha)
        values[m] = chosen
    options = {k: (v if overrides.get(k) is None else overrides[k]) for k, v in spec.options.items()}
    return Plan(chapter, preset, variant, configs, values, options)


def _stable_steps(plan: Plan, model: str, device: str) -> dict:
    """The steps from which the full network (chapter 02's curve) and its IMP subnetwork (chapter
    05's) are stable, from those chapters' runs at this plan's configuration: found in the run
    cache when the chapters ran first (as in the book's order), trained otherwise; {} where their
    data set is missing."""
    config, values = plan.configs[model], plan.values[model]
    try:
        curve = instability.instability_curve(config, values["dense_steps"], device=device, progress=False)
        found = {"dense": appendices.stable_step(curve)}
        if values["level"] is not None and len(values["sparse_steps"]):
            sparse_curve = sparse.sparse_curve(config, values["level"], values["sparse_steps"], ("dense", "imp"),
                                               device=device, progress=False)
            found["imp"] = appendices.stable_step(sparse_curve, "imp")
    except DataError:
        return {}
    return found


def compute(plan: Plan, results_dir="results", device: str = "auto") -> Found:
    """Each network's result of ``plan``, computed (or read from the run cache) and saved at
    ``<results_dir>/<preset>/<chapter>/<model>_<variant>.nc``; where a network's data set is not on
    this machine, its archived result, or nothing (a printed note says which)."""
    spec = _chapter(plan.chapter)
    datasets, stable = {}, {}
    for m, config in plan.configs.items():
        path = paths.network_file(results_dir, plan.preset, plan.chapter, m, plan.variant)
        ds, note = results.computed_or_archived(
            lambda: spec.compute(config, plan.values[m], plan.options, device), path, m,
            spec.command(config, plan.values[m]) if spec.command else None)
        if note:
            print(note)
        if ds is None:
            continue
        datasets[m] = ds
        if spec.stable_steps:
            stable[m] = _stable_steps(plan, m, device)
    return Found(datasets, stable)


def summary(plan: Plan, found: Found) -> tuple[dict[str, str], pd.DataFrame | None]:
    """The values ``plan``'s chapter quotes in its prose (glue key -> text, every role's key
    present) and its table of measured numbers, a row per network and subnetwork (None when
    nothing was computed)."""
    return _chapter(plan.chapter).summary(plan, found)


