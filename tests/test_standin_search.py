"""The search for the CPU stand-in: candidates, registration, the verdict, shards and a tiny evaluation."""

import copy
import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from lmc.core import hparams, results
from lmc.core.errors import ConfigError
from lmc.experiments import instability, sparse
from lmc.paper import presets, reported
from lmc.studies import standin_search as search

STEPS = (0, 12, 30, 60, 120)  # T = 600: k at 0, 2, 5, 10 and 20% of T
ALL = sparse.SUBNETWORKS


@pytest.fixture(autouse=True)
def _registries_restored(monkeypatch):
    """Registering candidates changes reported.SETTINGS and presets.PRESETS only for the test."""
    monkeypatch.setattr(reported, "SETTINGS", dict(reported.SETTINGS))
    monkeypatch.setattr(presets, "PRESETS", dict(presets.PRESETS))


@pytest.fixture(scope="session")
def fashion_mnist():
    from lmc.core import data

    try:
        data.verify("fashion_mnist")
    except Exception:
        pytest.skip("Fashion-MNIST not found; set LMC_DATA_DIR")


def test_a_candidate_has_the_cifar_recipes_shape_and_the_current_stand_in_is_one():
    stand_in = reported.setting("fmnist_resnet_20_4").hparams
    assert search.Candidate().hparams() == stand_in  # 600 iterations, drops at 305 and 457, 14 px
    assert search.Candidate().rewind_steps == (0, 12, 30, 60)
    low = search.Candidate(variant="low").hparams()
    warmup = search.Candidate(variant="warmup", steps=6300).hparams()
    assert low.lr == pytest.approx(0.01) and low.warmup_steps == "0it"  # Table 1: 0.1 -> 0.01
    assert warmup.lr == pytest.approx(0.03) and warmup.warmup_steps == "3000it"  # 30K of 63K at 0.03
    assert warmup.lr_drops == ("3200it", "4800it")
    assert search.Candidate(image_size=28).hparams().image_size is None  # the data set's own size
    c = search.Candidate("fmnist_resnet_20_8", steps=1200, lr=0.2)
    assert c.id.startswith("r20w8-fmnist14-T1200-lr0p2-standard-1x1-") and "." not in c.id
    assert search.Candidate.from_dict(json.loads(json.dumps(c.as_dict()))) == c
    assert search.Candidate(variant="low").id != search.Candidate().id


@pytest.mark.parametrize("fields, match", [
    ({"rewind_steps": (0, 600)}, "below T"),
    ({"rewind_steps": (5, 10)}, "start at 0"),
    ({"levels": (4, 2)}, "increasing"),
    ({"model": "cifar_resnet_20"}, "1-channel"),
    ({"subnetworks": ("imp",)}, "dense and imp"),
    ({"variant": "fast"}, "variant"),
])
def test_bad_candidates_are_refused(fields, match):
    with pytest.raises(ConfigError, match=match):
        search.Candidate(**fields)


def test_a_registered_candidate_gives_instability_config_a_valid_config():
    c = search.Candidate("fmnist_resnet_20_8", steps=1200, variant="warmup")
    config = search.config(c)
    assert (config.model, config.variant, config.preset) == (c.name, "warmup", "search")
    assert config.hparams == c.hparams()  # the search preset keeps the candidate's recipe
    assert instability.instability_config(model=c.name, variant="warmup", rewind_step=120,
                                          preset="search").hparams == c.hparams()
    assert search.register(c) == c.name  # again: nothing changes
    assert ("fmnist_resnet_20_4", "standard") in reported.STAND_INS and c.name not in dict(reported.STAND_INS)
    with pytest.raises(ConfigError, match="another recipe"):
        search.register(dataclasses.replace(c, momentum=0.5))  # same name, other recipe


# --- the verdict on datasets built by hand --------------------------------------------------------

def pattern() -> tuple[dict, dict]:
    """Mean test accuracy and instability per (level, subnetwork) over STEPS that show the whole
    pattern at level 4 (level 2: everything matches, so Appendix B picks level 4)."""
    accuracy = {(2, "dense"): [90] * 5, (2, "imp"): [90] * 5, (2, "random_prune"): [90] * 5,
                (2, "random_reinit"): [90] * 5,
                (4, "imp"): [85, 90, 90, 90, 90], (4, "random_prune"): [80] * 5, (4, "random_reinit"): [81] * 5}
    accuracy[4, "dense"] = accuracy[2, "dense"]
    instability = {(2, "dense"): [10, 5, 1, 0.5, 0.5], (2, "imp"): [1] * 5, (2, "random_prune"): [1] * 5,
                   (2, "random_reinit"): [1] * 5,
                   (4, "imp"): [8, 1, 1, 1, 1], (4, "random_prune"): [9] * 5, (4, "random_reinit"): [9] * 5}
    instability[4, "dense"] = instability[2, "dense"]
    return accuracy, instability


def synthetic(accuracy: dict, instability: dict, n_init: int = 3, pairs: int = 2, subnetworks=ALL,
              variant: str = "standard", **fields) -> xr.Dataset:
    """A shard with these means: copies at mean ± 0.5 (so the full network's std is about 0.5)."""
    levels = sorted({n for n, _ in accuracy})
    shape = (len(levels), len(STEPS), len(subnetworks), n_init, pairs, 2)
    acc, inst = np.zeros(shape), np.zeros(shape[:-1])
    for a, n in enumerate(levels):
        for b, name in enumerate(subnetworks):
            mean = np.asarray(accuracy[n, name], float)[:, None, None, None]
            acc[a, :, b] = mean + np.array([-0.5, 0.5])
            inst[a, :, b] = np.asarray(instability[n, name], float)[:, None, None]
    dims = ("level", "rewind_step", "subnetwork", "init_seed", "pair", "copy")
    candidate = search.Candidate(levels=tuple(levels), rewind_steps=STEPS, subnetworks=subnetworks,
                                 n_init=n_init, pairs=pairs, variant=variant, **fields)
    return xr.Dataset(
        {"test_accuracy": (dims, acc), "test_instability": (dims[:-1], inst)},
        coords={"level": levels, "rewind_step": list(STEPS), "subnetwork": list(subnetworks),
                "init_seed": list(range(n_init)), "pair": list(range(pairs)),
                "rewind_fraction": ("rewind_step", [k / 600 for k in STEPS])},
        attrs={"config": json.dumps({"candidate": candidate.as_dict(), "candidate_id": candidate.id})})


def test_the_verdict_finds_the_whole_pattern():
    v = search.verdict(synthetic(*pattern()))
    assert v["appendix_b_level"] == v["level"] == 4 and v["density"] == pytest.approx(100 * 0.8 ** 4)
    assert v["imp_fails_at_0"] and v["imp_rescued"] and v["rescued_from"] == 12
    assert v["baselines_never_match"] and v["dense_unstable_at_0_stable_later"] and v["dense_stable_from"] == 30
    assert v["enough_draws"] and v["screen"] and v["shows_pattern"] and not v["imp_works_at_0"]
    assert v["imp_gap_at_0"] == pytest.approx(5) and v["imp_instability_at_0"] == "8.00 ± 0.00"
    assert search.verdict(synthetic(*pattern()), level=2)["imp_works_at_0"]  # judged at another level


