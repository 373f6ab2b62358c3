"""Weight correlation R_p (Liu et al. 2021) on cases whose answer is known."""

import math

import pytest
import torch

from lmc.core import models, prune
from lmc.core.errors import ConfigError
from lmc.studies import correlation


def _random_weights(seed: int, shapes=((300, 400), (100, 300))) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {f"layer{i}.weight": torch.randn(*s, generator=g) for i, s in enumerate(shapes)}


@pytest.mark.parametrize("p", correlation.PS)
def test_a_weight_set_with_itself_overlaps_completely(p):
    theta = _random_weights(0)
    assert correlation.overlap(theta, theta, p) == 1.0


@pytest.mark.parametrize("p", correlation.PS)
def test_independent_random_weights_overlap_in_a_fraction_p(p):
    # two independent top-p subsets of a layer of N weights share a hypergeometric number of
    # weights: mean k²/N (so R_p = p), variance k·p·(1−p)·(N−k)/(N−1); allow 4 std of R_p
    a, b = _random_weights(1), _random_weights(2)
    r = correlation.overlap(a, b, p)
    sizes = [w.numel() for w in a.values()]
    ks = [round(p * n) for n in sizes]
    var = sum(k * (k / n) * (1 - k / n) * (n - k) / (n - 1) for k, n in zip(ks, sizes))
    assert abs(r - p) < 4 * math.sqrt(var) / sum(ks)
    assert abs(r - p) < 0.01  # the tolerance stated in words: within one percentage point


def test_overlap_is_invariant_to_positive_rescaling_and_to_signs():
    a, b = _random_weights(3), _random_weights(4)
    scaled = {n: (5.0 if "0" in n else 0.01) * w for n, w in a.items()}  # per-layer scales
    flipped = {n: -w for n, w in b.items()}
    for p in (0.1, 0.3):
        r = correlation.overlap(a, b, p)
        assert correlation.overlap(scaled, b, p) == r
        assert correlation.overlap(a, flipped, p) == r


def test_a_known_overlap_by_hand():
    # one layer of 10 weights, p = 0.4: top-4 of a is {9, 8, 7, 6}, of b {9, 8, 0, 1}: 2 shared
    a = {"w": torch.arange(10.0).view(2, 5)}
    b = {"w": torch.tensor([8.0, 7.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 9.0, 10.0]).view(2, 5)}
    assert correlation.overlap(a, b, 0.4) == pytest.approx(0.5)  # 2 of 4: exact
    # negatively correlated weights (b ranks a's order backwards) overlap less than p
    assert correlation.overlap(a, {"w": -torch.arange(10.0).flip(0).view(2, 5) + 0.5}, 0.3) == 0.0


def test_masked_weights_are_left_out():
    a = {"w": torch.arange(10.0).view(2, 5)}
    b = {"w": torch.arange(10.0).flip(0).view(2, 5)}  # opposite order: top-5 of a and b disjoint
    assert correlation.overlap(a, b, 0.5) == 0.0
    keep = {"w": torch.tensor([True] * 3 + [False] * 4 + [True] * 3).view(2, 5)}
    # kept: a = 0,1,2,7,8,9 ; top half of a: {7, 8, 9}; of b (values 9,8,7,2,1,0): {0, 1, 2}
    assert correlation.overlap(a, b, 0.5, mask=keep) == 0.0
    assert correlation.overlap(a, a, 0.5, mask=keep) == 1.0
    assert int(correlation.top_p(a["w"], 0.5, keep["w"]).sum()) == 3


def test_lenet_pruned_layers_and_a_sparse_mask():
    model = models.build("lenet_300_100", seed=0)
    other = models.build("lenet_300_100", seed=1)
    names = models.pruned_layer_names(model)
    a, b = model.state_dict(), other.state_dict()
    assert correlation.overlap(a, a, 0.2, names) == 1.0
    # independent draws: a chance overlap, standard error ~0.0015 over ~53K top-20% weights (0.01: ~6 of it)
    assert abs(correlation.overlap(a, b, 0.2, names) - 0.2) < 0.01
    mask = prune.prune_to_density(a, prune.ones(a, names), 0.3)
    assert correlation.overlap(a, b, 0.2, mask=mask) < 1.0  # uses the mask's layers only


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, True, "0.2"])
def test_a_bad_p_is_refused(bad):
    with pytest.raises(ConfigError, match="p must be a fraction"):
        correlation.overlap(_random_weights(0), _random_weights(0), bad)


def test_layers_missing_from_one_set_are_refused():
    with pytest.raises(ConfigError, match="not in both weight sets"):
        correlation.overlap({"w": torch.ones(3, 3)}, {"v": torch.ones(3, 3)}, 0.5, names=["w"])
