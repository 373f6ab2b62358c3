"""IMP with rewinding and the random baselines (issue 5's kernels)."""

import pytest
import torch

from lmc.core import hparams, loop, models, prune, store, train
from lmc.core.errors import ConfigError
from lmc.experiments import imp


@pytest.fixture
def trunk(mnist):
    hp = hparams.Hparams(training_steps="30it", train_subset=3000)
    return store.open_run(train.run_config(hp, 0, init_seed=0))


def test_levels_for_a_density():
    assert imp.levels_for(0.035) == 15  # LeNet's Table 1 density: 15 rounds of 20%
    assert imp.levels_for(1.0) == 0 and imp.levels_for(0.8) == 1
    assert imp.levels_for(0.168) == 8 and imp.levels_for(0.015) == 19  # ResNet-20, VGG-16
    assert imp.density_after(15) == pytest.approx(0.0352, abs=1e-4)  # 0.8^15 = 0.03518, written to 4 digits
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match=r"density must be in \(0, 1\]"):
            imp.levels_for(bad)


def test_density_after_n_rounds_is_0_8_to_the_n(trunk):
    hashes = imp.masks(trunk, 5, levels=3, progress=False)
    assert hashes[0] is None and len(set(hashes[1:])) == 3
    kept = [prune.load(h) for h in hashes[1:]]
    total = sum(m.numel() for m in kept[0].values())
    for level, mask in enumerate(kept, start=1):
        # ceil(0.2 × remaining) per round: within one weight per round of 0.8^n
        assert abs(prune.density(mask) - 0.8 ** level) <= level / total
    for earlier, later in zip(kept, kept[1:]):
        assert all(bool((later[n] <= earlier[n]).all()) for n in earlier)  # pruned weights stay pruned
    assert all(bool(m["fc.weight"].all()) for m in kept)  # LeNet's output layer is never pruned (open_lth),
    assert total == 266_200  # but it is in the mask and counts in the density, as open_lth counts


def test_a_cut_off_sweep_resumes_at_the_next_level(trunk, monkeypatch):
    first = imp.masks(trunk, 5, levels=2, progress=False)
    trained = []
    real = loop.train
    monkeypatch.setattr(loop, "train", lambda *a, **k: trained.append(a[5]) or real(*a, **k))
    more = imp.masks(trunk, 5, levels=3, progress=False)
    assert more[:3] == first  # levels 1-2 are found in the cache
    assert trained == [5]  # only level 2's run trains (from k = 5), to give level 3's mask


def test_rewinding_restores_survivors_at_k_and_the_baselines(trunk):
    level = imp.masks(trunk, 10, levels=2, progress=False)[-1]
    mask = prune.load(level)
    at_k = train.state_at(trunk, 10, progress=False)["model"]
    start = train.state_at(imp.sparse_run(trunk, 10, level), 10, progress=False)
    for n, keep in mask.items():
        assert torch.equal(start["model"][n][keep], at_k[n][keep])
        assert bool((start["model"][n][~keep] == 0).all())
    # random pruning (open_lth's default, layerwise): each layer keeps IMP's count, a different set
    rand = prune.load(imp.random_prune(level, seed=0))
    assert all(int(rand[n].sum()) == int(mask[n].sum()) for n in mask)
    hidden = [n for n in mask if n != "fc.weight"]
    overlap = sum(int((rand[n] & mask[n]).sum()) for n in hidden) / sum(int(mask[n].sum()) for n in hidden)
    # independent of the IMP mask: a chance overlap, whose standard error over the kept hidden weights
    # is under 0.001 (0.02: 20 of them)
    assert overlap == pytest.approx(prune.density({n: mask[n] for n in hidden}), abs=0.02)
    glob = prune.load(imp.random_prune(level, seed=0, strategy="global"))
    assert sum(int(m.sum()) for m in glob.values()) == sum(int(m.sum()) for m in mask.values())
    assert not bool(glob["fc.weight"].all())  # global shuffles the output layer's mask too, as open_lth
    # it starts from the IMP level's m_IMP ⊙ W_k (open_lth loads the level's saved, masked state):
    # weights the random mask keeps but IMP pruned start at zero
    run = imp.sparse_run(trunk, 10, imp.random_prune(level, seed=0), start_mask=level)
    begin = train.starting_state(run)["model"]
    for n in hidden:
        assert bool((begin[n][rand[n] & ~mask[n]] == 0).all())
        assert torch.equal(begin[n][rand[n] & mask[n]], at_k[n][rand[n] & mask[n]])
        assert bool((begin[n][~rand[n]] == 0).all())
    # random reinitialization: the IMP mask, weights that share nothing with the trunk's
    reinit = train.state_at(imp.reinit_run(trunk, 10, level), 10, progress=False)["model"]
    init = models.build("lenet_300_100", seed=0).state_dict()
    for n, keep in mask.items():
        assert bool((reinit[n][~keep] == 0).all())
        for other in (init, at_k):  # uncorrelated with the original draw and with W_k
            # sampling error of a correlation over ≥ 19,200 kept weights: 1/sqrt(19,200) = 0.007; 0.05 is 7 of it
            pair = torch.stack([reinit[n][keep], other[n][keep]])
            assert abs(float(torch.corrcoef(pair)[0, 1])) < 0.05