def test_the_verdict_says_when_appendix_bs_level_is_the_sparsest_of_the_grid():
    """Level 4 is the sparsest level in ``pattern``: IMP might match further on, so the rule's
    density is a bound. With a level 6 at which IMP never matches, the rule is decided inside the grid."""
    assert search.verdict(synthetic(*pattern()))["appendix_b_at_sparsest"]
    accuracy, instability = pattern()
    accuracy.update({(6, "dense"): accuracy[2, "dense"], (6, "imp"): [80] * 5, (6, "random_prune"): [70] * 5,
                     (6, "random_reinit"): [70] * 5})
    instability.update({(6, name): instability[4, name] for name in ALL})
    v = search.verdict(synthetic(accuracy, instability))
    assert v["appendix_b_level"] == 4 and not v["appendix_b_at_sparsest"]
    # the sentence reads the setting's shard with the most draws (stage 2's), not stage 1's single draw
    text = search.closest({"one": synthetic(*pattern(), n_init=1, pairs=1), "all": synthetic(*pattern())})
    assert "Appendix B's density may be sparser" in text and "(3 × 2 draws)" in text


def test_figure_9_and_appendix_bs_sentence_for_the_nearest_setting():
    table, (full, full_std), title, sentence = search.figure_9({"one": synthetic(*pattern(), n_init=1, pairs=1),
                                                               "all": synthetic(*pattern())})
    assert list(table.level) == [2, 4] and table["best IMP matching"].all() and title.endswith("(3 × 2 draws)")
    assert list(table["IMP best k"]) == [0, 12]  # level 4: k = 0 is 85%, every k ≥ 12 is 90%
    assert full == pytest.approx(90) and full_std == pytest.approx(np.std([89.5, 90.5] * 6, ddof=1))
    assert sentence.startswith("Appendix B's rule picks 41.0% of the weights (level 4, of 64.0%, 41.0%; 3 × 2 draws)")
    assert "41.0% or sparser" in sentence
    accuracy, instability = pattern()
    accuracy.update({(6, "dense"): accuracy[2, "dense"], (6, "imp"): [80] * 5, (6, "random_prune"): [70] * 5,
                     (6, "random_reinit"): [70] * 5})
    instability.update({(6, name): instability[4, name] for name in ALL})
    assert search.appendix_b(synthetic(accuracy, instability)).endswith("IMP matches at no k at the sparser densities measured")
    assert search.figure_9({})[3].startswith("not testable yet")


def test_per_initialization_judges_each_initialization_at_the_whole_results_density():
    accuracy, instability = pattern()
    whole = synthetic(accuracy, instability)
    # initialization 2 alone: IMP matches at k = 0 (a draw against the pattern)
    whole["test_accuracy"].loc[dict(level=4, subnetwork="imp", rewind_step=0, init_seed=2)] = 90.0
    low = synthetic({**accuracy, (4, "imp"): [90] * 5}, {**instability, (4, "imp"): [1] * 5}, variant="low")
    table = search.per_initialization({"s": whole, "l": low})
    assert list(zip(table.variant, table.init_seed)) == [("standard", s) for s in range(3)] + [("low", s) for s in range(3)]
    assert (table["density (%)"] == round(100 * 0.8 ** 4, 1)).all() and (table.pairs == 2).all()
    standard = table[table.variant == "standard"].set_index("init_seed")
    assert list(standard["IMP fails at k=0"]) == [True, True, False]
    assert list(standard["rescued from k"]) == [12, 12, 12] and (standard["dense stable from k"] == 30).all()
    assert table[table.variant == "low"]["IMP works at k=0"].all()
    assert search.per_initialization({}).empty
    text = search.one_at_a_time(table)
    assert text.startswith("One initialization at a time: with the standard recipe at 41.0%, IMP at k = 0 is "
                           "neither matching nor stable on 2 of 3 (not on initialization 2); some k ≤ 10% of T "
                           "makes it matching and stable on 3 of 3;")
    assert "with the low recipe at 41.0%, IMP at k = 0 is matching and stable on 3 of 3." in text
    assert text.endswith("Not every initialization shows its part of the pattern on its own pairs (1 of the 5 "
                         "criteria above).")
    assert search.one_at_a_time(search.per_initialization({"s": synthetic(*pattern())})).endswith(
        "the dense network is unstable at k = 0 and stable later on 3 of 3. Every initialization measured shows "
        "its part of the pattern on its own pairs.")
    assert search.one_at_a_time(search.per_initialization({})).startswith("not testable yet")


def _probe(imp_at_6: list, imp_at_8: list) -> xr.Dataset:
    """Stage 3's probe of ``pattern`` (stage 2 stops at level 4): levels 6 and 8, dense and IMP, 1 × 1."""
    accuracy, instability = pattern()
    accuracy = {(n, name): accuracy[2, "dense"] if name == "dense" else values
                for n, values in ((6, imp_at_6), (8, imp_at_8)) for name in ("dense", "imp")}
    instability = {(n, name): instability[4, name] for n in (6, 8) for name in ("dense", "imp")}
    return synthetic(accuracy, instability, n_init=1, pairs=1, subnetworks=("dense", "imp"), purpose="appendix_b")


def test_stage_3_probes_beyond_stage_2s_sparsest_level_and_appendix_b_reads_it():
    base = search.Candidate(steps=1800, lr=0.4, levels=(6, 8, 10), rewind_steps=(0, 90, 180, 360), n_init=1,
                            pairs=2, subnetworks=ALL)
    shards_2 = [dataclasses.replace(base, first_seed=i, shard_step=k) for i in range(3) for k in base.rewind_steps]
    shards_2 += [dataclasses.replace(base, variant="low", rewind_steps=(0,))]
    probes = search.stage_3(shards_2)
    assert len(probes) == 1 and probes[0].levels == (12, 14, 16) and probes[0].rewind_steps == base.rewind_steps
    assert (probes[0].n_init, probes[0].pairs, probes[0].subnetworks, probes[0].shard_step) == (1, 1, search.SCREEN, None)
    assert "-appb-" in probes[0].id and "purpose" not in base.as_dict()  # a search shard's id is unchanged
    with pytest.raises(ConfigError, match="purpose"):
        search.Candidate(purpose="other")
    whole = synthetic(*pattern())
    text = search.appendix_b(whole, _probe([90] * 5, [80] * 5))  # IMP matches at 6 (26.2%), at no k at 8
    assert "the sparsest density measured. Stage 3's probe beyond it (26.2%, 16.8%; 1 × 1 draws" in text
    assert text.endswith("IMP matches at some k down to 26.2% (level 6)")
    assert search.appendix_b(whole, _probe([80] * 5, [80] * 5)).endswith(
        "IMP matches at none of them at any k; none sparser than 41.0%, so that is the rule's answer")
    settled = {"one": synthetic(*pattern(), n_init=1, pairs=1), "all": whole, "probe": _probe([80] * 5, [80] * 5)}
    assert "(the sparsest level measured; stage 3's probe, 1 × 1 draws, finds IMP matching at no sparser level)" \
        in search.closest(settled)
    assert "the probe's sparsest level too" in search.appendix_b(whole, _probe([90] * 5, [90] * 5))
    # the probe is neither a setting to rank nor the nearest result: figure 9 reads the search's, with the probe
    shards = {"one": synthetic(*pattern(), n_init=1, pairs=1), "all": whole, "probe": _probe([90] * 5, [80] * 5)}
    assert search.best(shards) == [(search.candidate_of(shards["one"]), 4)]
    assert search.figure_9(shards)[3].endswith("IMP matches at some k down to 26.2% (level 6)")
    assert "sparser still; stage 3's probe, 1 × 1 draws: IMP matches at some k down to 26.2% (level 6))" \
        in search.closest(shards)
    assert search.summary(shards).set_index("candidate").loc[search.candidate_of(shards["probe"]).id, "purpose"] \
        == "appendix_b"


