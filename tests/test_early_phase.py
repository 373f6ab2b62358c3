"""Early-phase perturbations and telemetry (lmc.studies.early_phase) on cases whose answer is known."""

import pytest
import torch

from lmc.core import models, prune, store, train
from lmc.core.errors import ConfigError
from lmc.core.seeds import generator
from lmc.experiments import imp
from lmc.core import perturb, tasks
from lmc.studies import early_phase

from .fixtures import assert_trained_alike


def _state(seed: int, name: str = "lenet_300_100") -> dict:
    return {k: v.clone() for k, v in models.build(name, seed=seed).state_dict().items()}


def _random_mask(state: dict, name: str = "lenet_300_100", density: float = 0.3) -> prune.Mask:
    names = models.pruned_layer_names(models.build(name))
    g = generator("prune", 7)
    return {n: torch.rand(state[n].shape, generator=g) < density for n in names}


def _weights(name: str = "lenet_300_100") -> list[str]:
    return perturb.perturbed_names(models.build(name))


def test_signs_from_step_0_keep_the_magnitudes_of_k_exactly():
    origin, at_k = _state(0), _state(1)
    mask = _random_mask(at_k)
    prune.apply(at_k, mask)
    out = perturb.apply(at_k, {"kind": "signs_magnitudes", "signs": "0", "magnitudes": "k"},
                        "lenet_300_100", mask, origin)
    for n in _weights():
        assert torch.equal(out[n].abs(), at_k[n].abs())  # magnitudes bit for bit
        kept = mask[n] if n in mask else torch.ones_like(out[n], dtype=torch.bool)
        assert torch.equal(torch.sign(out[n])[kept], torch.sign(origin[n])[kept])
        assert (out[n][~kept] == 0).all()
    assert any(not torch.equal(out[n], at_k[n]) for n in _weights())  # the signs did change
    assert torch.equal(out["fc_layers.0.bias"], at_k["fc_layers.0.bias"])  # biases untouched


def test_magnitudes_from_step_0_keep_the_signs_of_k():
    origin, at_k = _state(0), _state(1)
    mask = _random_mask(at_k)
    prune.apply(at_k, mask)
    out = perturb.apply(at_k, {"kind": "signs_magnitudes", "signs": "k", "magnitudes": "0"},
                        "lenet_300_100", mask, origin)
    for n in _weights():
        kept = mask[n] if n in mask else torch.ones_like(out[n], dtype=torch.bool)
        assert torch.equal(torch.sign(out[n]), torch.sign(at_k[n]))
        assert torch.equal(out[n].abs()[kept], origin[n].abs()[kept])


@pytest.mark.parametrize("name", ["lenet_300_100", "fmnist_resnet_20_4"])
@pytest.mark.parametrize("within", ["layer", "neuron"])
@pytest.mark.parametrize("same_sign", [False, True])
def test_a_permutation_keeps_each_elements_weights_and_the_mask(name, within, same_sign):
    state = _state(3, name)
    mask = _random_mask(state, name, density=0.5)
    prune.apply(state, mask)
    spec = {"kind": "permute", "within": within, "same_sign": same_sign, "seed": 0}
    out = perturb.apply(state, spec, name, mask)
    moved = 0
    for n in _weights(name):
        a, b = state[n], out[n]
        rows_a = a.reshape(1, -1) if within == "layer" else a.reshape(a.shape[0], -1)
        rows_b = b.reshape(rows_a.shape)
        assert torch.equal(rows_a.sort(dim=1).values, rows_b.sort(dim=1).values)  # same multiset per element
        if n in mask:
            assert (b[~mask[n]] == 0).all()
        if same_sign:
            assert torch.equal(torch.sign(a), torch.sign(b))
        moved += int((a != b).sum())
    assert moved > 0


