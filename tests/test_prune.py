import math

import pytest
import torch

from lmc.core import models, prune
from lmc.core.errors import ConfigError
from lmc.core.seeds import generator


@pytest.fixture
def lenet_state():
    model = models.build("lenet_300_100", seed=0)
    return dict(model.state_dict()), models.pruned_layer_names(model)


def test_pruned_layers_follow_open_lth():
    assert models.pruned_layer_names(models.build("lenet_300_100")) == ["fc_layers.0.weight", "fc_layers.1.weight"]
    assert "fc.weight" in models.pruned_layer_names(models.build("cifar_resnet_20"))
    assert "fc.weight" not in models.pruned_layer_names(models.build("cifar_vgg_16"))


def test_density_after_n_rounds_is_0_8_to_the_n(lenet_state):
    state, names = lenet_state
    mask = prune.ones(state, names)
    total = sum(m.numel() for m in mask.values())
    for n in range(1, 16):
        mask = prune.magnitude_prune(state, mask, 0.2)
        # ceil(0.2 × remaining) per round: at most one weight per round below 0.8^n
        assert 0.8 ** n * total - n <= prune.density(mask) * total <= 0.8 ** n * total
    assert prune.density(mask) == pytest.approx(0.035, abs=0.001)  # Table 1: LeNet 3.5% (0.8^15 = 3.52%)


def test_magnitude_pruning_removes_the_smallest_and_never_revives(lenet_state):
    state, names = lenet_state
    first = prune.magnitude_prune(state, prune.ones(state, names), 0.5)
    kept = torch.cat([state[n].abs()[first[n]] for n in names])
    dropped = torch.cat([state[n].abs()[~first[n]] for n in names])
    assert kept.min() >= dropped.max()
    # even if a pruned weight becomes the largest, it stays pruned
    boosted = {n: torch.where(first[n], state[n], 100.0) for n in names}
    second = prune.magnitude_prune(boosted, first, 0.2)
    assert all(not (second[n] & ~first[n]).any() for n in names)


def test_one_shot_hits_the_target_exactly(lenet_state):
    state, names = lenet_state
    mask = prune.prune_to_density(state, prune.ones(state, names), 0.3)
    total = sum(m.numel() for m in mask.values())
    assert sum(int(m.sum()) for m in mask.values()) == round(0.3 * total)
    # with a tensor that is never pruned, the target still counts every tensor of the mask
    full = prune.dense_mask("lenet_300_100", state)
    mask = prune.prune_to_density(state, full, 0.3, names)
    assert sum(int(m.sum()) for m in mask.values()) == round(0.3 * sum(m.numel() for m in full.values()))
    assert bool(mask["fc.weight"].all())


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "0.5"])
def test_density_outside_0_1_is_refused(lenet_state, bad):
    state, names = lenet_state
    with pytest.raises(ConfigError, match=r"density must be in \(0, 1\]"):
        prune.prune_to_density(state, prune.ones(state, names), bad)


def test_random_masks_have_the_stated_density(lenet_state):
    state, names = lenet_state
    imp = prune.prune_to_density(state, prune.ones(state, names), 0.2)
    glob = prune.random_mask(imp, generator("prune", 0), "global")
    layer = prune.random_mask(imp, generator("prune", 0))  # layerwise: open_lth's default
    assert prune.density(glob) == prune.density(imp)
    assert [int(layer[n].sum()) for n in names] == [int(imp[n].sum()) for n in names]
    overlap = sum(int((glob[n] & imp[n]).sum()) for n in names) / sum(int(imp[n].sum()) for n in names)
    # chance overlap, not IMP's structure: standard error over ~53K kept weights < 0.002 (0.02: 10 of it)
    assert overlap == pytest.approx(0.2, abs=0.02)
    assert not all(torch.equal(glob[n], prune.random_mask(imp, generator("prune", 1), "global")[n]) for n in names)
    with pytest.raises(ConfigError, match="random pruning strategy"):
        prune.random_mask(imp, generator("prune", 0), "even")