def test_each_recipe_is_judged_at_its_own_appendix_b_density_and_shown_at_the_standards():
    """Table 1 gives each variant its own density (ResNet-20: 16.8% standard, 8.6% low): a low
    recipe whose IMP matches at k = 0 at level 2 but not at 4 is judged at level 2, and Table 2's
    layout shows it at the standard recipe's level 4 too."""
    accuracy, instability = pattern()
    low = synthetic({**accuracy, (4, "imp"): [85] * 5}, {**instability, (4, "imp"): [1] * 5}, variant="low")
    shards = {"standard": synthetic(*pattern()), "low": low}
    rows = search.summary(shards).set_index("variant")
    assert rows.loc["low", "density (%)"] == round(100 * 0.8 ** 2, 1) and rows.loc["low", "IMP works at k=0"]
    assert rows.loc["standard", "density (%)"] == round(100 * 0.8 ** 4, 1)
    table = search.table_2(shards)
    table = table[~table.setting.str.startswith("paper")].set_index("variant")
    assert table.loc["low", "density (%)"] == 64.0 and table.loc["low", "IMP matching"] == "Y"
    at_standard = table.loc["low at the standard recipe's density"]
    assert at_standard["density (%)"] == 41.0 and at_standard["IMP matching"] == "N"
    text = search.closest(shards)
    assert "at its own Appendix B density 64.0%" in text and "and at the standard recipe's 41.0% it is 85.00" in text
    per_init = search.per_initialization(shards)
    assert set(per_init[per_init.variant == "low"]["density (%)"]) == {64.0}
    # the low recipe picks the denser level here (64.0% against 41.0%): the other way round from Table 1's
    assert search.densities({**shards, "low": low.sel(rewind_step=[0])}).endswith("standard 41.0% (3 × 2 draws), low 64.0% (3 × 2 draws, k = 0 only); "
                                             "Table 1's for ResNet-20: standard 16.8%, low 8.6%, warmup 8.6%. Here "
                                             "the standard recipe's density is the sparser one, the other way round "
                                             "from the paper; low is measured at k = 0 only, and rewinding could "
                                             "carry it sparser.")
    warmup = low.sel(rewind_step=[0]).assign_attrs(config=low.attrs["config"].replace('"low"', '"warmup"'))
    assert search.candidate_of(warmup).variant == "warmup"
    assert search.densities({**shards, "low": low.sel(rewind_step=[0]), "warmup": warmup}).endswith(
        "; low and warmup are measured at k = 0 only, and rewinding could carry them sparser.")
    shards["low"] = synthetic({**accuracy, **{(n, "imp"): [90] * 5 for n in (2, 4)}},
                              {**instability, **{(n, "imp"): [1] * 5 for n in (2, 4)}}, variant="low")
    assert search.densities(shards).endswith("Here the standard recipe's density is the same as the others'.")
    shards["standard"] = synthetic({**accuracy, (4, "imp"): [85] * 5}, instability)  # IMP matches at level 2 only
    assert "standard 64.0% (3 × 2 draws), low 41.0%" in search.densities(shards)
    assert search.densities(shards).endswith("Here the standard recipe's density is the denser one, as in the paper.")


def _changed(level_name, values, which=0):
    accuracy, instability = copy.deepcopy(pattern())
    (accuracy, instability)[which][level_name] = values
    return search.verdict(synthetic(accuracy, instability))


@pytest.mark.parametrize("key, v", [
    ("imp_fails_at_0", lambda: _changed((4, "imp"), [90] * 5)),                      # IMP matches at k = 0
    ("imp_fails_at_0", lambda: _changed((4, "imp"), [1] * 5, which=1)),              # IMP stable at k = 0
    ("imp_rescued", lambda: _changed((4, "imp"), [85, 85, 85, 85, 90])),             # matching only at 20% of T
    ("imp_rescued", lambda: _changed((4, "imp"), [8, 8, 8, 8, 1], which=1)),         # stable only at 20% of T
    ("baselines_never_match", lambda: _changed((4, "random_prune"), [80, 80, 80, 90, 80])),
    ("baselines_never_match", lambda: _changed((4, "random_reinit"), [90, 81, 81, 81, 81])),
    ("dense_unstable_at_0_stable_later", lambda: _changed((2, "dense"), [1] * 5, which=1)),   # stable at 0
    ("dense_unstable_at_0_stable_later", lambda: _changed((2, "dense"), [10] * 5, which=1)),  # never stable
])
def test_each_criterion_can_fail_and_then_there_is_no_pattern(key, v):
    v = v()
    assert v[key] is False and not v["shows_pattern"]
    others = {"imp_fails_at_0", "imp_rescued", "baselines_never_match", "dense_unstable_at_0_stable_later"} - {key}
    assert all(v[k] for k in others)


def test_one_draw_or_no_baselines_is_not_enough():
    accuracy, instability = pattern()
    one = search.verdict(synthetic(accuracy, instability, n_init=1, pairs=1))
    assert one["screen"] and not one["enough_draws"] and not one["shows_pattern"]
    screened = search.verdict(synthetic(accuracy, instability, subnetworks=("dense", "imp")))
    assert screened["baselines_never_match"] is None and screened["screen"] and not screened["shows_pattern"]
    nowhere = search.verdict(synthetic({**accuracy, (2, "imp"): [80] * 5, (4, "imp"): [80] * 5}, instability))
    assert nowhere["appendix_b_level"] is None and not nowhere["imp_rescued"]


