"""Golden identities: the configuration hash of every archived result and the identity of
representative runs, pinned so that a change to how identities are built fails at once.

A run's identity (``store.config_hash`` of its configuration) names its folder in the run
cache and a result's ``config_hash`` names what it was computed from. A refactor that
changes either silently orphans every cached run and archived result, so:

(a) every result file under ``results/`` that existed when the pins were made keeps the
    hash that the code computes from its stored configuration; any other file (results
    archived later) stores the hash the code computes from its configuration; and the
    hyperparameters it stores are what ``Hparams.as_dict`` writes for them;
(b) a handful of run specifications built through the public API (a dense trunk, copies at
    a rewind step k, an IMP level with its mask, random pruning and reinitialization, a
    perturbed and an early-phase-task run, the ResNet-20 warmup and low variants, a stand-in
    whose recipe sets a field added later) keep their identities; the runs of the early-phase
    and weight-correlation results are rebuilt and must be the ones those results name; and
    the runs, masks and cache keys (interpolation, accuracy) of a smoke experiment keep theirs.

The pins live in ``tests/identity_golden.json``. Regenerate them (only when an identity is
meant to change, which orphans stored runs and results) with::

    LMC_DATA_DIR=... python tests/test_identity_golden.py --regenerate
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from lmc.core import hparams, results, store, train
from lmc.experiments import imp, instability
from lmc.studies import early_phase, sanity

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).with_name("identity_golden.json")
B1 = REPO / "results" / "quick" / "b1_early_phase.nc"
B3 = REPO / "results" / "quick" / "b3_weight_correlation" / "lenet_300_100_standard.nc"
# a stored IMP mask (LeNet-300-100, quick, level 15, k = 0: chapter b1's), and a stand-in for another
IMP_MASK = "a95dd80acf7c6790"
OTHER_MASK = "0123456789abcdef"


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


# --- (a) archived results ---------------------------------------------------------------------

def result_files() -> list[Path]:
    return sorted((REPO / "results").rglob("*.nc"))


def result_hashes() -> dict[str, str]:
    """Per result file (relative to the repository): the hash the code computes from its
    stored configuration."""
    return {str(p.relative_to(REPO)): store.config_hash(results.config_of(results.load(p)))
            for p in result_files()}


def test_every_pinned_result_keeps_its_configuration_hash():
    pinned = _golden()["results"]
    now = result_hashes()
    changed = {path: (h, now[path]) for path, h in pinned.items() if path in now and now[path] != h}
    assert not changed, f"configuration hashes changed (pinned, now): {changed}"
    assert set(pinned) <= set(now), f"pinned results missing: {sorted(set(pinned) - set(now))}"


@pytest.mark.parametrize("path", result_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_result_stores_the_hash_of_its_configuration(path):
    ds = results.load(path)
    config = results.config_of(ds)
    if "config_hash" in ds.attrs:
        assert ds.attrs["config_hash"] == store.config_hash(config)
    assert ds.attrs["config"] == store.canonical(config)
    recipes = [config["hparams"]] if "hparams" in config else list(config.get("recipes", {}).values())
    for stored in recipes:  # the recipe as Hparams writes it today (fields added later only when set)
        hp = hparams.Hparams(**{**stored, "lr_drops": tuple(stored["lr_drops"])})
        assert hp.as_dict() == stored


# --- (b) run identities -----------------------------------------------------------------------

def run_specs() -> dict[str, str]:
    """Representative runs built through the public API, by name: their identities."""
    quick = instability.instability_config("lenet_300_100", preset="quick")
    trunk = instability.trunk_runs(quick, "float32")[0]
    at_k = instability.instability_config("lenet_300_100", preset="quick", rewind_step="500")
    seed = instability.data_seed(0, 0, 0)
    specs = {
        "dense trunk": trunk,
        "dense trunk bf16": instability.trunk_runs(quick, "bf16")[0],
        "copy at k=500": instability.dense_pairs(at_k)[1][0, 0][0],
        "copy at k=500, second of pair 1": instability.dense_pairs(at_k)[1][0, 1][1],
        "copy at k=500, inherited optimizer": instability.dense_pairs(
            instability.instability_config("lenet_300_100", preset="quick", rewind_step="500",
                                           optimizer_at_k="inherit"))[1][0, 0][0],
        "copy at k=500, schedule reset": instability.dense_pairs(
            instability.instability_config("lenet_300_100", preset="quick", rewind_step="500",
                                           reset_schedule=True))[1][0, 0][0],
        "imp level at k=0": imp.sparse_run(trunk, 0, IMP_MASK, data_seed=seed),
        "imp level at k=500 (trunk's data order)": imp.sparse_run(trunk, 500, IMP_MASK),
        "random pruning from m_IMP at k=0": imp.sparse_run(trunk, 0, OTHER_MASK, data_seed=seed,
                                                           start_mask=IMP_MASK),
        "random reinitialization": imp.reinit_run(trunk, 0, IMP_MASK, data_seed=seed),
        "perturbed: noise 1 sigma at k=500": early_phase.perturbed_run(
            trunk, 500, IMP_MASK, {"kind": "noise", "scale": 1.0, "seed": 0}, seed),
        "perturbed: permute neuron, dense": early_phase.perturbed_run(
            trunk, 500, None, {"kind": "permute", "within": "neuron"}, seed),
        "early phase on rotation": early_phase.pretrained_run(trunk, 500, IMP_MASK, "rotation", seed),
        "fine-tuning (schedule reset)": sanity.finetune_run(trunk, IMP_MASK, 1e-4, "2ep", seed),
        "ticket at another lr": sanity.ticket_run(trunk, IMP_MASK, lr=0.012, data_seed=seed),
        "resnet-20 warmup trunk": instability.trunk_runs(
            instability.instability_config("cifar_resnet_20", "warmup", preset="quick"), "float32")[0],
        "resnet-20 low copy at k=2000": instability.dense_pairs(
            instability.instability_config("cifar_resnet_20", "low", preset="quick", rewind_step="2000"))[1][0, 0][0],
        "stand-in trunk (image_size set)": instability.trunk_runs(
            instability.instability_config("fmnist_resnet_20_4", preset="quick"), "float32")[0],
        "altered task, paper preset": store.open_run(train.run_config(
            instability.instability_config("lenet_300_100", preset="paper").hparams, 7, init_seed=3,
            task="random_labels", augment_seed=8)),
    }
    return {name: run.hash for name, run in specs.items()}


def test_representative_runs_keep_their_identities():
    assert run_specs() == _golden()["runs"]


def test_the_runs_an_archived_early_phase_result_names_are_rebuilt_exactly():
    config = results.config_of(results.load(B1))
    assert config["mask"] == IMP_MASK
    quick = instability.instability_config(config["model"], config["variant"], preset=config["preset"])
    trunk = instability.trunk_runs(quick, "float32")[config["init_seed"]]
    seed = instability.data_seed(config["init_seed"], 0, 0)
    k = config["rewind_iterations"]
    rebuilt = {label: early_phase.perturbed_run(trunk, k, config["mask"], spec, seed).hash
               for label, spec in config["perturbations"]}
    rebuilt.update({early_phase.task_label(t): early_phase.pretrained_run(trunk, k, config["mask"], t, seed).hash
                    for t in config["tasks"]})
    assert rebuilt == config["runs"]


def test_the_runs_an_archived_correlation_result_names_are_rebuilt_exactly():
    config = results.config_of(results.load(B3))
    hp = instability.instability_config(config["model"], config["variant"], preset=config["preset"]).hparams
    assert [sanity.trunk(hp, config["init_seeds"][0], lr).hash for lr in config["lrs"]] == config["runs"]


# --- (b) the identities a smoke experiment creates ------------------------------------------

def smoke_identities() -> list[list[str]]:
    """Every run, mask and cached result a smoke instability analysis at k = 100, one IMP level
    and its random baselines create, in order: [kind, hash]. Runs, masks and cache keys are named
    by their configurations, not their numbers, so the hashes are the same on any machine."""
    seen: list[list[str]] = []
    open_run, cached = store.open_run, store.cached

    def recording_open_run(config, root=None):
        run = open_run(config, root)
        if [config["kind"], run.hash] not in seen:
            seen.append([config["kind"], run.hash])
        return run

    def recording_cached(config, compute, root=None):
        entry = [config["kind"], store.config_hash(config)]
        if entry not in seen:
            seen.append(entry)
        return cached(config, compute, root)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "open_run", recording_open_run)
        patch.setattr(store, "cached", recording_cached)
        config = instability.instability_config(preset="smoke", rewind_step="100", n_alpha=3)
        instability.instability_analysis(config, device="cpu", progress=False)
        trunk = instability.trunk_runs(config, "float32")[0]
        mask = imp.masks(trunk, 100, 1, device="cpu", progress=False)[-1]
        imp.random_prune(mask, seed=0)
        imp.random_prune(mask, seed=0, strategy="global")
        imp.reinit_run(trunk, 100, mask)
        sanity.test_accuracy(trunk, "smoke", "cpu", progress=False)
    return seen


def test_a_smoke_experiment_creates_the_same_identities(mnist):
    assert smoke_identities() == _golden()["smoke"]


def regenerate() -> None:
    """Write ``identity_golden.json`` from the code as it is (in a throwaway run cache)."""
    import os

    with tempfile.TemporaryDirectory() as cache:
        os.environ["LMC_CACHE_DIR"] = cache
        golden = {"results": result_hashes(), "runs": run_specs(), "smoke": smoke_identities()}
    GOLDEN.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN}: {len(golden['results'])} results, {len(golden['runs'])} runs, "
          f"{len(golden['smoke'])} smoke identities")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(f"usage: {sys.argv[0]} --regenerate  (rewrites {GOLDEN.name}; see the module docstring)")
    regenerate()
