"""Distances between networks, on cases worked by hand.

The metrics sum in float64: on small integers their results are exact or a few ulps off, and the
cosine of a network with itself is 1 within ~1e-14 (measured); pytest.approx (1e-6 relative, 1e-12
absolute at 0) covers both on any CPU.
"""

import math

import pytest
import torch

from lmc.core import metrics, models
from lmc.core.errors import ConfigError


def test_l2_distance_of_a_3_4_5_triangle():
    assert metrics.l2_distance(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])) == pytest.approx(5.0)
    a = {"w": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([7.0])}
    b = {"w": torch.tensor([[4.0, 6.0]]), "b": torch.tensor([7.0])}
    assert metrics.l2_distance(a, b) == pytest.approx(5.0)
    assert metrics.l2_norm(b, ["w"]) == pytest.approx(math.sqrt(52))


def test_orthogonal_vectors_have_cosine_zero_and_parallel_ones_one():
    assert metrics.cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])) == pytest.approx(0.0)
    assert metrics.cosine_similarity(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0])) == pytest.approx(1.0)
    assert metrics.cosine_similarity(torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0])) == pytest.approx(-1.0)
    assert math.isnan(metrics.cosine_similarity(torch.zeros(2), torch.ones(2)))


def test_masked_weights_are_left_out():
    a = {"w": torch.tensor([0.0, 0.0, 100.0]), "b": torch.tensor([1.0])}
    b = {"w": torch.tensor([3.0, 4.0, -100.0]), "b": torch.tensor([1.0])}
    mask = {"w": torch.tensor([True, True, False])}
    assert metrics.l2_distance(a, b, mask=mask) == pytest.approx(5.0)  # 200 apart where pruned: ignored
    assert metrics.l2_distance(a, b) == pytest.approx(math.sqrt(25 + 200 ** 2))
    assert metrics.weights(b, ["w", "b"], mask).tolist() == [3.0, 4.0, 1.0]  # b is not masked: kept whole
    # pruned entries also leave the cosine: [0, 1] vs [1, 0] with a shared huge third weight
    c = {"w": torch.tensor([0.0, 1.0, 9.0])}
    d = {"w": torch.tensor([1.0, 0.0, 9.0])}
    assert metrics.cosine_similarity(c, d, mask=mask) == pytest.approx(0.0)
    assert metrics.cosine_similarity(c, d) > 0.9


def test_identical_networks_are_at_distance_zero_and_agree_everywhere():
    model = models.build("lenet_300_100", seed=0)
    state = model.state_dict()
    names = metrics.weight_names(model, "prunable")
    assert names == ["fc_layers.0.weight", "fc_layers.1.weight"]  # LeNet's output layer is not pruned
    assert metrics.l2_distance(state, {k: v.clone() for k, v in state.items()}, names) == 0.0
    assert metrics.cosine_similarity(state, state, names) == pytest.approx(1.0)
    x, y = torch.randn(50, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.arange(50) % 10
    pred_a, loss_a = metrics.predictions(model, state, [(x, y)])
    pred_b, loss_b = metrics.predictions(model, {k: v.clone() for k, v in state.items()}, [(x, y)])
    assert metrics.disagreements(pred_a, pred_b) == 0 and metrics.loss_distance(loss_a, loss_b) == 0.0
    other = models.build("lenet_300_100", seed=1).state_dict()
    pred_c, _ = metrics.predictions(model, other, [(x[:25], y[:25]), (x[25:], y[25:])])  # batches concatenate
    assert len(pred_c) == 50 and metrics.disagreements(pred_a, pred_c) > 0
    assert metrics.l2_distance(state, other, names) > 0


def test_weight_selections_and_counts():
    model = models.build("lenet_300_100")
    prunable, every = metrics.weight_names(model, "prunable"), metrics.weight_names(model, "all")
    assert set(prunable) < set(every) and all(n.endswith("weight") for n in prunable)
    state = model.state_dict()
    assert metrics.weights(state, every).numel() == models.count_parameters(model) == 266_610
    with pytest.raises(ConfigError, match="unknown weight selection"):
        metrics.weight_names(model, "biases")


def test_disagreements_and_loss_distance_by_hand():
    assert metrics.disagreements(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0])) == 2
    assert metrics.error(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 0])) == 50.0
    # per-example losses differ by 3 and 4 (and 0, 0): RMS = sqrt((9 + 16) / 4) = 2.5
    assert metrics.loss_distance(torch.tensor([1.0, 1.0, 0.5, 0.0]),
                                 torch.tensor([4.0, 5.0, 0.5, 0.0])) == pytest.approx(2.5)


def test_mismatched_inputs_say_what_to_do():
    with pytest.raises(ConfigError, match="same model"):
        metrics.l2_distance(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ConfigError, match="no tensor 'w'"):
        metrics.l2_distance({"v": torch.zeros(2)}, {"v": torch.zeros(2)}, ["w"])
    with pytest.raises(ConfigError, match="which the state does not hold"):
        metrics.l2_distance({"v": torch.zeros(2)}, {"v": torch.zeros(2)}, mask={"w": torch.ones(2, dtype=bool)})
    with pytest.raises(ConfigError, match="same examples"):
        metrics.disagreements(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ConfigError, match="same examples"):
        metrics.loss_distance(torch.zeros(3), torch.zeros(2))