def test_short_of_the_pattern_the_conclusion_names_the_nearest_setting_with_its_numbers(tmp_path):
    accuracy, instability = pattern()
    # one draw: the screen passes, the pattern cannot (too few draws); its low recipe works at k = 0
    standard = synthetic(accuracy, instability, n_init=1, pairs=1, subnetworks=("dense", "imp"))
    low = synthetic({**accuracy, (4, "imp"): [90] * 5}, {**instability, (4, "imp"): [1] * 5}, n_init=1, pairs=1,
                    subnetworks=("dense", "imp"), variant="low")
    text = search.conclusion({"s": standard, "l": low}, [], tmp_path)
    assert text.startswith("No setting shows the whole pattern yet: of the 2 computed, 1 pass")
    nearest = text.split("Nearest: ")[1]
    assert nearest.startswith(search.candidate_of(standard).id + " at 41.0% density (the sparsest level measured")
    assert "may be sparser still) (1 × 1 draws)" in nearest
    assert "85.00 ± 0.71% against the full network's 90.00 ± 0.71% (not matching) with test instability 8.00 pp" \
        in nearest  # the synthetic copies sit at mean ± 0.5: sample std 0.71
    assert "rewinding to k = 12 (2% of T) makes it matching and stable" in nearest
    assert "dense network's test instability is 10.00 pp (one pair) at k = 0 and below 2 pp from k = 30" in nearest
    assert ("with the low recipe (1 × 1 draws), at its own Appendix B density 41.0%, IMP at k = 0 is 90.00 ± 0.71% "
            "against 90.00 ± 0.71%") in nearest
    assert "(matching and stable)" in nearest
    assert search.closest({}) == ""


def test_the_summary_judges_a_low_shard_at_its_standard_recipes_level_and_concludes(tmp_path):
    accuracy, instability = pattern()
    low_acc = {**accuracy, (4, "imp"): [90] * 5}
    low_inst = {**instability, (4, "imp"): [1] * 5}
    shards = {"standard": synthetic(accuracy, instability), "low": synthetic(low_acc, low_inst, variant="low")}
    table = search.summary(shards).set_index("variant")
    assert table.loc["standard", "shows pattern"] and table.loc["low", "IMP works at k=0"]
    assert table.loc["low", "density (%)"] == round(100 * 0.8 ** 4, 1)
    text = search.conclusion(shards, [], tmp_path)
    assert text.startswith("The whole pattern holds, on the mean over its draws, for") and "(with low)" in text
    numbers = text.split(" In numbers: ")[1]  # a verdict the chapters glue carries the numbers it rests on
    assert numbers.startswith(search.candidate_of(shards["standard"]).id + " at 41.0% density")
    # 3 × 2 × 2 copies at mean ± 0.5: sample std 0.5 · √(12 / 11) = 0.52
    assert "85.00 ± 0.52% against the full network's 90.00 ± 0.52% (not matching)" in numbers
    assert "with the low recipe (3 × 2 draws), at its own Appendix B density 41.0%, IMP at k = 0 is 90.00" in numbers
    assert search.conclusion({}, search.stage_1(), tmp_path).startswith("Nothing is computed yet. 9 of the 9 shards")
    frame = search.curves(shards)
    assert len(frame) == 2 * len(STEPS) * 3 * 2 and set(frame.columns) == {"candidate", "k (% of T)", "instability", "gap"}


def test_the_standard_recipes_half_on_enough_draws_is_said_while_the_low_recipes_draws_are_short(tmp_path):
    """The standard recipe meets the four criteria on 3 × 2 draws; the whole pattern also needs
    the low (or warmup) recipe working at k = 0 on at least 3 × 2, and the sentence says which part
    is short: no low recipe, one on too few draws, or one that does not work."""
    accuracy, instability = pattern()
    standard = synthetic(accuracy, instability)
    name = search.candidate_of(standard).id
    half = f"The standard recipe of {name} meets all four criteria on 3 × 2 draws; what is missing is Table 2's other half"
    alone = search.conclusion({"s": standard}, [], tmp_path)
    assert alone.startswith("No setting shows the whole pattern yet: of the 1 computed, 1 pass")
    assert half in alone and "on at least 3 × 2 draws (neither recipe is computed)." in alone
    works = ({**accuracy, (4, "imp"): [90] * 5}, {**instability, (4, "imp"): [1] * 5})
    short = search.conclusion({"s": standard, "l": synthetic(*works, n_init=2, variant="low")}, [], tmp_path)
    assert half in short and "(shown on 2 × 2 so far)." in short
    fails = search.conclusion({"s": standard, "l": synthetic(*pattern(), variant="low")}, [], tmp_path)
    assert half in fails and "(not shown on any draws so far)." in fails
    whole = search.conclusion({"s": standard, "l": synthetic(*works, variant="low")}, [], tmp_path)
    assert whole.startswith("The whole pattern holds, on the mean over its draws, for") and half not in whole


# --- shards ---------------------------------------------------------------------------------------

def test_a_saved_shard_is_not_recomputed(tmp_path, monkeypatch):
    calls = []

    def evaluate(candidate, device="auto", progress=True):
        calls.append(candidate.id)
        ds = synthetic(*pattern(), n_init=1, pairs=1, subnetworks=("dense", "imp"))
        ds.attrs.update(results.provenance({"candidate": candidate.as_dict()}, "cpu"))
        return ds

    monkeypatch.setattr(search, "evaluate", evaluate)
    candidates = [search.Candidate(steps=t) for t in (600, 1200)]
    assert search.missing(candidates, tmp_path) == candidates  # cheapest first
    written = search.run(candidates, tmp_path, progress=False, number=1)
    assert [p.name for p in written] == [f"{c.id}.nc" for c in candidates]
    attrs = results.load(written[0]).attrs  # what it took, and how to compute it again
    assert attrs["wall_seconds"] >= 0 and attrs["cpu_seconds"] >= 0
    assert attrs["shard_command"] == f"lmc search-standin --stage 1 --candidate {candidates[0].id}"
    assert search.shard_command(2, "x", ["a", "b"]) == "lmc search-standin --stage 2 --pick a b --candidate x"
    assert search.run(candidates, tmp_path, progress=False, number=1) == [] and len(calls) == 2
    assert search.missing(candidates + [search.Candidate(steps=2400)], tmp_path) == [search.Candidate(steps=2400)]
    shards = search.load(tmp_path)
    assert sorted(shards) == sorted(c.id for c in candidates)
    assert len(search.best(shards)) == 2 and search.best(shards, n=1)[0][1] == 4  # (candidate, its level)
    picked = search.stage(2, tmp_path)
    # 2 picks × (standard: one shard per initialization and k of the default 4-step grid; low and
    # warmup: one per initialization at k = 0)
    assert len(picked) == 2 * (3 * 4 + 2 * 3) and {c.variant for c in picked} == {"standard", "low", "warmup"}
    assert all(c.n_init == 1 and c.pairs == 2 and c.subnetworks == ALL for c in picked)
    assert len({c.id for c in picked}) == len(picked)
    standard = [c for c in picked[:18] if c.variant == "standard"]
    grid = standard[0].rewind_steps
    assert len(grid) == 4 and [(c.first_seed, c.shard_step) for c in standard] == [(i, k) for i in (0, 1, 2) for k in grid]
    assert all(c.rewind_steps == (0,) and c.shard_step is None for c in picked if c.variant != "standard")
    todo = [c.variant for c in search.missing(picked, tmp_path)]  # the standard recipe's shards first
    assert todo == ["standard"] * 24 + ["low"] * 6 + ["warmup"] * 6
    assert search.estimated_seconds(standard[0]) < search.estimated_seconds(
        dataclasses.replace(standard[0], shard_step=None)) / 3  # a shard trains one k of four
    assert picked[0].levels == (2, 4, 6)  # the synthetic pick, level 4, and its neighbours in the grid
    assert search.stage(2, tmp_path, picks=[candidates[1].id])[0].steps == 1200


