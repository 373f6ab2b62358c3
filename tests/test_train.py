import pytest
import torch

from lmc.core import data, hparams, loop, models, store, train
from lmc.core.errors import ConfigError
from lmc.core.hparams import Hparams

from .fixtures import TRAINED_ALIKE, training_gap


@pytest.mark.parametrize("text, expected", [
    ("500it", (0, 500)), ("2ep", (2, 0)), ("1ep500it", (1, 500)), ("0", (0, 0)), (7, (0, 7)),
    (" 3ep ", (3, 0))])
def test_parse_step(text, expected):
    assert hparams.parse_step(text) == expected


@pytest.mark.parametrize("bad", ["", "ep", "5xx", "2 epochs", "-3it", -1, 1.5, None, "it2"])
def test_malformed_steps_are_refused(bad):
    with pytest.raises(ConfigError, match="malformed step"):
        hparams.parse_step(bad)


def test_steps_use_iterations_per_epoch():
    hp = Hparams()  # batch 60 on 60,000 examples: 1000 iterations per epoch
    assert hparams.to_steps("24ep", hp, 60000) == 24000
    assert hparams.to_steps("1ep30it", hp, 60000) == 1030
    assert hparams.iterations_per_epoch(Hparams(batch_size=128), 50000) == 391  # last batch partial


def test_learning_rate_schedule():
    # approx (relative 1e-6): the schedule multiplies float64 factors (0.1 × 0.1 ≠ 0.01 in the last bit)
    assert loop.learning_rate(Hparams(), 12345, 60000) == pytest.approx(1.2e-3)  # LeNet: constant
    hp = Hparams(optimizer="sgd", lr=0.1, batch_size=128, lr_drops=("100it", "200it"),
                 warmup_steps="10it")
    assert loop.learning_rate(hp, 0, 50000) == pytest.approx(0.01)   # first warmup step
    assert loop.learning_rate(hp, 9, 50000) == pytest.approx(0.1)    # warmup ends
    assert loop.learning_rate(hp, 99, 50000) == pytest.approx(0.1)
    assert loop.learning_rate(hp, 100, 50000) == pytest.approx(0.01)
    assert loop.learning_rate(hp, 250, 50000) == pytest.approx(0.001)


def _weights(state):
    return torch.cat([v.flatten() for v in state["model"].values()])


def test_same_configuration_gives_identical_numbers(mnist, small_hparams, tmp_path):
    config = train.run_config(small_hparams, data_seed=3, init_seed=0)
    first = train.state_at(store.open_run(config, tmp_path / "a"), 60, progress=False)
    second = train.state_at(store.open_run(config, tmp_path / "b"), 60, progress=False)
    # the same operations in the same order on one machine and thread count: bit-identical by design
    # (on another CPU both would differ from these by rounding, and still equal each other)
    assert torch.equal(_weights(first), _weights(second))


def test_data_order_seeds_change_the_order_not_the_init(mnist, small_hparams):
    runs = [store.open_run(train.run_config(small_hparams, data_seed=d, init_seed=0)) for d in (1, 2)]
    inits = [train.state_at(r, 0, progress=False) for r in runs]
    assert torch.equal(_weights(inits[0]), _weights(inits[1]))
    assert not torch.equal(data.epoch_order(1, 0, 3000), data.epoch_order(2, 0, 3000))
    trained = [train.state_at(r, 60, progress=False) for r in runs]
    assert not torch.equal(_weights(trained[0]), _weights(trained[1]))


def test_training_resumes_from_a_checkpoint_bit_identically(mnist, small_hparams, tmp_path):
    config = train.run_config(small_hparams, data_seed=1, init_seed=0)
    straight = train.state_at(store.open_run(config, tmp_path / "a"), 60, progress=False)
    run = store.open_run(config, tmp_path / "b")
    train.state_at(run, 25, progress=False)          # stop at 25 (mid-epoch: 50 steps per epoch)
    resumed = train.state_at(run, 60, progress=False)  # continue from the step-25 checkpoint
    assert run.checkpoints() == [0, 25, 60] or run.checkpoints() == [25, 60]
    # resuming replays the same operations from the exact saved state: bit-identical by design
    assert torch.equal(_weights(straight), _weights(resumed))
    assert all(torch.equal(a, b) for a, b in zip(
        straight["optimizer"]["state"][0].values(), resumed["optimizer"]["state"][0].values(), strict=True))


def test_copies_continue_from_the_parents_full_state(mnist, small_hparams):
    trunk = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    copy = store.open_run(train.run_config(small_hparams, data_seed=1, parent=trunk, parent_step=20,
                                           fresh_optimizer=False))  # "inherit"; the default is fresh
    fresh = store.open_run(train.run_config(small_hparams, data_seed=1, parent=trunk, parent_step=20))
    assert train.starting_state(fresh)["optimizer"] is None  # open_lth's rule, the default
    at_k = train.state_at(trunk, 20, progress=False)
    start = train.state_at(copy, 20, progress=False)
    assert start["step"] == 20 and torch.equal(_weights(at_k), _weights(start))
    assert start["optimizer"]["state"][0]["step"].item() == 20  # Adam's moments carried over
    with pytest.raises(ConfigError, match="outside this run's steps 20..60"):
        train.state_at(copy, 10, progress=False)