def test_one_shot_prunes_the_trained_trunk_straight_to_the_density(trunk):
    hashes = {d: imp.one_shot(trunk, d, progress=False) for d in (0.3, 0.05)}
    for target, h in hashes.items():
        mask = prune.load(h)
        total = sum(m.numel() for m in mask.values())
        assert sum(int(m.sum()) for m in mask.values()) == round(target * total)  # exactly, no rounds
    trained = train.state_at(trunk, 30, progress=False)["model"]
    kept, dropped = [], []
    for n, keep in prune.load(hashes[0.3]).items():
        if n == "fc.weight":  # never pruned (open_lth's pruning_layers_to_ignore)
            assert bool(keep.all())
            continue
        kept.append(trained[n][keep].abs().min())
        dropped.append(trained[n][~keep].abs().max())
    assert min(kept) >= max(dropped)  # global magnitude: every survivor at least as large as any pruned
    assert imp.one_shot(trunk, 0.3, progress=False) == hashes[0.3]  # stored, found again
    with pytest.raises(ConfigError, match=r"one-shot density must be in \(0, 1\)"):
        imp.one_shot(trunk, 1.0)


def test_the_pruning_style_follows_table_1():
    from lmc.experiments import instability, sparse

    lenet = instability.instability_config(preset="smoke")
    assert sparse.pruning(lenet, density=0.035) == (15, None)  # iterative: 15 rounds of 20%
    assert sparse.pruning(lenet, levels=3) == (3, None)
    resnet50 = instability.instability_config(model="imagenet_resnet_50", preset="paper")
    assert sparse.pruning(resnet50, density=0.3) == (None, 0.3)  # one-shot, exactly 30%
    for bad in ({}, {"levels": 2, "density": 0.5}, {"levels": 0}, {"density": 1.0}):
        with pytest.raises(ConfigError, match="levels|density"):
            sparse.pruning(lenet, **bad)


def test_imp_sweeps_in_lockstep_train_each_level_as_one_population(trunk, monkeypatch):
    other = store.open_run(train.run_config(train.hparams_of(trunk), 1, init_seed=1))
    populations = []
    real = train._train_together
    monkeypatch.setattr(train, "_train_together",
                        lambda runs, *a, **k: populations.append(len(runs)) or real(runs, *a, **k))
    swept = imp.masks_for([(trunk, 5), (other, 5)], levels=2, populate=True, progress=False)
    assert populations == [2, 2]  # the two trunks, then the two level-1 subnetworks
    for masks in swept:
        assert masks[0] is None and abs(prune.density(prune.load(masks[2])) - 0.64) < 1e-3  # whole weights
    assert swept[0][1:] == imp.masks(trunk, 5, levels=2, progress=False)[1:]  # the same cached masks
    assert populations == [2, 2]  # found, not trained again