def test_one_shard_per_initialization_joins_into_one_result_over_them(tmp_path):
    shards = {}
    for seed in (0, 1, 2):
        ds = synthetic(*pattern(), n_init=1, pairs=2)
        candidate = dataclasses.replace(search.candidate_of(ds), first_seed=seed)
        ds = ds.assign_coords(init_seed=[seed])
        ds.attrs["config"] = json.dumps({"candidate": candidate.as_dict(), "candidate_id": candidate.id})
        shards[candidate.id] = ds
        results.save(ds, tmp_path / "standin_search" / f"{candidate.id}.nc")
    assert "-init1-" in sorted(shards)[1] and len(set(shards)) == 3
    joined = search.load(tmp_path)
    (key, ds), = joined.items()
    whole = search.candidate_of(ds)
    assert (whole.n_init, whole.first_seed, whole.pairs) == (3, 0, 2) and key == whole.id
    assert ds.init_seed.values.tolist() == [0, 1, 2]
    assert search.verdict(ds)["draws"] == "3 × 2" and search.verdict(ds)["enough_draws"]
    assert search.verdict(shards[sorted(shards)[0]])["draws"] == "1 × 2"
    # a stage-1 shard (1 × 1) stays as it is beside them, and a repeated initialization is refused
    assert "first_seed" not in search.Candidate().as_dict()  # ids from before first_seed existed stay
    again = next(iter(shards.values()))
    with pytest.raises(ConfigError, match="repeat an initialization"):
        search.join({"a": again, "b": again.copy()})


def test_an_extension_to_a_sparser_level_joins_along_level_once_every_initialization_has_it(tmp_path):
    accuracy, instability = pattern()
    base = synthetic(accuracy, instability, n_init=1, pairs=2)
    sparser = synthetic({(6, name): accuracy[4, name] for name in ALL}, {(6, name): instability[4, name] for name in ALL},
                        n_init=1, pairs=2)
    for seed in (0, 1):
        for k in STEPS:
            for ds in (base, sparser) if seed == 0 else (base,):
                candidate, part = _one_k(ds, seed, k)
                results.save(part, tmp_path / "standin_search" / f"{candidate.id}.nc")
    (ds,) = search.load(tmp_path).values()  # initialization 1 lacks level 6: it is left out of the join
    assert ds.level.values.tolist() == [2, 4] and ds.init_seed.values.tolist() == [0, 1]
    for k in STEPS:
        candidate, part = _one_k(sparser, 1, k)
        results.save(part, tmp_path / "standin_search" / f"{candidate.id}.nc")
    (ds,) = search.load(tmp_path).values()
    assert ds.level.values.tolist() == [2, 4, 6] and ds.init_seed.values.tolist() == [0, 1]
    assert search.candidate_of(ds).levels == (2, 4, 6) and search.verdict(ds)["appendix_b_level"] == 6
    xr.testing.assert_equal(ds.test_accuracy.sel(level=6, init_seed=1, drop=True),
                            sparser.test_accuracy.sel(level=6, drop=True).isel(init_seed=0, drop=True))
    # stage 2's extension: the probe finds IMP matching at level 6, beyond the grid's level 4
    shards_2 = [dataclasses.replace(search.candidate_of(base), first_seed=i, shard_step=k) for i in (0, 1) for k in STEPS]
    probe_ds = _probe([90] * 5, [80] * 5)
    extra = search.extension(shards_2, {"probe": probe_ds})
    assert [c.levels for c in extra] == [(6,)] * len(shards_2)
    assert [(c.first_seed, c.shard_step) for c in extra] == [(c.first_seed, c.shard_step) for c in shards_2]
    assert search.extension(shards_2, {"probe": _probe([80] * 5, [80] * 5)}) == []  # nothing matches beyond
    assert search.density_unsettled({"all": ds, "probe": probe_ds}) == ""  # the grid now reaches the probe's level


def _one_k(ds, seed, k):
    """The part of ``ds`` (one initialization) a stage-2 shard of seed ``seed`` and rewind step ``k`` holds."""
    candidate = dataclasses.replace(search.candidate_of(ds), first_seed=seed, shard_step=k)
    part = ds.sel(rewind_step=[k]).assign_coords(init_seed=[seed])
    part.attrs["config"] = json.dumps({"candidate": candidate.as_dict(), "candidate_id": candidate.id})
    return candidate, part


def test_shards_per_initialization_and_rewind_step_join_once_an_initialization_has_every_k(tmp_path):
    whole = synthetic(*pattern(), n_init=1, pairs=2)
    folder = tmp_path / "standin_search"
    for seed in (0, 1, 2):
        for k in STEPS[:-1] if seed == 2 else STEPS:  # initialization 2 is still missing its last k
            candidate, part = _one_k(whole, seed, k)
            assert f"-k{k}-" in candidate.id and candidate.computed_steps == (k,)
            results.save(part, folder / f"{candidate.id}.nc")
    (key, ds), = search.load(tmp_path).items()
    joined = search.candidate_of(ds)
    assert (joined.n_init, joined.first_seed, joined.shard_step) == (2, 0, None) and key == joined.id
    assert ds.init_seed.values.tolist() == [0, 1] and ds.rewind_step.values.tolist() == list(STEPS)
    # the parts put back together are the whole (each initialization the same synthetic draws)
    xr.testing.assert_equal(ds.test_accuracy.sel(init_seed=0, drop=True), whole.test_accuracy.isel(init_seed=0, drop=True))
    assert search.verdict(ds)["draws"] == "2 × 2" and not search.verdict(ds)["enough_draws"]
    candidate, part = _one_k(whole, 2, STEPS[-1])
    results.save(part, folder / f"{candidate.id}.nc")
    (ds,) = search.load(tmp_path).values()
    assert ds.init_seed.values.tolist() == [0, 1, 2] and search.verdict(ds)["shows_pattern"]
    with pytest.raises(ConfigError, match="must be one of rewind_steps"):
        dataclasses.replace(candidate, shard_step=7)


def test_stage_2_needs_stage_1(tmp_path):
    with pytest.raises(ConfigError, match="compute stage 1 first"):
        search.stage(2, tmp_path)


