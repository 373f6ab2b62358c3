import numpy as np
import pytest
import xarray as xr

from lmc import interpolate, models, store, train
from lmc.errors import ConfigError


def test_alphas_include_both_endpoints():
    grid = interpolate.alphas(30)
    assert len(grid) == 30 and grid[0] == 0.0 and grid[-1] == 1.0
    assert np.allclose(np.diff(grid), 1 / 29)


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "30"])
def test_fewer_than_two_alphas_are_refused(bad):
    with pytest.raises(ConfigError, match="at least 2 interpolation points"):
        interpolate.alphas(bad)


def test_instability_definition():
    error = xr.DataArray([[1.0, 3.0, 2.0], [2.0, 1.0, 0.5]], dims=("pair", "alpha"))
    # max along the path minus mean of the endpoints: 3 - 1.5 and 2 - 1.25
    assert np.allclose(interpolate.instability(error).values, [1.5, 0.75])


@pytest.fixture(scope="module")
def two_networks(mnist):
    hp = train.Hparams(training_steps="40it", train_subset=3000)
    trunk = store.open_run(train.run_config(hp, 0, init_seed=0), store.cache_dir())
    copies = [store.open_run(train.run_config(hp, d, parent=trunk, parent_step=0)) for d in (1, 2)]
    return [train.state_at(c, 40, progress=False)["model"] for c in copies]


@pytest.mark.parametrize("batched", [False, True])
def test_path_endpoints_reproduce_each_network_exactly(mnist, two_networks, batched):
    model = models.build("lenet_300_100")
    a, b = two_networks
    path = interpolate.error_along_path(model, a, b, mnist, n_alpha=4, batched=batched)
    for split in ("train", "test"):
        own_a = interpolate.evaluate(model, a, mnist.eval_batches(split))
        own_b = interpolate.evaluate(model, b, mnist.eval_batches(split))
        assert path.error.sel(split=split).values[0] == own_a[0]
        assert path.error.sel(split=split).values[-1] == own_b[0]
        # the batched path sums the loss over other batch sizes: equal up to float32 rounding
        assert path.loss.sel(split=split).values[-1] == pytest.approx(own_b[1], rel=0 if not batched else 1e-6)
    assert path.error.sel(split="test").values[0] != path.error.sel(split="test").values[-1]


def test_batched_alpha_grid_equals_the_loop(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, b = two_networks
    loop = interpolate.error_along_path(model, a, b, mnist, n_alpha=7, batched=False)
    together = interpolate.error_along_path(model, a, b, mnist, n_alpha=7, batched=True)
    # mixing first-layer outputs instead of weights rounds differently; an example exactly on
    # a decision boundary could flip, so allow one example in 3,000 (train) / 10,000 (test)
    assert np.abs(loop.error.values - together.error.values).max() <= 100 / 3000
    assert np.allclose(loop.loss.values, together.loss.values, rtol=1e-5)
    assert np.ptp(loop.error.sel(split="test").values) > 0  # a path along which the error moves


@pytest.mark.parametrize("name, shape", [("lenet_300_100", (1, 28, 28)), ("fmnist_resnet_20_4", (1, 28, 28)),
                                         ("cifar_resnet_20", (3, 32, 32)), ("cifar_vgg_16", (3, 32, 32)),
                                         ("imagenet_resnet_50", (3, 64, 64))])
def test_first_layer_mixing_matches_mixed_weights_for_every_network(name, shape):
    import torch
    a, b = (models.build(name, seed=s).state_dict() for s in (0, 1))
    for state in (a, b):  # nontrivial running statistics, so they are interpolated too
        for key, value in state.items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, *shape, generator=g), torch.randint(0, 10, (6,), generator=g)
    net, grid = models.build(name), [0.0, 0.3, 1.0]
    err, loss = interpolate.evaluate_path(net, a, b, grid, [(x, y)])
    reference = [interpolate.evaluate(net, interpolate.interpolate(a, b, al), [(x, y)]) for al in grid]
    assert np.allclose(loss, [r[1] for r in reference], rtol=1e-4)
    assert list(err) == [r[0] for r in reference]
    assert models.first_layer_name(net) in {"fc_layers.0", "conv", "layers.0", "conv1"}


def test_the_faster_evaluation_is_chosen_per_network():
    assert interpolate.batch_alphas(models.build("lenet_300_100"), "cpu")
    assert not interpolate.batch_alphas(models.build("fmnist_resnet_20_4"), "cpu")
    assert interpolate.batch_alphas(models.build("fmnist_resnet_20_4"), "cuda")


def test_a_network_with_itself_has_zero_instability(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, _ = two_networks
    path = interpolate.error_along_path(model, a, a, mnist, n_alpha=5)
    assert (interpolate.instability(path.error) == 0).all()
    assert np.ptp(path.loss.values, axis=1).max() < 1e-6


def test_interpolated_state_is_the_linear_mix(two_networks):
    a, b = two_networks
    mid = interpolate.interpolate(a, b, 0.25)
    assert np.allclose(mid["fc.weight"].numpy(), 0.75 * a["fc.weight"].numpy() + 0.25 * b["fc.weight"].numpy(),
                       atol=1e-7)
