"""Population training: each member follows the trajectory it would follow alone."""

from copy import deepcopy

import pytest
import torch

from lmc.core import data, hparams, loop, models, population, store, train
from lmc.core.errors import ConfigError

from .fixtures import assert_trained_alike

# A member's trajectory equals its solo run's up to float rounding (batched and single matrix
# products sum in another order), amplified by training: compared relative to the distance the
# state moved (tests/fixtures.py, assert_trained_alike, says why and how far). Structural
# properties (pruned weights zero, step counters, batch counts) are compared exactly.


def _solo(hp, state, opt_state, dataset, seed, start, stop):
    net = models.build(hp.model)
    net.load_state_dict(state)
    optimizer = loop.make_optimizer(hp, net.parameters())
    if opt_state is not None:
        optimizer.load_state_dict(deepcopy(opt_state))  # the optimizer updates its state in place
    loop.train(hp, net, optimizer, dataset, seed, start, stop, progress=False)
    return net.state_dict(), optimizer.state_dict()


def _member(stacked, i):
    return {k: v[i] for k, v in stacked.items()}


@pytest.mark.parametrize("name, steps", [("lenet_300_100", 30), ("fmnist_resnet_20_4", 2)])
def test_each_member_trains_as_it_would_alone(mnist, name, steps):
    if name.startswith("fmnist"):
        try:
            data.verify("fashion_mnist")
        except Exception:
            pytest.skip("Fashion-MNIST not found")
        hp = hparams.Hparams(model=name, dataset="fashion_mnist", optimizer="sgd", lr=0.1, momentum=0.9,
                             weight_decay=1e-4, batch_size=32, training_steps="50it", train_subset=640)
    else:
        hp = hparams.Hparams(training_steps="50it", train_subset=3000)
    dataset = data.load(hp.dataset, "cpu", hp.train_subset, 100)
    inits = [models.build(name, seed=s).state_dict() for s in range(3)]
    seeds = [7, 8, 9]
    # The conv stand-in (SGD at lr 0.1 with momentum, batch norm) multiplies a rounding difference
    # by about 100 per step this early (measured: 6e-6 of the distance moved after one step, 9e-4
    # after two, 5e-2 after five), so it is compared after every step, each step starting from
    # the population's own state and optimizer state: the bound covers one step's rounding.
    segments = [(0, steps)] if name == "lenet_300_100" else [(s, s + 1) for s in range(steps)]
    states, opt_states = inits, [None] * 3
    for start, stop in segments:
        stacked, opt = population.train_population(hp, states, opt_states, dataset, seeds, seeds, start, stop,
                                                   progress=False)
        for i in range(3):
            solo, _ = _solo(hp, states[i], opt_states[i], dataset, seeds[i], start, stop)
            assert_trained_alike(_member(stacked, i), solo, states[i])  # weights and batch-norm statistics
        states = [population.member(stacked, i) for i in range(3)]
        opt_states = [population.member_optimizer(opt, i) for i in range(3)]
    for i in range(3):
        if name.startswith("fmnist"):
            assert int(stacked["bn.num_batches_tracked"][i]) == steps  # a counter: exact
            assert not torch.equal(stacked["bn.running_mean"][i], inits[i]["bn.running_mean"])
    # members differ: their initializations (seeds 0, 1) differ by ~0.1 per entry, rounding by ~1e-7
    assert (stacked["fc.weight"][0] - stacked["fc.weight"][1]).abs().max() > 1e-3


def test_a_population_continues_from_the_members_optimizer_state(mnist):
    hp = hparams.Hparams(training_steps="40it", train_subset=3000)
    starts = [_solo(hp, models.build(hp.model, seed=s).state_dict(), None, mnist, s, 0, 20) for s in (0, 1)]
    stacked, opt = population.train_population(hp, [s[0] for s in starts], [s[1] for s in starts], mnist,
                                               [5, 6], [5, 6], 20, 40, progress=False)
    for i, (state, opt_state) in enumerate(starts):
        solo, solo_opt = _solo(hp, state, opt_state, mnist, 5 + i, 20, 40)
        assert_trained_alike(_member(stacked, i), solo, state)
        mine = population.member_optimizer(opt, i)
        assert float(mine["state"][0]["step"]) == float(solo_opt["state"][0]["step"]) == 40  # a counter: exact
        # Adam's moments, like the weights: rounding relative to how far they moved from step 20
        moments = [{f"{j}.{k}": entry[j][k] for j in entry for k in ("exp_avg", "exp_avg_sq")}
                   for entry in (mine["state"], solo_opt["state"], opt_state["state"])]
        assert_trained_alike(*moments)


