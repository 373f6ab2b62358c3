"""The appendices' experiments: smoke-sized runs with answers known in advance, and pure tables."""

import numpy as np
import pytest
import torch
import xarray as xr

from lmc.core import hparams, models, prune, train
from lmc.core.errors import ConfigError
from lmc.experiments import appendices, instability, sparse, tables
from lmc.paper import presets

from .fixtures import assert_classified_alike, logits_of


def _config(**changes):
    return instability.instability_config(model="lenet_300_100", preset="smoke", init_seeds=[0], n_alpha=5,
                                          **changes)


def test_snapshot_steps_follow_the_cadence_after_k():
    assert appendices.snapshot_steps(_config(), "100it") == [100, 200, 300]
    assert appendices.snapshot_steps(_config(rewind_step="150"), "100it") == [200, 300]
    assert appendices.snapshot_steps(_config(), "1000it") == [300]  # T always
    with pytest.raises(ConfigError, match="at least one iteration"):
        appendices.snapshot_steps(_config(), "0it")


def test_sparse_subnetworks_need_a_level(mnist):
    with pytest.raises(ConfigError, match="need an IMP level"):
        appendices.copies(_config(), ("dense", "imp"), None, "cpu", progress=False)
    with pytest.raises(ConfigError, match="unknown weight selection"):
        appendices.pair_distances(_config(), ["0"], weights="some")


@pytest.mark.slow
def test_distances_of_dense_and_sparse_copies(mnist):
    ds = appendices.distances(_config(), ["0", "100"], ["0"], level=2, weights="prunable", device="cpu",
                              progress=False)
    assert set(ds.subnetwork.values) == {"dense", "imp", "random_prune", "random_reinit"}
    one = ds.isel(init_seed=0, pair=0)
    at0 = one.sel(rewind_step=0)
    # at k = 0 the copies start from the initialization itself (a reinit from its own new draw)
    assert float(at0.init_to_rewind.sel(subnetwork="dense")) == 0.0
    assert float(at0.init_to_rewind.sel(subnetwork="random_reinit")) == 0.0
    assert float(one.init_to_rewind.sel(subnetwork="dense", rewind_step=100)) > 0
    # sparse networks are compared on the weights their mask keeps: 0.8² of the prunable ones
    dense_n = float(at0.n_weights.sel(subnetwork="dense"))
    # counts: two rounds of 20% in whole weights land within a few weights of 0.64
    # open_lth's accounting: LeNet's output layer (1,000 weights, never pruned) counts among the
    # remaining, so the hidden layers lose 0.36 of all 266,200 prunable weights
    assert float(at0.n_weights.sel(subnetwork="imp")) == pytest.approx(dense_n - 0.36 * (dense_n + 1000), rel=1e-3)
    assert np.isnan(float(one.between_copies.sel(subnetwork="imp", rewind_step=100)))  # not asked
    measured = ds.sel(rewind_step=0)
    assert (measured.between_copies > 0).all() and ((measured.cosine > 0) & (measured.cosine < 1)).all()
    assert (measured.disagreements <= measured.examples).all()
    assert float(at0.error_at_rewind.sel(subnetwork="dense", split="test")) > 50  # an untrained network
    table = appendices.distance_table(ds)
    assert len(table) == 5 and (table["copy ↔ copy / init → end at k = 0 (%)"] > 0).all()
    # the yardstick is the same subnetwork's W_0 → end at k = 0 (Appendix C), in every row of it
    dense = table[table.subnetwork == "dense"]
    assert dense["init → end at k = 0"].nunique() == 1
    # the error at k is the unpruned network's W_k in every row (Figure 10): the same for IMP at k = 0
    assert float(at0.error_at_rewind.sel(subnetwork="imp", split="test")) == \
        float(at0.error_at_rewind.sel(subnetwork="dense", split="test"))
    assert len(appendices.other_distances_table(ds)) == 5


@pytest.mark.slow
def test_a_copy_measured_against_itself_is_at_distance_zero(mnist):
    pair = appendices.copies(_config(), ("dense",), None, "cpu", progress=False)["dense", 0, 0]
    evaluation, _ = appendices._evaluation(_config().hparams, presets.get("smoke"), "cpu")
    same = appendices.measure_pair([pair[0], pair[0]], "all", evaluation)
    # the metrics sum in float64: the cosine of a network with itself is 1 within ~1e-14 (approx: 1e-6)
    assert same["between_copies"] == 0.0 and same["cosine"] == pytest.approx(1.0)
    assert same["test"]["disagreements"] == 0 and same["test"]["loss_distance"] == 0.0
    other = appendices.measure_pair(pair, "all", evaluation)
    assert other["between_copies"] > 0 and other["init_to_rewind"] == 0.0


@pytest.mark.slow
def test_snapshots_through_training_keep_each_runs_trajectory(mnist):
    config = _config()
    before = appendices.copies(config, ("dense",), None, "cpu", progress=False)["dense", 0, 0]
    end = train.state_at(before[0], 300, progress=False)["model"]
    ds = appendices.instability_through_training(config, ["0", "100"], "100it", device="cpu", progress=False)
    assert ds.step.values.tolist() == [100, 200, 300]
    assert np.isnan(ds.error.sel(rewind_step=100, step=100)).all()  # before or at k: not measured
    assert not np.isnan(ds.error.sel(rewind_step=100, step=200)).any()
    assert before[0].checkpoints() == [100, 200, 300]  # the snapshots are the copy's named checkpoints
    # training on from the snapshots reproduces the state at T exactly
    path = before[0].checkpoint_path(300)
    path.unlink()
    again = train.state_at(before[0], 300, progress=False)["model"]
    assert all(torch.equal(end[k], again[k]) for k in end)
    # the path at T is the chapters' own cache entry (same runs, step and evaluation sizes)
    curve = instability.instability_analysis(config, device="cpu", progress=False)
    assert np.array_equal(curve.error.isel(init_seed=0, pair=0).values,  # one cache entry: exact
                          ds.error.sel(rewind_step=0, step=300).isel(init_seed=0, pair=0).values)


