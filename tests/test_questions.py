"""Our own questions: batch norm along the path, stability vs recipe, noise sources."""

import pytest

from lmc.core import hparams, interpolate, store, train
from lmc.core.errors import ConfigError
from lmc.experiments import instability
from lmc.studies import questions


def test_noise_pairs_differ_in_exactly_one_seeded_source():
    pairs = questions.noise_pairs(questions.CIFAR_STAND_IN, init_seed=0)
    assert list(pairs) == list(questions.NOISE)
    seeds = {name: [(c.config["data_seed"], c.config.get("augment_seed", c.config["data_seed"])) for c in copies]
             for name, copies in pairs.items()}
    assert seeds["data order"][0] == seeds["augmentation"][0] == seeds["both"][0]  # one shared copy
    (d0, a0), (d1, a1) = seeds["data order"]
    assert d0 != d1 and a0 == a1
    (d0, a0), (d1, a1) = seeds["augmentation"]
    assert d0 == d1 and a0 != a1
    (d0, a0), (d1, a1) = seeds["both"]
    assert d0 != d1 and a0 != a1
    # the "both" pair is the paper's pair: the same runs instability_analysis names
    assert pairs["both"][1].config["start"] == pairs["data order"][1].config["start"]
    assert "augment_seed" not in pairs["both"][1].config


def test_noise_pairs_need_an_augmenting_data_set():
    with pytest.raises(ConfigError, match="has no augmentation"):
        questions.noise_pairs(hparams.Hparams())  # LeNet on MNIST


def test_dense_pairs_are_the_runs_of_instability_analysis():
    config = instability.instability_config(preset="smoke", init_seeds=[0], rewind_step=100)
    pairs = questions.dense_pairs(config)
    (copies,) = pairs.values()
    hp = config.hparams
    trunk = store.open_run(train.run_config(hp, instability.data_seed(0), init_seed=0))
    expected = [store.open_run(train.run_config(hp, instability.data_seed(0, 0, c), parent=trunk, parent_step=100))
                for c in (0, 1)]
    assert [c.hash for c in copies] == [e.hash for e in expected]
    other = questions.dense_pairs(config, hp=hp.replace(lr=1e-2))
    assert all(a.hash != b.hash for a, b in zip(copies, next(iter(other.values()))))


def test_a_sweep_of_another_hyperparameter_is_refused():
    config = instability.instability_config(preset="smoke", init_seeds=[0])
    with pytest.raises(ConfigError, match="varies 'lr' or 'batch_size'"):
        questions.stability_sweep(config, ["0"], [("momentum", 0.9)], device="cpu")


@pytest.mark.slow
def test_bn_instability_of_lenet_is_the_same_both_ways(mnist):
    config = instability.instability_config(preset="smoke", init_seeds=[0], n_alpha=3)
    ds = questions.bn_instability(config, interpolate.BatchNormRecompute(batches=2), device="cpu", progress=False)
    assert ds.error.dims == ("batch_norm", "init_seed", "pair", "split", "alpha")
    assert (ds.error.sel(batch_norm="interpolated") == ds.error.sel(batch_norm="recomputed")).all()
    assert not ds.attrs["config"].count('"has_batch_norm":true')


@pytest.mark.slow
def test_without_recompute_the_path_is_the_cached_one_of_instability_analysis(mnist, monkeypatch):
    config = instability.instability_config(preset="smoke", init_seeds=[0], n_alpha=3)
    ds = instability.instability_analysis(config, device="cpu", progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a path that instability_analysis cached")

    monkeypatch.setattr(interpolate, "error_along_path", fail)
    (copies,) = questions.dense_pairs(config).values()
    found = questions.path(copies, config, progress=False)
    assert found["error"] == ds.error.sel(init_seed=0, pair=0).values.tolist()
    # LeNet has no batch norm: asking for the recompute finds the same entry
    assert questions.path(copies, config, progress=False, batch_norm=interpolate.BatchNormRecompute()) == found


def test_noise_instability_trains_pairs_that_differ_in_one_source(tmp_path, monkeypatch):
    import numpy as np

    from lmc.core import data

    from .fixtures import write_cifar10

    entries = dict(data.manifest())
    entries["cifar10"] = write_cifar10(tmp_path, per_batch=32)  # 160 training images
    monkeypatch.setattr(data, "manifest", lambda: entries)
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    data._load.cache_clear()
    try:
        hp = questions.CIFAR_STAND_IN.replace(batch_size=16)
        ds = questions.noise_instability("smoke", hp, n_alpha=3, device="cpu", progress=False, training_steps="4it")
        assert list(ds.noise.values) == list(questions.NOISE) and ds.error.dims == ("noise", "split", "alpha")
        assert np.isfinite(ds.instability.values).all()
        pairs = questions.noise_pairs(hp.replace(training_steps="4it", train_subset=3000))
        for name, (a, b) in pairs.items():  # each pair's copies train to different weights
            wa, wb = (train.state_at(c, 4, progress=False)["model"]["conv.weight"] for c in (a, b))
            assert not np.allclose(wa.numpy(), wb.numpy()), name  # apart by far more than rounding (1e-5)
    finally:
        data._load.cache_clear()
