"""Ma et al.'s sanity checks: the conditions on known accuracies, OMP, the small dense network."""

import pytest
import torch

from lmc.core import hparams, models, prune, store, train
from lmc.core.errors import ConfigError
from lmc.studies import sanity

C1, C2, C3, C4, C5 = sanity.CONDITIONS


def _conditions(ticket, reinit=None, dense=None, small=80.0, density=0.1, full=True):
    return sanity.conditions(ticket, reinit or {0.1: 90.0}, dense or {0.1: 95.0, 0.01: 96.0}, small, density, full)


def test_a_jackpot_ticket_meets_all_five_conditions():
    c = _conditions({0.1: 96.0, 0.01: 95.0})
    assert all(c[k] for k in sanity.CONDITIONS) and c["jackpot"] and c["secondary prize"]


def test_a_secondary_prize_matches_its_own_rate_but_not_the_best_dense_network():
    c = _conditions({0.1: 95.5, 0.01: 94.0})  # ≥ dense at 0.1 (95), < best dense (96)
    assert c[C4] and not c[C5] and c["secondary prize"] and not c["jackpot"]


@pytest.mark.parametrize("change, failed", [
    ({"density": 0.6}, C1), ({"full": False}, C1),
    ({"small": 95.7}, C2),                       # 96 − 95.7 < 0.5 pp: no clear advantage
    ({"reinit": {0.1: 95.6, 0.01: 10.0}}, C3),   # the best reinitialization is within 0.5 pp
])
def test_each_failed_condition_costs_both_prizes(change, failed):
    c = _conditions({0.1: 96.0, 0.01: 95.0}, **change)
    assert not c[failed] and not c["jackpot"] and not c["secondary prize"]


def test_below_the_dense_network_at_every_rate_fails_condition_4():
    c = _conditions({0.1: 94.9, 0.01: 95.9})  # each below the dense network at its own rate
    assert not c[C4] and not c[C5] and not c["secondary prize"]


def test_missing_accuracies_are_skipped_or_refused():
    c = _conditions({0.1: 96.0, 0.01: float("nan")}, reinit={0.1: float("nan")})
    assert not c[C3]  # nothing to compare against: not shown
    with pytest.raises(ConfigError, match="at ≥ 1 learning rate"):
        sanity.conditions({}, {}, {0.1: 95.0}, 80.0, 0.1, True)


def test_the_small_dense_network_has_about_as_many_weights_as_the_ticket():
    name = sanity.small_dense_name("lenet_300_100", 0.035)
    target = sanity.sparse_weight_count("lenet_300_100", 0.035)
    assert target == round(0.035 * (784 * 300 + 300 * 100)) + 100 * 10  # the output layer stays dense
    assert abs(sanity.weight_count(models.build(name)) - target) / target < 0.01  # layer widths are whole units
    assert sanity.small_dense_name("fmnist_resnet_20_4", 0.25) == "fmnist_resnet_20_2"  # weights ∝ width²
    with pytest.raises(ConfigError, match="no small dense network"):
        sanity.small_dense_name("cifar_vgg_16", 0.1)


def test_omp_keeps_the_largest_trained_weights_at_the_density(mnist):
    hp = hparams.Hparams(training_steps="20it", train_subset=3000)
    dense = store.open_run(train.run_config(hp, 0, init_seed=0))
    mask = prune.load(sanity.omp_mask(dense, 0.3, progress=False))
    assert prune.density(mask) == pytest.approx(0.3, abs=1e-5)  # whole weights
    trained = train.state_at(dense, 20, progress=False)["model"]
    kept = torch.cat([trained[n][mask[n]].abs().flatten() for n in mask])
    dropped = torch.cat([trained[n][~mask[n]].abs().flatten() for n in mask])
    assert kept.min() >= dropped.max()
    # the ticket at the dense run's own rate is imp.sparse_run's run; at another rate a new one
    same = sanity.ticket_run(dense, sanity.omp_mask(dense, 0.3), data_seed=1)
    other = sanity.ticket_run(dense, sanity.omp_mask(dense, 0.3), lr=1e-4, data_seed=1)
    assert same.config["hparams"]["lr"] == hp.lr and other.config["hparams"]["lr"] == 1e-4
    assert same.config["start"] == other.config["start"] == {"parent": dense.hash, "step": 0, "fresh_optimizer": True}


def test_fine_tuning_starts_from_the_pruned_trained_weights(mnist):
    hp = hparams.Hparams(training_steps="20it", train_subset=3000)
    dense = store.open_run(train.run_config(hp, 0, init_seed=0))
    mask_hash = sanity.omp_mask(dense, 0.2, progress=False)
    tuned = sanity.finetune_run(dense, mask_hash, lr=1e-4, steps="5it")
    start = train.state_at(tuned, 0, progress=False)["model"]
    trained = train.state_at(dense, 20, progress=False)["model"]
    mask = prune.load(mask_hash)
    for name, keep in mask.items():
        assert torch.equal(start[name][keep], trained[name][keep]) and (start[name][~keep] == 0).all()
    end = train.state_at(tuned, 5, progress=False)["model"]
    assert all((end[n][~k] == 0).all() for n, k in mask.items())  # pruned weights stay pruned
    assert not torch.equal(end["fc_layers.0.weight"], start["fc_layers.0.weight"])