def _figure9(accuracies: dict) -> xr.Dataset:
    """A hand-made Figure 9 result: level → (IMP k=0, IMP k=500); dense copies 98.0 and 98.2."""
    levels = sorted(accuracies)
    acc = np.full((len(levels), 4, 2, 1, 1, 2), np.nan)
    for a, level in enumerate(levels):
        acc[a, 0, :, 0, 0] = [[98.0, 98.2], [98.0, 98.2]]  # the full network at k = 0 and at k = 500
        acc[a, 1, 0, 0, 0], acc[a, 1, 1, 0, 0] = accuracies[level]
        acc[a, 2, 0, 0, 0] = 90.0
        acc[a, 3, 0, 0, 0] = 91.0
    ds = xr.Dataset({"accuracy": (("level", "subnetwork", "rewind_step", "init_seed", "pair", "copy"), acc)},
                    coords={"level": levels, "subnetwork": ["dense", "imp", "random_prune", "random_reinit"],
                            "rewind_step": [0, 500], "init_seed": [0], "pair": [0], "copy": [0, 1]})
    ds["density"] = ("level", [0.8 ** n for n in levels])
    return ds


def test_appendix_b_picks_the_sparsest_level_where_the_best_k_still_matches():
    # full network at each k: 98.1 ± 0.1414 (copies 98.0, 98.2) → matching from 97.959 on
    ds = _figure9({3: (98.1, 98.0), 7: (97.0, 98.05), 11: (97.9, 97.95), 15: (96.0, 97.0)})
    mean, std = appendices.full_network(ds)  # approx below: float64 means and stds of decimals (98.1 is not binary)
    assert mean == pytest.approx(98.1) and std == pytest.approx(np.std([98.0, 98.2], ddof=1))
    table = appendices.figure9_table(ds)
    assert table["best IMP matching"].tolist() == [True, True, False, False]
    assert table["IMP best k"].tolist() == [0, 500, 500, 500]
    assert appendices.extreme_matching(table) == pytest.approx(100 * 0.8 ** 7)  # float64 powers of 0.8
    none = appendices.figure9_table(_figure9({3: (90.0, 91.0)}))
    assert appendices.extreme_matching(none) is None


def test_train_instability_reads_both_splits():
    error = np.zeros((1, 2, 1, 1, 2, 3))
    error[0, 0, 0, 0, 0] = [1.0, 5.0, 1.0]   # train: instability 4 at k = 0
    error[0, 0, 0, 0, 1] = [2.0, 5.0, 2.0]   # test: 3
    curve = xr.Dataset({"error": (("subnetwork", "rewind_step", "init_seed", "pair", "split", "alpha"), error)},
                       coords={"subnetwork": ["imp"], "rewind_step": [0, 500], "init_seed": [0], "pair": [0],
                               "split": ["train", "test"], "alpha": [0.0, 0.5, 1.0]})
    from lmc.core import interpolate
    curve["instability"] = interpolate.instability(curve.error)
    table = appendices.train_instability(curve)
    first = table.iloc[0]
    assert first["train instability (pp)"] == 4.0 and first["test instability (pp)"] == 3.0
    assert first["train − test (pp)"] == 1.0 and first["test error (%)"] == 2.0


@pytest.mark.slow
def test_masked_start_states_keep_pruned_weights_at_zero(mnist):
    pairs = appendices.copies(_config(), ("imp",), 1, "cpu", progress=False)
    run = pairs["imp", 0, 0][0]
    mask = train.mask_of(run)
    start, init = train.starting_state(run)["model"], train.origin_state(run)
    for name, keep in mask.items():
        assert (start[name][~keep] == 0).all() and (init[name][~keep] == 0).all()
    assert prune.density(mask) == pytest.approx(0.8, abs=1e-3)  # one round of 20% in whole weights


@pytest.mark.slow
def test_the_appendices_measure_the_copies_the_chapters_interpolate_with_two_seeds(mnist):
    config = instability.instability_config(model="lenet_300_100", preset="smoke", init_seeds=[0, 1], n_alpha=5)
    chapters = tables.endpoint_error(
        sparse.sparse_instability(config, 1, ("dense", "imp"), device="cpu", progress=False))
    ours = appendices.pair_distances(config, ["0"], ("dense", "imp"), 1, device="cpu", progress=False)
    # the chapters evaluate the copies on the batched α path, the appendices one network at a time:
    # other summation orders, so an example whose top two logits nearly tie may flip (fixtures.py)
    pairs = appendices.copies(config, ("dense", "imp"), 1, "cpu", progress=False)
    evaluation, _ = appendices._evaluation(config.hparams, presets.get("smoke"), "cpu")
    model, total = models.build(config.hparams.model), hparams.total_steps(config.hparams)
    for name in ("dense", "imp"):
        for seed in (0, 1):
            a = chapters.sel(subnetwork=name, init_seed=seed, split="test").isel(pair=0).values
            b = ours.error.sel(subnetwork=name, init_seed=seed, split="test").isel(rewind_step=0, pair=0).values
            for c, run in enumerate(pairs[name, seed, 0]):
                state = train.state_at(run, total, progress=False)["model"]
                assert_classified_alike(a[c], b[c], logits_of(model, state, evaluation.eval_batches("test")))