def _open_lth_round(weights: dict, mask: dict, prunable: list[str], fraction: float = 0.2) -> dict:
    """open_lth's pruning/sparse_global.py, re-derived with numpy as a reference: the count is
    ceil(fraction × remaining) over every tensor of the mask; the threshold is the sorted
    magnitudes' element at that count among the prunable tensors; weights above it survive."""
    import numpy as np

    current = {k: v.numpy().astype(int) for k, v in mask.items()}
    n_prune = int(np.ceil(fraction * sum(v.sum() for v in current.values())))
    vector = np.concatenate([weights[k].numpy()[current[k] == 1] for k in prunable])
    threshold = np.sort(np.abs(vector))[n_prune]
    new = {k: np.where(np.abs(weights[k].numpy()) > threshold, current[k], 0) for k in prunable}
    return {k: torch.from_numpy(new.get(k, current[k])).bool() for k in mask}


def test_imp_counts_every_prunable_tensor_as_open_lth_does():
    """LeNet's output layer is never pruned but counts among the remaining weights, so each round
    takes 20% of *all* of them from the hidden layers, and density counts every layer."""
    model = models.build("lenet_300_100", seed=0)
    state = dict(model.state_dict())
    prunable = models.pruned_layer_names(model)
    mask = prune.dense_mask("lenet_300_100", state)
    assert set(mask) == set(prunable) | {"fc.weight"}
    total = sum(m.numel() for m in mask.values())
    assert total == 784 * 300 + 300 * 100 + 100 * 10
    for _ in range(15):
        reference = _open_lth_round(state, mask, prunable)  # open_lth's round from the same mask
        mask = prune.magnitude_prune(state, mask, 0.2, prunable)
        assert bool(mask["fc.weight"].all())  # the ignored layer stays whole
        kept, theirs = sum(int(m.sum()) for m in mask.values()), sum(int(m.sum()) for m in reference.values())
        # open_lth's strict "> threshold" also removes the weight at the threshold: one more a round
        # (we remove exactly ceil(0.2 × remaining); 15 of 266,200 weights after 15 rounds)
        assert kept - theirs == 1
        assert all(not (reference[k] & ~mask[k]).any() for k in mask)  # theirs ⊂ ours: the same ranking
    assert prune.density(mask) == pytest.approx(0.8 ** 15, abs=1e-4)  # Table 1's "3.5%", of every layer
    hidden = sum(int(mask[n].sum()) for n in prunable)
    # the old accounting (hidden layers only) kept 0.8^15 of the hidden weights: ~11% more of them
    assert hidden < 0.8 ** 15 * sum(mask[n].numel() for n in prunable)


def test_apply_zeroes_exactly_the_pruned_weights(lenet_state):
    state, names = lenet_state
    mask = prune.prune_to_density(state, prune.ones(state, names), 0.5)
    before = {n: state[n].clone() for n in names}
    prune.apply(state, mask)
    for n in names:
        assert (state[n][~mask[n]] == 0).all() and torch.equal(state[n][mask[n]], before[n][mask[n]])
    assert math.isclose(prune.density(mask), 0.5, abs_tol=1e-5)  # whole weights: round(0.5 × count) / count


def test_a_sparse_run_rewinds_survivors_exactly_and_keeps_pruned_weights_zero(mnist):
    from lmc.core import hparams, store, train

    hp = hparams.Hparams(training_steps="40it", train_subset=3000)
    dense = store.open_run(train.run_config(hp, 0, init_seed=0))
    trained = train.state_at(dense, 40, progress=False)["model"]
    names = models.pruned_layer_names(models.build(hp.model))
    level1 = prune.stored({"pruned": dense.hash, "step": 40, "fraction": 0.2},
                          lambda: prune.magnitude_prune(trained, prune.ones(trained, names)))
    assert level1 == prune.stored({"pruned": dense.hash, "step": 40, "fraction": 0.2}, lambda: 1 / 0)  # cached
    mask = prune.load(level1)
    assert prune.density(mask) == pytest.approx(0.8, abs=1e-5)  # whole weights: 20% rounded up to one
    sparse = store.open_run(train.run_config(hp, 0, parent=dense, parent_step=10, mask=level1,
                                             fresh_optimizer=True))
    rewound = train.state_at(sparse, 10, progress=False)
    at_k = train.state_at(dense, 10, progress=False)["model"]
    assert rewound["optimizer"] is None  # rewinding resets the optimizer
    for n in names:
        assert torch.equal(rewound["model"][n][mask[n]], at_k[n][mask[n]])  # exactly W_k on survivors
        assert bool((rewound["model"][n][~mask[n]] == 0).all())
    end = train.state_at(sparse, 40, progress=False)["model"]
    for n in names:
        assert bool((end[n][~mask[n]] == 0).all())  # never revived
        assert not torch.equal(end[n][mask[n]], at_k[n][mask[n]])
