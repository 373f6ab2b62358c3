"""The values chapters b1-b3 quote come from their study's ``summary``: every glue key of a
chapter's prose is one the summary gives (or the chapter's own ``p_ref``), read off the archived
``quick`` results, so that a renamed or dropped value fails here rather than as a blank in the book."""

import re
from pathlib import Path

import nbformat
import pytest

import lmc.core.results
from lmc.paper import reported
from lmc.studies import correlation, early_phase, sanity

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "results" / "quick"


def _prose_keys(chapter: str) -> set[str]:
    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", 4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", prose))


@pytest.mark.parametrize("chapter, summary", [("b1_early_phase", early_phase.summary),
                                              ("b2_sanity_checks", sanity.summary)])
def test_every_quoted_value_of_b1_and_b2_comes_from_the_summary(chapter, summary):
    quoted = summary(lmc.core.results.load(QUICK / f"{chapter}.nc"))
    assert _prose_keys(chapter) <= set(quoted), sorted(_prose_keys(chapter) - set(quoted))
    assert all(isinstance(v, str) and v for v in quoted.values())


def test_b2_quotes_imp_against_omp_consistently():
    quoted = sanity.summary(lmc.core.results.load(QUICK / "b2_sanity_checks.nc"))
    # three values printed with 2 decimals: the difference of the rounded ones is off by at most 0.01
    assert float(quoted["imp_minus_omp"]) == pytest.approx(float(quoted["imp_acc"]) - float(quoted["omp_acc"]), abs=0.011)


def test_every_quoted_value_of_b3_comes_from_the_summary_of_a_role():
    keys = {"p_ref"}
    for role, model in reported.ROLES.items():
        quoted = correlation.summary(lmc.core.results.load(QUICK / "b3_weight_correlation" / f"{model}_standard.nc"))
        assert set(quoted) == set(correlation.SUMMARY_KEYS)
        keys |= {f"{k}_{role}" for k in quoted}
    assert _prose_keys("b3_weight_correlation") <= keys, sorted(_prose_keys("b3_weight_correlation") - keys)


def test_every_quoted_value_of_b4_comes_from_its_questions_summaries():
    from lmc.studies import questions

    folder = QUICK / "b4_our_questions"
    quoted = {**questions.bn_summary(lmc.core.results.load(folder / "bn_fmnist_resnet_20_4.nc")),
              **questions.sweep_summary(lmc.core.results.load(folder / "stability_lenet_300_100.nc")),
              **questions.optimizer_summary({m: lmc.core.results.load(folder / f"optimizer_{m}.nc")
                                             for m in reported.ROLES.values()}),
              "noise_text": "glued by the chapter: CIFAR-10 is not on this machine"}
    assert _prose_keys("b4_our_questions") <= set(quoted), sorted(_prose_keys("b4_our_questions") - set(quoted))
    assert quoted["opt_text"].count("with a new optimizer") == 2  # one clause per network
    # the share recomputing removes is 1 − recomputed / interpolated, printed as a whole percent
    share = 100 * (1 - float(quoted["bn_recomp"]) / float(quoted["bn_interp"]))
    assert abs(share - float(quoted["bn_share"])) <= 1  # both inputs printed with 2 decimals, the share rounded


def test_b4_refuses_bad_settings_and_says_what_it_takes():
    from lmc.core.errors import ConfigError
    from lmc.core.hparams import Hparams
    from lmc.studies import questions

    hp = Hparams(model="lenet_300_100", dataset="mnist", optimizer="adam", lr=0.0012, batch_size=60,
                 training_steps="3000it")
    assert questions.recipe_changes(hp, [["lr", 10.0], ["batch_size", 0.25]]) == [("lr", 0.012), ("batch_size", 15)]
    for bad in ([["momentum", 2.0]], [["lr", -1.0]], [["lr"]], "lr", [["lr", True]]):
        with pytest.raises(ConfigError, match=r"\[field, positive multiple\]"):
            questions.recipe_changes(hp, bad)
    with pytest.raises(ConfigError, match="opt_steps must map network names"):
        questions.optimizer_configs("quick", {})
    configs = questions.optimizer_configs("quick")
    assert {m: c.rewind_step for m, c in configs.items()} == questions.optimizer_steps("quick")
    assert questions.sweep_steps("smoke") == ["0", "100"] and questions.sweep_steps("quick") == ["0", "500"]