def test_noise_of_zero_sigma_is_the_identity_and_one_sigma_measures_one():
    state = _state(0)
    mask = _random_mask(state)
    prune.apply(state, mask)
    same = perturb.apply(state, {"kind": "noise", "scale": 0.0, "seed": 4}, "lenet_300_100", mask)
    assert all(torch.equal(same[k], state[k]) for k in state)
    assert perturb.is_identity({"kind": "noise", "scale": 0})
    noisy = perturb.apply(state, {"kind": "noise", "scale": 1.0, "seed": 4}, "lenet_300_100", mask)
    size = perturb.perturbation_size(state, noisy, "lenet_300_100", mask)
    # sampling error, not rounding: the RMS of ~80K N(0, 1) draws has standard error 1/sqrt(2·80K) =
    # 0.0025, so 0.02 is 8 of them
    assert abs(size["effective_sigma"] - 1.0) < 0.02
    # at initialization ‖W‖ is itself about 1σ per weight, so the normalized distance is about 1
    # (a ratio of two random norms over ~80K weights: its sampling error is well under 0.1)
    assert 0.9 < size["distance"] < 1.1
    for n in mask:
        assert (noisy[n][~mask[n]] == 0).all()
    again = perturb.apply(state, {"kind": "noise", "scale": 1.0, "seed": 4}, "lenet_300_100", mask)
    other = perturb.apply(state, {"kind": "noise", "scale": 1.0, "seed": 5}, "lenet_300_100", mask)
    assert all(torch.equal(noisy[k], again[k]) for k in state)
    assert not torch.equal(noisy["fc_layers.0.weight"], other["fc_layers.0.weight"])


def test_init_std_is_the_kaiming_sigma_of_the_initialization():
    model = models.build("lenet_300_100", seed=0)
    w = model.get_parameter("fc_layers.0.weight")
    assert perturb.init_std(model, "fc_layers.0.weight") == pytest.approx((2 / 784) ** 0.5)  # a formula
    # the std of 235,200 draws: relative standard error 1/sqrt(2·235,200) = 0.0015; 0.01 is ~7 of them
    assert float(w.detach().std()) == pytest.approx((2 / 784) ** 0.5, rel=0.01)


@pytest.mark.parametrize("bad, match", [
    ({"kind": "shuffle"}, "unknown perturbation"),
    ({"kind": "noise", "scale": -1.0}, "scale must be a finite number"),
    ({"kind": "noise"}, "scale must be"),
    ({"kind": "permute", "within": "channel"}, "unknown structural element"),
    ({"kind": "signs_magnitudes", "signs": "2"}, "unknown source of signs"),
    ({"kind": "permute", "seed": -1}, "seed must be a non-negative integer"),
    ({"kind": "noise", "scale": 1.0, "sigma": 2}, "has no field sigma"),
])
def test_bad_perturbations_are_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        perturb.perturbation(**bad)


def test_a_perturbation_enters_the_identity_only_when_given(small_hparams):
    trunk = store.open_run(train.run_config(small_hparams, 0, init_seed=0))
    plain = train.run_config(small_hparams, 1, parent=trunk, parent_step=10)
    assert "perturb" not in plain["start"]  # old runs keep their hashes
    noisy = train.run_config(small_hparams, 1, parent=trunk, parent_step=10,
                             perturbation={"kind": "noise", "scale": 1.0})
    hashes = {store.config_hash(c) for c in (
        plain, noisy, train.run_config(small_hparams, 1, parent=trunk, parent_step=10,
                                       perturbation={"kind": "noise", "scale": 1.0, "seed": 1}))}
    assert len(hashes) == 3
    assert noisy["start"]["perturb"] == {"kind": "noise", "scale": 1.0, "seed": 0}  # canonical
    with pytest.raises(ConfigError, match="starts from a parent"):
        train.run_config(small_hparams, 1, init_seed=0, perturbation={"kind": "noise", "scale": 1.0})
    identity = early_phase.perturbed_run(trunk, 10, None, {"kind": "signs_magnitudes", "signs": "k"})
    assert identity.hash == imp.sparse_run(trunk, 10, None).hash


def test_telemetry_of_an_untrained_network_starts_at_its_initialization(mnist, small_hparams):
    trunk = store.open_run(train.run_config(small_hparams, 0, init_seed=0))
    ds = early_phase.telemetry(trunk, [0, 20], test_subset=500)
    at0 = ds.sel(step=0)
    assert float(at0.sign_changed) == 0 and float(at0.distance_init) == 0
    assert float(at0.cosine_init) == pytest.approx(1.0)  # metrics sum in float64: 1 within ~1e-14
    assert float(ds.sel(step=20).distance_init) > 0 and float(ds.sel(step=20).sign_changed) > 0
    assert ds.distance_final.values[0] > ds.distance_final.values[1] > 0  # training heads to its end
    with pytest.raises(ConfigError, match="within the run's steps"):
        early_phase.telemetry(trunk, [0, 100])