def test_a_finished_run_is_not_recomputed(mnist, small_hparams, monkeypatch):
    run = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    first = train.state_at(run, 60, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("training was run again")

    monkeypatch.setattr(loop, "train", fail)
    again = train.state_at(store.open_run(run.config), 60, progress=False)
    assert torch.equal(_weights(first), _weights(again))


def test_interrupted_training_resumes_from_its_resume_point(mnist, small_hparams, monkeypatch):
    run = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    reference = train.state_at(store.open_run(run.config, store.cache_dir() / "ref"), 60, progress=False)
    real_train = loop.train
    calls = []

    def interrupted(hp, model, optimizer, dataset, data_seed, start, stop, save_at=(), on_save=None,
                    progress=True, **options):
        calls.append(start)
        if len(calls) == 1:  # first attempt: killed right after saving the resume point at 40

            def dying(step):
                on_save(step)
                if step == 40:
                    raise KeyboardInterrupt

            return real_train(hp, model, optimizer, dataset, data_seed, start, stop, save_at, dying, progress,
                              **options)
        return real_train(hp, model, optimizer, dataset, data_seed, start, stop, save_at, on_save, progress,
                          **options)

    monkeypatch.setattr(loop, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train.state_at(run, 60, progress=False, resume_every=20)
    resumed = train.state_at(run, 60, progress=False, resume_every=20)
    assert calls == [0, 40]  # resumed from the resume point at step 40, not from scratch
    assert torch.equal(_weights(reference), _weights(resumed))  # same operations, same order: bit-identical
    assert not run.resume_path.exists()


def test_bad_hparams_are_refused():
    with pytest.raises(ConfigError, match="valid optimizers: adam, sgd"):
        Hparams(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="malformed step"):
        Hparams(training_steps="lots")


def test_schedule_reset_copies_restart_the_clock(mnist, small_hparams):
    trunk = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    reset = store.open_run(train.run_config(small_hparams, data_seed=1, parent=trunk, parent_step=20,
                                            reset_schedule=True))
    plain = store.open_run(train.run_config(small_hparams, data_seed=1, parent=trunk, parent_step=20))
    start = train.state_at(reset, 0, progress=False)
    assert train.start_step(reset) == 0 and start["step"] == 0
    assert torch.equal(_weights(start), _weights(train.state_at(trunk, 20, progress=False)))
    # it trains the full 60 steps and so ends elsewhere than the copy that trains 40
    assert not torch.equal(_weights(train.state_at(reset, 60, progress=False)),
                           _weights(train.state_at(plain, 60, progress=False)))
    # from k = 0 there is nothing to reset: the same run
    assert train.run_config(small_hparams, 1, parent=trunk, parent_step=0, reset_schedule=True) == \
        train.run_config(small_hparams, 1, parent=trunk, parent_step=0)


def test_train_size_counts_the_examples_the_recipe_trains_on():
    assert hparams.train_size(Hparams()) == 60_000
    assert hparams.train_size(Hparams(train_subset=3000)) == 3000
    assert hparams.to_steps("2ep", Hparams(train_subset=3000), hparams.train_size(Hparams(train_subset=3000))) == 100


def test_speed_ups_are_on_for_cuda_off_for_cpu_and_switchable():
    assert loop.accel_for("cpu") == loop.Accel(False, False, False)
    assert loop.accel_for("cuda") == loop.Accel(False, True, True)
    assert loop.accel_for("cuda", compile=False) == loop.Accel(False, True, False)
    assert loop.accel_for("cuda", bf16=True) == loop.Accel(True, True, True)
    assert loop.accel_for("cpu", bf16=True, channels_last=None).bf16
    with pytest.raises(ConfigError, match="unknown speed-up"):
        loop.accel_for("cpu", fp8=True)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:1"])
def test_the_paper_numerics_float32_are_the_default_on_every_device(device):
    """The paper trains in float32: bf16 only when asked for, never by default (issue 16, item 7)."""
    assert not loop.accel_for(device).bf16
    assert loop.accel_for(device).precision == "float32"
    assert loop.accel_for(device, bf16=None).precision == "float32"
    assert loop.accel_for(device, bf16=True).precision == "bf16"


def test_bf16_is_part_of_a_runs_identity(small_hparams):
    plain = train.run_config(small_hparams, 0, init_seed=0)
    assert plain == train.run_config(small_hparams, 0, init_seed=0, precision="float32")
    half = train.run_config(small_hparams, 0, init_seed=0, precision="bf16")
    assert store.config_hash(half) != store.config_hash(plain)
    with pytest.raises(ConfigError, match="precision"):
        train.run_config(small_hparams, 0, init_seed=0, precision="fp16")


def test_bf16_autocast_trains_other_numbers_and_channels_last_the_same(mnist, small_hparams):
    def trained(accel, model="lenet_300_100"):
        net = models.build(model, seed=0)
        loop.train(small_hparams, net, loop.make_optimizer(small_hparams, net.parameters()), mnist, 0, 0, 20,
                   progress=False, accel=accel)
        return net.state_dict()

    plain, half = trained(loop.Accel()), trained(loop.Accel(bf16=True))
    # bfloat16 rounds each matrix product's inputs to 8 bits (2^-9 relative, the same rounding on
    # every CPU); 20 steps amplify it to 0.16 of the distance trained (measured, also with other
    # kernels forced). Above TRAINED_ALIKE, the most float32 rounding reaches: bf16 was used; below
    # 0.5 (another data order: 0.85): the same training, not another one.
    gap, _ = training_gap(half, plain, models.build("lenet_300_100", seed=0).state_dict())
    assert TRAINED_ALIKE < gap < 0.5
    # channels_last is a GPU layout (on this CPU its convolution backward is pathologically
    # slow): check only that the switch changes the layout of a convolutional network
    net = models.build("fmnist_resnet_20_4", seed=0)
    loop.train(small_hparams, net, loop.make_optimizer(small_hparams, net.parameters()), mnist, 0, 0, 0,
               progress=False, accel=loop.Accel(channels_last=True))
    assert net.blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not net.blocks[0].conv1.weight.is_contiguous()
