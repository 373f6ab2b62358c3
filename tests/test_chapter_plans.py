"""The chapters' three calls (lmc.experiments.chapters): plan, compute, summary.

The plans are checked against the archived ``quick`` results (their configuration records what
the old notebooks planned), and the summaries are run on those results, so a drift in either
fails here without training anything.
"""

import json
from pathlib import Path

import pytest

import lmc.core.results
import lmc.experiments.chapters as chapters
from lmc.core.errors import ConfigError
from lmc.paper import reported

QUICK = Path(__file__).resolve().parents[1] / "results" / "quick"

# chapter -> (the chapter's parameter, the field of the archived result's configuration)
RECORDED = {
    "02_instability_during_training": {"rewind_steps": "rewind_steps"},
    "03_training_time_or_schedule": {"rewind_steps": "rewind_steps"},
    "04_lottery_tickets_at_init": {"level": "levels"},
    "05_rewinding": {"level": "levels", "rewind_steps": "rewind_steps"},
    "06_sparsity_ranges": {"levels": "levels", "rewind_steps": "rewind_steps"},
    "a_b_sparsity_levels": {"levels": "levels", "rewind_steps": "rewind_steps", "reinit_levels": "reinit_levels"},
    "a_c_distances": {"dense_steps": "rewind_steps", "sparse_steps": "sparse_steps", "level": "level"},
    "a_d_instability_through_training": {"dense_steps": "rewind_steps", "imp_steps": "imp_steps", "level": "level",
                                         "every": "every", "eval_train_subset": "eval_train_subset"},
    "a_g_train_instability": {"level": "levels", "rewind_steps": "rewind_steps"},
    "a_h_other_distances": {"dense_steps": "rewind_steps", "sparse_steps": "sparse_steps", "level": "level"},
}


# what a chapter's notebook passes beyond its parameters (chapter 04: its one rewind step, k = 0)
NOTEBOOK_ARGUMENTS = {"04_lottery_tickets_at_init": {"rewind_steps": ["0"]}}


def _archived(chapter: str, model: str):
    return lmc.core.results.load(QUICK / chapter / f"{model}_standard.nc")


def test_every_chapter_entry_is_checked_here():
    assert set(RECORDED) == set(chapters.CHAPTERS)


@pytest.mark.parametrize("chapter", sorted(RECORDED))
def test_quick_plan_is_what_the_archived_results_were_computed_with(chapter):
    plan = chapters.plan(chapter, "quick", **NOTEBOOK_ARGUMENTS.get(chapter, {}))
    assert sorted(plan.configs) == sorted(reported.ROLES.values())
    for model, config in plan.configs.items():
        recorded = json.loads(_archived(chapter, model).attrs["config"])
        for parameter, key in RECORDED[chapter].items():
            value = plan.values[model][parameter]
            value = [str(v) for v in value] if key.endswith("steps") else value
            assert value == recorded[key], (chapter, model, parameter)
        assert [list(config.init_seeds), config.pairs, config.n_alpha] == \
            [recorded["init_seeds"], recorded["pairs"], recorded["n_alpha"]]
        if recorded.get("rewind_step") is not None:
            assert config.rewind_step == recorded["rewind_step"]
        if "weights" in recorded:
            assert plan.options["weights"] == recorded["weights"]


def test_a_parameter_replaces_the_default_and_none_keeps_it():
    default = chapters.plan("a_b_sparsity_levels", "quick", "lenet_300_100")
    assert default.values["lenet_300_100"]["levels"] == [3, 7, 15]
    chosen = chapters.plan("a_b_sparsity_levels", "quick", "lenet_300_100", levels=[3, 7], rewind_steps=None)
    assert chosen.values["lenet_300_100"]["levels"] == [3, 7]
    assert chosen.values["lenet_300_100"]["rewind_steps"] == default.values["lenet_300_100"]["rewind_steps"]
    # reinit levels follow the chosen grid unless given
    assert chosen.values["lenet_300_100"]["reinit_levels"] == [3, 7]
    assert chapters.plan("a_c_distances", "quick", "lenet_300_100", weights="prunable").options["weights"] == "prunable"
    seeds = chapters.plan("a_g_train_instability", "quick", "lenet_300_100", init_seeds=[0, 1], pairs=3)
    assert list(seeds.configs["lenet_300_100"].init_seeds) == [0, 1] and seeds.configs["lenet_300_100"].pairs == 3


def test_plan_table_has_a_row_per_network_with_its_parameters():
    table = chapters.plan("a_b_sparsity_levels", "quick").table()
    assert list(table.index) == [reported.setting(m).network for m in ("lenet_300_100", "fmnist_resnet_20_4")]
    assert table.loc[reported.setting("lenet_300_100").network, "levels"] == "3, 7, 15"
    assert table.loc[reported.setting("lenet_300_100").network, "densities (%)"] == "51.2, 21.0, 3.5"


def test_bad_parameters_and_chapters_say_what_exists():
    with pytest.raises(ConfigError, match="no parameter lvls.*levels, rewind_steps"):
        chapters.plan("a_b_sparsity_levels", "quick", lvls=[3])
    with pytest.raises(ConfigError, match="no chapter 'a_z'.*a_b_sparsity_levels"):
        chapters.plan("a_z", "quick")