def _perturbed_states(small_hparams, spec) -> tuple[dict, str, prune.Mask]:
    trunk = store.open_run(train.run_config(small_hparams, 0, init_seed=0))
    mask = imp.masks(trunk, 0, 1, progress=False)[-1]
    run = early_phase.perturbed_run(trunk, 20, mask, spec, data_seed=1)
    return train.state_at(run, 60, progress=False)["model"], run.hash, prune.load(mask)


def test_perturbed_runs_are_deterministic_distinct_and_keep_pruned_weights_zero(
        mnist, small_hparams, tmp_path, monkeypatch):
    spec = {"kind": "noise", "scale": 1.0, "seed": 0}
    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp_path / "a"))
    first, h1, mask = _perturbed_states(small_hparams, spec)
    plain, h0, _ = _perturbed_states(small_hparams, None)
    permuted, h2, _ = _perturbed_states(small_hparams, {"kind": "permute", "within": "neuron"})
    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp_path / "b"))  # an empty cache: trained again
    second, h1b, _ = _perturbed_states(small_hparams, spec)
    assert h1 == h1b and len({h0, h1, h2}) == 3
    # trained again by the same code in the same process and thread count: bit-identical by design
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["fc_layers.0.weight"], plain["fc_layers.0.weight"])
    assert not torch.equal(permuted["fc_layers.0.weight"], plain["fc_layers.0.weight"])
    for state in (first, permuted):
        for n, keep in mask.items():
            assert (state[n][~keep] == 0).all()


def test_bad_study_configurations_are_refused():
    with pytest.raises(ConfigError, match="must be before the end of training"):
        early_phase.early_phase_config(preset="smoke", rewind_step="300")
    assert early_phase.early_phase_config(model="fmnist_resnet_20_4", preset="smoke").levels == 4  # its own 41%
    with pytest.raises(ConfigError, match="noise_scales must be a list"):
        early_phase.early_phase_config(preset="smoke", noise_scales=1.0)
    with pytest.raises(ConfigError, match="first perturbation must be the unperturbed reference"):
        early_phase.early_phase_config(preset="smoke", perturbations={"noise": {"kind": "noise", "scale": 1.0}})
    config = early_phase.early_phase_config(preset="quick")
    assert config.levels == 15 and config.rewind_step == "500"
    assert config.perturbations[0][0] == "none" and perturb.is_identity(config.perturbations[0][1])


def _tiny_data(n: int = 64):
    from lmc.core import data

    g = torch.Generator().manual_seed(0)
    return data.DeviceData("mnist", torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g),
                           torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g),
                           num_classes=10)


def test_rotation_task_rotates_each_image_by_its_label_times_90_degrees():
    d = _tiny_data()
    t = tasks.apply(d, "rotation", seed=3)
    assert set(t.train_y.tolist()) <= {0, 1, 2, 3} and len(set(t.train_y.tolist())) == 4
    for i, n in enumerate(t.train_y.tolist()):
        assert torch.equal(t.train_x[i], torch.rot90(d.train_x[i], n, dims=(1, 2)))
    assert torch.equal(t.test_x, d.test_x) and torch.equal(t.test_y, d.test_y)  # evaluation is untouched
    flipped = tasks.apply(__import__("dataclasses").replace(d, flip=True), "rotation", seed=3)
    assert not flipped.flip  # a flip would turn 90° into 270°


def test_random_labels_keep_images_and_are_fixed_by_the_seed():
    d = _tiny_data(2000)
    a, b = (tasks.apply(d, "random_labels", seed=s) for s in (1, 1))
    c = tasks.apply(d, "random_labels", seed=2)
    assert torch.equal(a.train_x, d.train_x) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.train_y, c.train_y)
    # 9 in 10 labels change: over 2,000 examples the share has standard error 0.007, so ±0.05 is 7 of them
    assert 0.85 < float((a.train_y != d.train_y).double().mean()) < 0.95