def test_stage_1_is_a_screen_of_nine_settings_with_costs():
    everything = search.stage_1()
    grid, (longer_k, low) = everything[:7], everything[7:]
    assert len(everything) == 9 and len({c.id for c in everything}) == len(everything)
    assert {c.lr for c in grid} == {0.1, 0.2, 0.4} and {c.steps for c in grid} == {600, 1800}
    assert all(c.rewind_steps == (0, round(0.05 * c.steps)) for c in grid)  # k at 0 and 5% of T
    assert all(c.variant == "standard" and (c.n_init, c.pairs) == (1, 1) and c.subnetworks == ("dense", "imp")
               for c in grid)
    # the follow-ups of the longer run: the same recipe on k = 0, 5, 10, 20% of T, and its low variant at k = 0
    assert longer_k == dataclasses.replace(grid[6], rewind_steps=(0, 90, 180, 360))
    assert low == dataclasses.replace(grid[6], variant="low", rewind_steps=(0,))
    assert low.hparams().lr == pytest.approx(0.04)  # Table 1's low: a tenth of the rate (float product)
    hours = [search.estimated_seconds(c) / 3600 for c in everything]
    assert all(0 < h < 1.5 for h in hours) and 3.5 < sum(hours) < 5  # from an empty run cache
    assert search.Candidate(steps=1200).rewind_steps[-1] == 120  # k ≤ 10% of T
    table = search.grid_table(grid[:2], "nowhere")
    assert list(table["computed"]) == [False, False]


