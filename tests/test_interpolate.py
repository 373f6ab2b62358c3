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


def test_path_endpoints_reproduce_each_network_exactly(mnist, two_networks):
    model = models.build("lenet_300_100")
    a, b = two_networks
    path = interpolate.error_along_path(model, a, b, mnist, n_alpha=4)
    for split in ("train", "test"):
        own_a = interpolate.evaluate(model, a, mnist.eval_batches(split))
        own_b = interpolate.evaluate(model, b, mnist.eval_batches(split))
        assert path.error.sel(split=split).values[0] == own_a[0]
        assert path.error.sel(split=split).values[-1] == own_b[0]
        assert path.loss.sel(split=split).values[-1] == own_b[1]
    assert path.error.sel(split="test").values[0] != path.error.sel(split="test").values[-1]


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
