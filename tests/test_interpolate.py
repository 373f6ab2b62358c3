import numpy as np
import pytest
import torch
import xarray as xr

from lmc.core import hparams, interpolate, models, store, train
from lmc.core.errors import ConfigError

from .fixtures import assert_classified_alike, logits_of

# The same network's mean loss computed in another summation order: each logit moves by rounding
# (measured at most 3 eps of the largest |logit|), each example's loss by at most twice that, and
# over many examples the differences average out: measured at most 1.5e-7 relative (LeNet paths,
# the five networks' first-layer mixing). 1e-5 leaves ~70x; a wrong network or α moves it by >1e-2.
LOSS_RTOL = 1e-5


def test_alphas_include_both_endpoints():
    grid = interpolate.alphas(30)
    assert len(grid) == 30 and grid[0] == 0.0 and grid[-1] == 1.0
    assert np.allclose(np.diff(grid), 1 / 29, rtol=1e-12, atol=0)  # float64 linspace: off by a few ulps at most


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "30"])
def test_fewer_than_two_alphas_are_refused(bad):
    with pytest.raises(ConfigError, match="at least 2 interpolation points"):
        interpolate.alphas(bad)


def test_instability_definition():
    error = xr.DataArray([[1.0, 3.0, 2.0], [2.0, 1.0, 0.5]], dims=("pair", "alpha"))
    # max along the path minus mean of the endpoints: 3 - 1.5 and 2 - 1.25
    assert interpolate.instability(error).values.tolist() == [1.5, 0.75]  # exact: short binary fractions


@pytest.fixture(scope="module")
def two_networks(mnist):
    hp = hparams.Hparams(training_steps="40it", train_subset=3000)
    trunk = store.open_run(train.run_config(hp, 0, init_seed=0), store.cache_dir())
    copies = [store.open_run(train.run_config(hp, d, parent=trunk, parent_step=0)) for d in (1, 2)]
    return [train.state_at(c, 40, progress=False)["model"] for c in copies]


@pytest.mark.parametrize("batched", [False, True])
def test_path_endpoints_reproduce_each_network_exactly(mnist, two_networks, batched):
    model = models.build("lenet_300_100")
    a, b = two_networks
    path = interpolate.error_along_path(model, a, b, mnist, n_alpha=4, batched=batched)
    for split in ("train", "test"):
        for end, state in ((0, a), (-1, b)):
            own = interpolate.evaluate(model, state, mnist.eval_batches(split))
            error, loss = path.error.sel(split=split).values[end], path.loss.sel(split=split).values[end]
            if not batched:  # lerp gives the endpoint's own weights exactly, evaluated by the same code: bit-identical
                assert error == own[0] and loss == own[1]
                continue
            # the batched path (baddbmm over α, batches of 1,000) sums in another order: rounding,
            # which may flip an example whose top two logits nearly tie
            assert_classified_alike(error, own[0], logits_of(model, state, mnist.eval_batches(split)))
            assert loss == pytest.approx(own[1], rel=LOSS_RTOL)
    assert path.error.sel(split="test").values[0] != path.error.sel(split="test").values[-1]