def test_a_density_sets_the_imp_level_of_the_sparse_chapters():
    plan = chapters.plan("05_rewinding", "quick", "lenet_300_100", density=0.2)
    assert plan.values["lenet_300_100"]["level"] == 7  # the level nearest 20% on a log scale: 0.8^7 = 21.0%
    assert plan.table().iloc[0]["density (%)"] == 21.0


def test_smoke_shows_only_its_networks_with_an_imp_level():
    assert list(chapters.plan("a_g_train_instability", "smoke").configs) == ["lenet_300_100"]


@pytest.mark.parametrize("chapter", ["02_instability_during_training", "04_lottery_tickets_at_init", "05_rewinding",
                                     "06_sparsity_ranges", "a_b_sparsity_levels",
                                     "a_d_instability_through_training", "a_g_train_instability"])
def test_summary_quotes_every_role_and_says_which_were_not_computed(chapter):
    plan = chapters.plan(chapter, "quick", **NOTEBOOK_ARGUMENTS.get(chapter, {}))
    both = chapters.Found({m: _archived(chapter, m) for m in plan.configs})
    quoted, table = chapters.summary(plan, both)
    lenet_only, _ = chapters.summary(plan, chapters.Found({"lenet_300_100": both.datasets["lenet_300_100"]}))
    standin_keys = [k for k in quoted if k.endswith("_standin")]
    assert standin_keys and all(k[: -len("standin")] + "lenet" in quoted for k in standin_keys)
    assert not any(chapters.NOT_COMPUTED in quoted[k] for k in quoted)
    assert all(lenet_only[k] == chapters.NOT_COMPUTED for k in standin_keys)
    assert all(lenet_only[k] == quoted[k] for k in quoted if k.endswith("_lenet"))
    assert set(table["network"]) == {plan.network(m) for m in plan.configs}
    assert chapters.summary(plan, chapters.Found({}))[1] is None


def test_schedule_chapter_quotes_the_largest_gap_of_its_networks():
    plan = chapters.plan("03_training_time_or_schedule", "quick")
    quoted, table = chapters.summary(plan, chapters.Found({m: _archived(plan.chapter, m) for m in plan.configs}))
    # the quoted value is printed with 2 decimals: rounding moves it by at most 0.005
    assert float(quoted["largest_gap"]) == pytest.approx(table["largest |difference| (pp)"].max(), abs=0.005)
    assert set(table["network"]) == {plan.network(m) for m in plan.configs}
    assert chapters.summary(plan, chapters.Found({})) == ({"largest_gap": chapters.NOT_COMPUTED}, None)


def test_roles_name_the_two_cpu_networks_and_leave_others_as_they_are():
    assert reported.role("lenet_300_100") == "lenet"
    assert reported.role(reported.STAND_IN) == "standin"
    assert reported.role("cifar_resnet_20") == "cifar_resnet_20"


@pytest.mark.parametrize("chapter", sorted(RECORDED))
def test_every_value_the_prose_quotes_is_one_the_chapter_computes(chapter):
    """A glue key of the chapter's prose comes from ``summary`` or, for chapters 02-04, from the
    paper-protocol archive beside the build (``archive.beside``), read off the archived results."""
    import re

    import nbformat

    from lmc.experiments import archive

    plan = chapters.plan(chapter, "quick", **NOTEBOOK_ARGUMENTS.get(chapter, {}))
    found = chapters.Found({m: _archived(chapter, m) for m in plan.configs})
    quoted = set(chapters.summary(plan, found)[0])
    if chapter[:2] in archive.BESIDE:
        root = QUICK.parents[1]
        quoted |= set(archive.beside(chapter[:2], reported.ROLES["lenet"], "standard", root / "results", "paper",
                                     ours=found.datasets[reported.ROLES["lenet"]])[1])
    if chapter[:3] in ("04_", "05_", "06_", "a_b"):  # what they quote from the stand-in search
        from lmc.studies import standin_search

        quoted |= set(standin_search.quoted(QUICK.parents[1] / "results"))
    nb = nbformat.read(QUICK.parents[1] / "chapters" / f"{chapter}.ipynb", 4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = set(re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", prose))
    assert keys <= quoted, sorted(keys - quoted)


def test_a_chapters_outline_names_the_functions_behind_its_plan():
    from lmc.report import status

    assert chapters.functions("05_rewinding")[:3] == ["lmc.experiments.sparse.sparse_plan",
                                                      "lmc.experiments.sparse.sparse_curve",
                                                      "lmc.experiments.tables.rewind_table"]
    assert "lmc.experiments.instability.sel" not in chapters.functions("05_rewinding")  # ds.instability.sel(...)
    assert "lmc.experiments.instability.instability_curve" in chapters.functions("a_c_distances")  # its stable steps
    outline = status.chapter_outline(QUICK.parents[1] / "chapters" / "a_b_sparsity_levels.ipynb")
    assert "lmc.experiments.chapters.plan" in outline["computes"]
    assert "lmc.experiments.appendices.sparsity_accuracy" in outline["computes"]
