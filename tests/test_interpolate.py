import numpy as np
import pytest
import torch
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


def test_lenet_written_out_path_equals_the_generic_vmap_path(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, b = two_networks
    grid = interpolate.alphas(9)
    ours = interpolate._lenet_path(model, a, b, grid, mnist.eval_batches("test", 250))
    generic = interpolate._vmap_path(model, a, b, grid, mnist.eval_batches("test", 250))
    # both mix the first layer's outputs; later layers sum in another order (one example may flip)
    assert np.abs(ours[0] - generic[0]).max() <= 100 / 1000
    assert np.allclose(ours[1], generic[1], rtol=1e-5)
    assert np.ptp(ours[0]) > 0


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


# --- batch norm along the path: interpolated (the paper) or recomputed at each α ------------

@pytest.mark.parametrize("batched", [False, True])
def test_recomputing_batch_norm_changes_nothing_without_batch_norm(mnist, two_networks, batched):
    model = models.build("lenet_300_100")
    a, b = two_networks
    plain = interpolate.error_along_path(model, a, b, mnist, n_alpha=4, batched=batched)
    spec = interpolate.BatchNormRecompute(batches=3, batch_size=60)
    recomputed = interpolate.error_along_path(model, a, b, mnist, n_alpha=4, batched=batched, batch_norm=spec)
    assert not interpolate.has_batch_norm(model)
    assert np.array_equal(plain.error.values, recomputed.error.values)
    assert np.array_equal(plain.loss.values, recomputed.loss.values)


def _synthetic(n: int = 512, seed: int = 0):
    from lmc import data

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g) * 0.7 + 0.3  # statistics far from BN's reset (0, 1)
    y = (x.mean((1, 2, 3)) > 0.3).long()
    return data.DeviceData("synthetic", x, y, x[:128], y[:128], num_classes=10)


def _running_stats(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


def test_recomputed_statistics_at_alpha_0_match_the_data_they_came_from():
    dataset = _synthetic()
    model = models.build("fmnist_resnet_20_4", seed=0)
    spec = interpolate.BatchNormRecompute(batches=4, batch_size=64, seed=3)
    # the endpoint's statistics: an exponential average (momentum 0.1, as in training) over
    # many training batches with the weights fixed, which the recompute re-estimates from 4
    net = models.build("fmnist_resnet_20_4", seed=0)
    net.train()
    with torch.no_grad():
        for x, _ in interpolate.BatchNormRecompute(batches=80, batch_size=64, seed=7).draw(dataset):
            net(x)
    endpoint = net.state_dict()
    other = models.build("fmnist_resnet_20_4", seed=1).state_dict()
    recomputed = interpolate.recompute_batch_norm(model, endpoint, spec.draw(dataset))
    for name, value in _running_stats(endpoint).items():
        assert torch.allclose(recomputed[name], value, rtol=0.1, atol=0.05), name
    assert not torch.allclose(_running_stats(model.state_dict())["bn.running_mean"],
                              recomputed["bn.running_mean"])  # not the reset values
    plain = interpolate.error_along_path(model, endpoint, other, dataset, n_alpha=3, batch_norm=None)
    redone = interpolate.error_along_path(model, endpoint, other, dataset, n_alpha=3, batch_norm=spec)
    assert redone.loss.sel(split="test").values[0] == pytest.approx(plain.loss.sel(split="test").values[0], rel=0.05)
    # at α = 1/2 the interpolated statistics are not those of the interpolated network
    assert abs(redone.loss.sel(split="test").values[1] - plain.loss.sel(split="test").values[1]) > 1e-3


def test_the_recompute_uses_exactly_the_batches_it_is_given():
    dataset = _synthetic()
    model = models.build("fmnist_resnet_20_4", seed=0)
    spec = interpolate.BatchNormRecompute(batches=3, batch_size=32, seed=0)
    once = interpolate.recompute_batch_norm(model, model.state_dict(), spec.draw(dataset))
    garbage = {k: v + 100.0 if k.endswith(("running_mean", "running_var")) else v for k, v in once.items()}
    twice = interpolate.recompute_batch_norm(model, garbage, spec.draw(dataset))  # stats reset first
    for name, value in _running_stats(once).items():
        assert torch.allclose(twice[name], value, atol=1e-6), name
    assert {k for k in once if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))} == \
        {k for k in model.state_dict() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert all(torch.equal(once[k], v) for k, v in model.state_dict().items() if k.endswith("weight"))


@pytest.mark.parametrize("field, value", [("batches", 0), ("batch_size", -1), ("seed", 1.5)])
def test_a_bad_recompute_setting_is_refused(field, value):
    with pytest.raises(ConfigError, match=f"BatchNormRecompute {field} must be an integer"):
        interpolate.BatchNormRecompute(**{field: value})