def test_members_are_stored_as_ordinary_runs(mnist):
    hp = hparams.Hparams(training_steps="30it", train_subset=3000)
    trunk = store.open_run(train.run_config(hp, 0, init_seed=0))
    copies = [store.open_run(train.run_config(hp, d, parent=trunk, parent_step=10, fresh_optimizer=False))
              for d in (1, 2, 3)]
    train.train_runs(copies, 30, "cpu", progress=False, populate=True)
    assert all(30 in c.checkpoints() for c in copies)
    together = [train.state_at(c, 30, progress=False) for c in copies]  # loads, trains nothing
    net = models.build(hp.model)
    for state in together:
        net.load_state_dict(state["model"])  # the format of a single run
        loop.make_optimizer(hp, net.parameters()).load_state_dict(state["optimizer"])
    solo = store.open_run(train.run_config(hp, 4, parent=trunk, parent_step=10, fresh_optimizer=False))
    train.train_runs([solo], 30, "cpu", progress=False, populate=True)  # a population of one: alone
    for copy, state in zip(copies, together, strict=True):  # each member continued from the trunk at 10
        start = train.state_at(trunk, 10, progress=False)
        alone, _ = _solo(hp, start["model"], start["optimizer"], mnist, copy.config["data_seed"], 10, 30)
        assert_trained_alike(state["model"], alone, start["model"])


def test_population_size_follows_the_memory_budget():
    hp = hparams.Hparams()
    one = population.member_bytes(hp)
    assert one > 4 * 4 * 266_610  # at least weights, gradients and Adam's two moments
    assert population.size_for(hp, 18 * one) == 18
    assert population.size_for(hp, 18 * one - 1) == 17
    assert population.size_for(hp, 1) == 1


def test_members_at_different_optimizer_steps_are_refused():
    a = {"param_groups": [], "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}}}
    b = {"param_groups": [], "state": {0: {"step": torch.tensor(4.0), "exp_avg": torch.zeros(2)}}}
    with pytest.raises(ConfigError, match="same optimizer step"):
        population.stack_optimizer([a, b])
    with pytest.raises(ConfigError, match="all have optimizer state or none"):
        population.stack_optimizer([a, None])


def test_masks_stay_per_member_and_pruned_weights_stay_zero(mnist):
    from lmc.core import prune

    hp = hparams.Hparams(training_steps="30it", train_subset=3000)
    inits = [models.build(hp.model, seed=s).state_dict() for s in range(3)]
    names = models.pruned_layer_names(models.build(hp.model))
    g = torch.Generator().manual_seed(0)
    masks = [prune.random_mask(prune.prune_to_density(inits[0], prune.ones(inits[0], names), d), g)
             for d in (0.5, 0.2)] + [None]  # two sparse members of different density, one dense
    stacked, _ = population.train_population(hp, inits, [None] * 3, mnist, [1, 2, 3], [1, 2, 3], 0, 30,
                                             progress=False, masks=masks)
    for i, mask in enumerate(masks):
        solo = models.build(hp.model)
        solo.load_state_dict(inits[i])
        loop.train(hp, solo, loop.make_optimizer(hp, solo.parameters()), mnist, i + 1, 0, 30, progress=False,
                   mask=mask)
        start = inits[i] if mask is None else prune.apply({k: v.clone() for k, v in inits[i].items()}, mask)
        assert_trained_alike(_member(stacked, i), solo.state_dict(), start)  # the masked start: pruned at step 0
        # below, counts of exact zeros: a kept weight ends at exactly 0.0 with probability ~0
        if mask is None:
            assert all(bool((stacked[n][i] != 0).all()) for n in names)
            continue
        assert prune.density({n: stacked[n][i] != 0 for n in names}) == prune.density(mask)
        for n in names:
            assert bool((stacked[n][i][~mask[n]] == 0).all())  # pruned: exactly zero
            assert bool((stacked[n][i][mask[n]] != inits[i][n][mask[n]]).any())  # survivors trained