def test_the_command_line_lists_what_is_missing(tmp_path, capsys):
    from lmc import cli

    assert cli.main(["search-standin", "--stage", "1", "--list", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "missing: r20w4-fmnist14-T600-lr0p4-standard-1x1-" in out
    assert "lmc search-standin --stage 1 --candidate r20w4-fmnist14-T600" in out
    assert "stage 1: 9 of 9 shards missing" in out and "lmc search-standin --stage 1 --jobs 2" in out
    assert cli.main(["search-standin", "--stage", "2", "--results-dir", str(tmp_path)]) == 2
    assert "compute stage 1 first" in capsys.readouterr().err


# --- the real pipeline, tiny ----------------------------------------------------------------------

def test_a_tiny_evaluation_runs_end_to_end_and_is_judged(fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setitem(presets.PRESETS, "search",
                        dataclasses.replace(search.SEARCH, test_subset=500, eval_train_size=640, n_alpha=5))
    c = search.Candidate("fmnist_resnet_8_2", steps=30, train_subset=640, levels=(1,), rewind_steps=(0, 3),
                         subnetworks=ALL)
    ds = search.evaluate(c, device="cpu", progress=False)
    assert ds.test_accuracy.dims == ("level", "rewind_step", "subnetwork", "init_seed", "pair", "copy")
    assert ds.test_instability.dims == ("level", "rewind_step", "subnetwork", "init_seed", "pair")
    assert ds.rewind_fraction.values.tolist() == [0, 0.1]
    assert float(ds.density.sel(subnetwork="imp").mean()) == pytest.approx(0.8, abs=1e-3)
    config = results.config_of(ds)
    assert config["candidate_id"] == c.id and config["grid"]["hparams"] == c.hparams().as_dict()
    assert hparams.total_steps(c.hparams()) == 30
    v = search.verdict(ds)
    assert v["level"] == 1 and v["draws"] == "1 × 1" and isinstance(v["baselines_never_match"], bool)
    path = search.run([c], tmp_path, device="cpu", progress=False, number=1)[0]  # the same runs: found in the cache
    assert search.verdict(search.load(tmp_path)[c.id]) == v and path == search.shard_path(c, tmp_path)


def test_the_searched_setting_at_smoke_size_runs_every_subnetwork_and_both_pairs(fashion_mnist, tmp_path, monkeypatch):
    """The stand-in the search found (stage 2's standard shard at k = 0, read from the committed
    results, so the test follows the pick): its network, image size, recipe and learning rate,
    all four subnetworks and 2 pairs, shrunk to 30 iterations on 640 examples and one IMP level,
    through ``run``, ``join``, Table 2's layout and the per-initialization table."""
    from pathlib import Path

    monkeypatch.setitem(presets.PRESETS, "search",
                        dataclasses.replace(search.SEARCH, test_subset=500, eval_train_size=640, n_alpha=5))
    archived = Path(__file__).resolve().parents[1] / "results"
    picked = next(c for c in search.stage(2, archived) if c.variant == "standard" and c.shard_step == 0)
    c = dataclasses.replace(picked, steps=30, train_subset=640, levels=(1,), rewind_steps=(0,), shard_step=0)
    assert (c.model, c.image_size, c.lr, c.pairs, c.subnetworks) == (
        picked.model, picked.image_size, picked.lr, 2, tuple(sparse.SUBNETWORKS))
    search.run([c], tmp_path, device="cpu", progress=False, number=2)
    joined = search.load(tmp_path)  # the one k of its grid: the shard joins into a 1 × 2 result
    assert len(joined) == 1 and next(iter(joined.values())).sizes["pair"] == 2
    table = search.table_2(joined)
    ours = table[table.setting == c.name].set_index("variant")
    assert ours.loc["standard", "draws"] == "1 × 2" and ours.loc["standard", "IMP matching"] in ("Y", "N")
    assert all(ours.loc["standard", f"{n} matching"] in ("Y", "N") for n in ("random pruning", "random reinit"))
    assert list(search.per_initialization(joined).init_seed) == [0]


@pytest.mark.slow
def test_the_chapter_renders_with_no_shard_and_with_one(tmp_path):
    from lmc.report import book

    chapter = book.select(["a_s"])[0]

    def execute(folder):
        out = book.execute(chapter, tmp_path / f"{folder}.ipynb",
                           {"preset": "smoke", "results_dir": str(tmp_path / folder)}, progress=False)
        nb = json.loads(out.read_text())
        outputs = [o for cell in nb["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]
        text = "".join("".join(o.get("text", "")) for o in outputs)
        glued = {o["metadata"]["scrapbook"]["name"]: o["data"][o["metadata"]["scrapbook"]["mime_prefix"] + "text/plain"]
                 for o in outputs
                 if "scrapbook" in o.get("metadata", {})}
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        return text, glued, images

    text, glued, images = execute("empty")
    assert "No setting is computed yet" in text and not images
    assert glued["conclusion"].startswith("'Nothing is computed yet. 9 of the 9 shards of stage 1 are still to compute")
    assert glued["one_at_a_time"] == "'not testable yet: no standard setting is computed'"
    shard = synthetic(*pattern(), n_init=1, pairs=1, subnetworks=("dense", "imp"))
    results.save(shard, tmp_path / "one" / "standin_search" / f"{search.candidate_of(shard).id}.nc")
    text, glued, images = execute("one")
    assert "1 settings computed" in text and len(images) == 1
    # the glued text is the string's repr: double-quoted once the text holds an apostrophe ("network's")
    assert glued["conclusion"].strip("'\"").startswith("No setting shows the whole pattern yet: of the 1 computed, 1 pass")
    assert "Nearest: " in glued["conclusion"]
    # one initialization with one pair, and no baselines (stage 1): their criterion is left out
    assert glued["one_at_a_time"].strip("'\"") == (
        "One initialization at a time: with the standard recipe at 41.0%, IMP at k = 0 is neither matching nor "
        "stable on 1 of 1; some k ≤ 10% of T makes it matching and stable on 1 of 1; the dense network is unstable "
        "at k = 0 and stable later on 1 of 1. Every initialization measured shows its part of the pattern on its "
        "own pairs.")


def test_table_2_has_the_papers_layout_for_the_setting_with_its_variants():
    standard = synthetic(*pattern())
    accuracy, instability = copy.deepcopy(pattern())
    accuracy[4, "imp"], instability[4, "imp"] = [90] * 5, [1] * 5  # low: IMP works at k = 0
    low = synthetic(accuracy, instability, variant="low")
    shards = {search.candidate_of(ds).id: ds for ds in (standard, low, synthetic(*pattern(), n_init=1, pairs=1))}
    table = search.table_2(shards).set_index(["setting", "variant"])
    name = search.candidate_of(standard).name
    ours, theirs = table.loc[name], table.loc["paper: ResNet-20 (CIFAR-10)"]
    assert list(ours.index) == ["standard", "low"] and list(theirs.index) == ["standard", "low", "warmup"]
    assert (ours["draws"] == "3 × 2").all()  # the 3 × 2 shard, not the 1 × 1 one of the same setting
    assert ours.loc["standard", "density (%)"] == pytest.approx(100 * 0.8 ** 4, abs=0.05)  # Appendix B's level
    assert ours.loc["standard", ["IMP matching", "random pruning matching", "random reinit matching"]].tolist() == ["N"] * 3
    assert ours.loc["low", "IMP matching"] == "Y" and ours.loc["standard", "IMP instability (pp)"] == "8.00 ± 0.00"
    assert ours.loc["standard", "full (%)"].startswith("90.00 ± ")
    # the paper's own Y/N, from its printed numbers: IMP fails with the standard recipe, works with low and warmup
    assert theirs["IMP matching"].tolist() == ["N", "Y", "Y"] and set(theirs["random pruning matching"]) == {"N"}
    assert search.table_2({}).empty


def test_the_finding_the_chapters_cite_says_supported_only_on_the_whole_pattern(tmp_path):
    word, text = search.finding(tmp_path)
    assert word == "not testable yet" and text.startswith("Nothing is computed yet. 9 of the 9 shards of stage 1")
    accuracy, instability = copy.deepcopy(pattern())
    accuracy[4, "imp"], instability[4, "imp"] = [90] * 5, [1] * 5
    shards = [synthetic(*pattern()), synthetic(accuracy, instability, variant="low")]
    for ds in shards[:1]:
        results.save(ds, tmp_path / "standin_search" / f"{search.candidate_of(ds).id}.nc")
    assert search.finding(tmp_path)[0] == "not testable yet"  # no low or warmup recipe yet
    results.save(shards[1], tmp_path / "standin_search" / f"{search.candidate_of(shards[1]).id}.nc")
    # the pattern at level 4, the sparsest level of the grid: Appendix B's density is not settled
    word, text = search.finding(tmp_path)
    assert word == "not testable yet" and text.startswith("The whole pattern holds, on the mean over its draws, for")
    assert text.endswith("stage 3's probe of the sparser levels is not computed (`lmc search-standin --stage 3`).")
    loaded = search.load(tmp_path)
    word, text = search.finding(tmp_path, {**loaded, "probe": _probe([90] * 5, [80] * 5)})  # IMP matches beyond
    assert word == "not testable yet" and "finds that IMP matches at some k down to 26.2% (level 6)" in text
    results.save(_probe([80] * 5, [80] * 5), tmp_path / "standin_search" / "probe.nc")  # IMP matches nowhere beyond
    word, text = search.finding(tmp_path)
    assert word == "supported" and text.startswith(
        f"The whole pattern holds, on the mean over its draws, for {search.candidate_of(shards[0]).id} (with low).")
    # judged on the mean: the sentence says what each initialization shows on its own pairs
    assert "In numbers: " in text and text.endswith(
        search.one_at_a_time(search.per_initialization(search.load(tmp_path))))
    assert "with the low recipe at 41.0%, IMP at k = 0 is matching and stable on 3 of 3" in text


def test_the_finding_and_status_read_the_results_folder_once(tmp_path, monkeypatch):
    for ds in (synthetic(*pattern()), synthetic(*pattern(), variant="low")):
        results.save(ds, tmp_path / "standin_search" / f"{search.candidate_of(ds).id}.nc")
    loaded, reads = search.load(tmp_path), []
    real = search.load
    monkeypatch.setattr(search, "load", lambda results_dir="results": reads.append(results_dir) or real(results_dir))
    word, text = search.finding(tmp_path, loaded)  # the caller's shards: stage 2 is built from them, not re-read
    assert reads == [] and word == "not testable yet" and "stage 3's probe of the sparser levels is not computed" in text
    search.status_text(tmp_path)
    assert reads == [tmp_path]  # once for all three stages


def test_the_a_s_appendix_says_how_the_nearest_setting_outsizes_the_quick_stand_in(tmp_path):
    assert search.against_quick({}, tmp_path) == "no setting of the stand-in search is computed yet"
    for seconds, ds in ((600, synthetic(*pattern(), steps=1200)), (1500, synthetic(*pattern(), steps=1200, variant="low")),
                        (9000, synthetic(*pattern(), steps=900, variant="low"))):  # another setting: not counted
        ds.attrs["cpu_seconds"] = seconds
        results.save(ds, tmp_path / "standin_search" / f"{search.candidate_of(ds).id}.nc")
    text = search.against_quick(search.load(tmp_path), tmp_path)
    assert text.startswith("the nearest setting (r20w4-fmnist14-T1200-") and "trains T = 1,200 iterations, 2 times the quick stand-in's 600" in text
    assert "judged at 41.0% of the weights (IMP level 4" in text  # Appendix B's level of pattern()
    assert text.endswith("its 2 shard files record 10 to 25 CPU-minutes each (one core; a shard reuses the runs "
                         "earlier shards left in the run cache)")


def test_status_lists_each_stages_missing_shards_with_their_commands(tmp_path, monkeypatch):
    text = search.status_text(tmp_path)
    assert "stage 1: 0 of 9 shards" in text and "stage 2: stage 2 picks the best stage-1 shards" in text
    first = search.stage_1()[0]
    assert f"missing  {first.id}  lmc search-standin --stage 1 --candidate {first.id}" in text
    ds = synthetic(*pattern(), n_init=1, pairs=1, subnetworks=("dense", "imp"))
    results.save(ds, tmp_path / "standin_search" / f"{search.candidate_of(ds).id}.nc")
    text = search.status_text(tmp_path)
    assert "stage 1: 0 of 9 shards" in text  # a shard that is not one of stage 1's settings
    n = 3 * len(STEPS) + 2 * 3  # standard: 3 initializations × its k; low and warmup: 3 at k = 0
    assert f"stage 2: 0 of {n} shards" in text and text.count("--stage 2 --candidate") == n

    def evaluate(candidate, device="auto", progress=True):
        ds = synthetic(*pattern(), n_init=1, pairs=1, subnetworks=("dense", "imp"))
        ds.attrs.update(results.provenance({"candidate": candidate.as_dict()}, "cpu"))
        return ds

    monkeypatch.setattr(search, "evaluate", evaluate)
    search.run(search.stage_1()[:1], tmp_path, progress=False, number=1)
    assert "stage 1: 1 of 9 shards (1 timed: 0.0 CPU-hours)" in search.status_text(tmp_path)


def test_the_finding_is_contradicted_once_the_standard_recipe_fails_on_enough_draws(tmp_path):
    screen = synthetic(*pattern(), n_init=1, pairs=1, subnetworks=("dense", "imp"))
    results.save(screen, tmp_path / "standin_search" / f"{search.candidate_of(screen).id}.nc")
    assert search.finding(tmp_path)[0] == "not testable yet"  # stage 2 not computed
    accuracy, instability = copy.deepcopy(pattern())
    accuracy[4, "imp"], instability[4, "imp"] = [90] * 5, [1] * 5  # IMP works at k = 0: no failure to rescue
    whole = synthetic(accuracy, instability, n_init=1, pairs=2)
    for seed in (0, 1, 2):
        for k in STEPS:
            candidate, part = _one_k(whole, seed, k)
            results.save(part, tmp_path / "standin_search" / f"{candidate.id}.nc")
    assert search.stage(2, tmp_path)[0].name == search.candidate_of(screen).name
    assert search.finding(tmp_path)[0] == "not testable yet"  # level 4 is the grid's sparsest: no probe yet
    results.save(_probe([80] * 5, [80] * 5), tmp_path / "standin_search" / "probe.nc")  # IMP matches nowhere beyond
    word, text = search.finding(tmp_path)  # its low and warmup shards are still missing
    assert word == "contradicted" and "No setting shows the whole pattern yet" in text


def test_the_rewind_curve_is_the_nearest_settings_standard_shard_at_its_level():
    assert search.rewind_curve({}) == (None, "")
    one = synthetic(*pattern(), n_init=1, pairs=1)
    three = synthetic(*pattern())
    shards = {"a": one, "b": three, "c": synthetic(*pattern(), variant="low")}
    curve, title = search.rewind_curve(shards)
    assert "level" not in curve.dims and curve.sizes["init_seed"] == 3  # the shard with the most draws
    assert title.endswith(f"({100 * 0.8 ** 4:.1f}% of weights, 3 × 2 draws)")  # Appendix B's level 4
    xr.testing.assert_equal(curve.test_instability, three.test_instability.sel(level=4))
    short = one.isel(rewind_step=[0, 1])  # as many draws, fewer k (stage 1's screen beside its follow-up)
    curve, _ = search.rewind_curve({"short": short, "long": one})
    assert curve.sizes["rewind_step"] == len(STEPS)


def test_chapter_05s_figures_draw_from_the_archived_search(tmp_path):
    """The cell of chapter 05 on the archived shards of results/standin_search (committed)."""
    import shutil
    from pathlib import Path

    import matplotlib

    from lmc.experiments import tables
    from lmc.report import plots

    matplotlib.use("Agg")
    archived = Path(__file__).resolve().parents[1] / "results" / "standin_search"
    shutil.copytree(archived, tmp_path / "standin_search")
    curve, title = search.rewind_curve(search.load(tmp_path))
    assert curve is not None and {"dense", "imp"} <= set(curve.subnetwork.values) and "% of weights" in title
    figures = [plots.instability_vs_rewind(curve.sel(split="test"), hue="subnetwork", title=title),
               plots.error_vs_rewind(curve, tables.full_accuracy(curve), title=title)]
    assert all(f.axes[0].get_title() == title and f.axes[0].lines for f in figures)
    # chapter 06's Figure 8 from the same setting, at every level of its shard
    grid, title = search.sparsity_grid(search.load(tmp_path))
    table, sentence = search.figure_8(grid)
    assert sorted(set(table.level)) == sorted(int(n) for n in grid.level.values) and set(table.subnetwork) >= {"imp"}
    assert sentence.count("stable from") == len(table[table.subnetwork == "imp"])
    plots.stability_matching_by_density(table, grid.rewind_step.values, title=title)


def test_figure_8s_sentence_counts_densities_where_imp_is_matching_when_it_becomes_stable():
    accuracy, instability = copy.deepcopy(pattern())
    table, sentence = search.figure_8(None)
    assert table.empty and sentence.startswith("not testable yet")

    def grid():  # stability_and_matching reads the paths' end errors (one copy at each end) and instability by split
        shard = synthetic(accuracy, instability)
        acc = shard.test_accuracy
        error = xr.concat([100 - acc.isel(copy=0), 100 - acc.isel(copy=1)], dim="alpha").assign_coords(alpha=[0.0, 1.0])
        return xr.Dataset({"error": error.expand_dims(split=["test"]),
                           "instability": shard.test_instability.expand_dims(split=["test"]),
                           "density": 0.8 ** shard.level * xr.ones_like(shard.subnetwork, dtype=float)})

    table, sentence = search.figure_8(grid())
    # level 2: stable and matching from k = 0; level 4: stable from k = 12, matching from 12
    assert sentence.startswith("supported: IMP becomes matching at the rewind step at which it becomes stable at "
                               "2 of 2 densities")
    assert "41.0%: stable from k = 12, matching from k = 12" in sentence and "3 × 2 draws" in sentence
    accuracy[4, "imp"] = [85, 85, 90, 90, 90]  # matching only from k = 30: one density of two
    assert search.figure_8(grid())[1].startswith("partly supported: IMP becomes matching at the rewind step at "
                                                 "which it becomes stable at 1 of 2 densities")
    accuracy[4, "imp"] = [85, 85, 90, 85, 85]  # matching at k = 30 only: from no k on
    assert "41.0%: stable from k = 12, matching from no k of the grid;" in search.figure_8(grid())[1]


def test_what_the_chapters_quote_with_nothing_computed(tmp_path):
    assert search.quoted(tmp_path) == {
        "search_word": "not testable yet", "search_finding": search.finding(tmp_path)[1],
        "search_figure_8": "not testable yet: no setting of the stand-in search is computed",
        "search_appendix_b": "not testable yet: no setting of the stand-in search is computed",
        "search_densities": "not testable yet: no setting of the stand-in search is computed"}