def test_batched_alpha_grid_equals_the_loop(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, b = two_networks
    loop = interpolate.error_along_path(model, a, b, mnist, n_alpha=7, batched=False)
    together = interpolate.error_along_path(model, a, b, mnist, n_alpha=7, batched=True)
    # mixing first-layer outputs instead of weights rounds differently: only an example whose
    # top two logits nearly tie may flip
    for split in ("train", "test"):
        for j, alpha in enumerate(loop.alpha.values):
            logits = logits_of(model, interpolate.interpolate(a, b, alpha), mnist.eval_batches(split))
            assert_classified_alike(float(loop.error.sel(split=split)[j]), float(together.error.sel(split=split)[j]),
                                    logits)
    assert np.allclose(loop.loss.values, together.loss.values, rtol=LOSS_RTOL, atol=0)
    assert np.ptp(loop.error.sel(split="test").values) > 0  # a path along which the error moves


def test_lenet_written_out_path_equals_the_generic_vmap_path(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, b = two_networks
    grid = interpolate.alphas(9)
    ours = interpolate._lenet_path(model, a, b, grid, mnist.eval_batches("test", 250))
    generic = interpolate._vmap_path(model, a, b, grid, mnist.eval_batches("test", 250))
    # both mix the first layer's outputs; later layers sum in another order (a near tie may flip)
    for j, alpha in enumerate(grid):
        assert_classified_alike(ours[0][j], generic[0][j],
                                logits_of(model, interpolate.interpolate(a, b, alpha), mnist.eval_batches("test")))
    assert np.allclose(ours[1], generic[1], rtol=LOSS_RTOL, atol=0)
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
    # mixed outputs vs mixed weights: rounding (measured ≤ 1.4e-7 relative in the loss, ResNet-50 included)
    assert np.allclose(loss, [r[1] for r in reference], rtol=LOSS_RTOL, atol=0)
    for al, e, r in zip(grid, err, reference, strict=True):
        assert_classified_alike(e, r[0], logits_of(net, interpolate.interpolate(a, b, al), [(x, y)]))
    assert models.first_layer_name(net) in {"fc_layers.0", "conv", "layers.0", "conv1"}


def test_the_faster_evaluation_is_chosen_per_network():
    assert interpolate.batch_alphas(models.build("lenet_300_100"), "cpu")
    assert not interpolate.batch_alphas(models.build("fmnist_resnet_20_4"), "cpu")
    assert interpolate.batch_alphas(models.build("fmnist_resnet_20_4"), "cuda")


def test_a_network_with_itself_has_zero_instability(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, _ = two_networks
    path = interpolate.error_along_path(model, a, a, mnist, n_alpha=5)
    # lerp(a, a, α) = a exactly: one network at every α, evaluated as slices of batched kernels,
    # which may round slice by slice (measured: bit-identical here); so only near ties may differ
    for i, split in enumerate(("train", "test")):
        logits = logits_of(model, a, mnist.eval_batches(split))
        assert_classified_alike(float(interpolate.instability(path.error)[i]), 0.0, logits)
    assert np.ptp(path.loss.values, axis=1).max() <= LOSS_RTOL * path.loss.values.min()


def test_interpolated_state_is_the_linear_mix(two_networks):
    a, b = two_networks
    mid = interpolate.interpolate(a, b, 0.25)
    wa, wb = a["fc.weight"].double(), b["fc.weight"].double()
    # lerp in float32, a + 0.25·(b − a): two roundings, each within eps/2 of |a| + |b|
    eps = torch.finfo(torch.float32).eps
    assert ((mid["fc.weight"].double() - (0.75 * wa + 0.25 * wb)).abs() <= eps * (wa.abs() + wb.abs())).all()


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
    from lmc.core import data

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
        # sampling error, not rounding: 4 batches of 64 against an average over 80 (statistics of size ~1)
        assert torch.allclose(recomputed[name], value, rtol=0.1, atol=0.05), name
    assert not torch.allclose(_running_stats(model.state_dict())["bn.running_mean"],
                              recomputed["bn.running_mean"])  # not the reset values
    plain = interpolate.error_along_path(model, endpoint, other, dataset, n_alpha=3, batch_norm=None)
    redone = interpolate.error_along_path(model, endpoint, other, dataset, n_alpha=3, batch_norm=spec)
    # the same sampling error, seen in the loss at α = 0
    assert redone.loss.sel(split="test").values[0] == pytest.approx(plain.loss.sel(split="test").values[0], rel=0.05)
    # at α = 1/2 the interpolated statistics are not those of the interpolated network (1e-3: far
    # above rounding, ~1e-7 of a loss ~2, and far below the effect, measured 0.04)
    assert abs(redone.loss.sel(split="test").values[1] - plain.loss.sel(split="test").values[1]) > 1e-3


def test_the_recompute_uses_exactly_the_batches_it_is_given():
    dataset = _synthetic()
    model = models.build("fmnist_resnet_20_4", seed=0)
    spec = interpolate.BatchNormRecompute(batches=3, batch_size=32, seed=0)
    once = interpolate.recompute_batch_norm(model, model.state_dict(), spec.draw(dataset))
    garbage = {k: v + 100.0 if k.endswith(("running_mean", "running_var")) else v for k, v in once.items()}
    twice = interpolate.recompute_batch_norm(model, garbage, spec.draw(dataset))  # stats reset first
    for name, value in _running_stats(once).items():
        assert torch.equal(twice[name], value), name  # the same batches, the same code: bit-identical
    assert {k for k in once if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))} == \
        {k for k in model.state_dict() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert all(torch.equal(once[k], v) for k, v in model.state_dict().items() if k.endswith("weight"))


@pytest.mark.parametrize("field, value", [("batches", 0), ("batch_size", -1), ("seed", 1.5)])
def test_a_bad_recompute_setting_is_refused(field, value):
    with pytest.raises(ConfigError, match=f"BatchNormRecompute {field} must be an integer"):
        interpolate.BatchNormRecompute(**{field: value})