def test_blur_keeps_a_constant_image_and_the_labels_and_smooths_noise():
    d = _tiny_data()
    t = tasks.apply(d, "blur", seed=0)
    assert torch.equal(t.train_y, d.train_y) and t.train_x.shape == d.train_x.shape
    assert float(t.train_x.std()) < 0.5 * float(d.train_x.std())  # white noise averaged over 4x4 blocks
    flat = tasks.apply(__import__("dataclasses").replace(d, train_x=torch.full_like(d.train_x, 0.7)),
                       "blur", seed=0)
    # averages of equal float32 values: off by a few ulps at most (allclose: 1e-5 relative)
    assert torch.allclose(flat.train_x, torch.full_like(d.train_x, 0.7))


def test_a_task_enters_the_identity_only_when_given(small_hparams):
    plain = train.run_config(small_hparams, 0, init_seed=0)
    assert "task" not in plain
    rotated = train.run_config(small_hparams, 0, init_seed=0, task="rotation")
    assert rotated["task"] == "rotation" and store.config_hash(rotated) != store.config_hash(plain)
    with pytest.raises(ConfigError, match="unknown task 'jigsaw'"):
        train.run_config(small_hparams, 0, init_seed=0, task="jigsaw")
    with pytest.raises(ConfigError, match="unknown task"):
        early_phase.early_phase_config(preset="smoke", tasks=["blurr"])


def test_perturbed_and_pretrained_runs_train_as_populations_from_their_own_start(
        mnist, small_hparams, tmp_path, monkeypatch):
    def runs():
        trunk = store.open_run(train.run_config(small_hparams, 0, init_seed=0))
        mask = imp.masks(trunk, 0, 1, progress=False)[-1]
        return [early_phase.perturbed_run(trunk, 20, mask, {"kind": "noise", "scale": s}, data_seed=1)
                for s in (1.0, 2.0)] + [early_phase.pretrained_run(trunk, 20, mask, "rotation", data_seed=1)]

    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp_path / "population"))
    together = runs()
    train.train_runs(together, 60, populate=True, progress=False)
    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp_path / "solo"))
    alone = runs()
    for a, b in zip(together, alone, strict=True):
        assert a.hash == b.hash and a.path != b.path
        wa = store.load_checkpoint(a, 60)["model"]  # trained in the population
        wb = train.state_at(b, 60, progress=False)["model"]  # trained alone in the other cache
        start = train.state_at(b, train.start_step(b), progress=False)["model"]  # perturbed, at step 20
        assert_trained_alike(wa, wb, start)  # equal up to rounding amplified by training (tests/fixtures.py)


@pytest.mark.slow
def test_a_small_study_measures_each_perturbation_and_its_instability(mnist):
    config = early_phase.early_phase_config(
        preset="smoke", density=0.8, telemetry_steps=[0, 100], tasks=["blur"], instability=True,
        perturbations={"none": {"kind": "noise", "scale": 0.0}, "noise 2σ": {"kind": "noise", "scale": 2.0}})
    assert config.levels == 1
    ds = early_phase.perturbation_study(config, device="cpu", progress=False)
    assert list(ds.perturbation.values) == ["none", "noise 2σ", "early phase: blur"]
    assert list(ds.family.values) == ["none", "noise", early_phase.DATA_FAMILY]
    # no perturbation: distance exactly 0; 2σ noise: its RMS over the kept weights, sampling error ~0.2%
    assert float(ds.distance[0]) == 0 and float(ds.effective_sigma[1]) == pytest.approx(2.0, rel=0.05)
    assert ds.instability.dims == ("perturbation", "split") and ds.path_error.sizes["alpha"] == 5
    assert ((ds.trained_accuracy > 10) & (ds.trained_accuracy <= 100)).all()
    assert float(ds.density) == pytest.approx(0.8, abs=1e-3)  # one round of 20% in whole weights
    assert float(ds.sign_changed.sel(network="dense", step=0)) == 0
    again = early_phase.perturbation_study(config, device="cpu", progress=False)  # all from the cache
    assert again.drop_attrs().equals(ds.drop_attrs())
