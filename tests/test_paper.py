"""Table 1 encoded once: recipes, learning-rate schedules and sizes against the paper's numbers."""

import pytest

from lmc.core import hparams, loop, models
from lmc.core.errors import ConfigError
from lmc.paper import reported

CIFAR_TRAIN, IMAGENET_TRAIN = 50_000, 1_281_167


def lr(model, variant, step, size=CIFAR_TRAIN):
    hp = reported.setting(model, variant).hparams
    return loop.learning_rate(hp, step, size)


@pytest.mark.parametrize("model, variant, step, expected", [
    ("lenet_300_100", "standard", 23_999, 1.2e-3),
    ("cifar_resnet_20", "standard", 0, 0.1),
    ("cifar_resnet_20", "standard", 31_999, 0.1),
    ("cifar_resnet_20", "standard", 32_000, 0.01),      # ×0.1 at 32K
    ("cifar_resnet_20", "standard", 48_000, 0.001),     # ×0.1 at 48K
    ("cifar_resnet_20", "low", 0, 0.01),
    ("cifar_resnet_20", "low", 40_000, 0.001),
    ("cifar_resnet_20", "warmup", 14_999, 0.015),       # half-way through the 30K warmup to 0.03
    ("cifar_resnet_20", "warmup", 29_999, 0.03),        # warmup ends
    ("cifar_resnet_20", "warmup", 32_000, 0.003),
    ("cifar_vgg_16", "warmup", 29_999, 0.1),
    ("cifar_vgg_16", "warmup", 62_999, 0.001),
])
def test_cifar_and_lenet_schedules(model, variant, step, expected):
    # float64 products of the schedule's factors (0.1 × 0.1 ≠ 0.01 in the last bit): approx, 1e-6 relative
    assert lr(model, variant, step) == pytest.approx(expected)


def test_imagenet_schedules_in_epochs():
    per_epoch = -(-IMAGENET_TRAIN // 1024)  # 1252 iterations of batch 1024
    resnet = reported.setting("imagenet_resnet_50").hparams
    assert hparams.to_steps(resnet.training_steps, resnet, IMAGENET_TRAIN) == 90 * per_epoch
    assert loop.learning_rate(resnet, 5 * per_epoch - 1, IMAGENET_TRAIN) == pytest.approx(0.4)
    assert loop.learning_rate(resnet, 30 * per_epoch, IMAGENET_TRAIN) == pytest.approx(0.04)
    assert loop.learning_rate(resnet, 85 * per_epoch, IMAGENET_TRAIN) == pytest.approx(0.0004)
    inception = reported.setting("imagenet_inception_v3").hparams
    total = hparams.to_steps(inception.training_steps, inception, IMAGENET_TRAIN)
    assert loop.learning_rate(inception, 0, IMAGENET_TRAIN) == pytest.approx(0.03)
    assert loop.learning_rate(inception, total, IMAGENET_TRAIN) == pytest.approx(0.005)
    # the linear decay's midpoint (exact for an even total; half a step, ~1e-5 relative, off for an odd one)
    assert loop.learning_rate(inception, total // 2, IMAGENET_TRAIN) == pytest.approx(0.0175, rel=1e-3)


def _as_in_table1(count: int, printed: str) -> str:
    """``count`` written as Table 1 writes it: truncated to the printed precision (25,557,032 → 25.5M)."""
    unit = 1e3 if printed.endswith("K") else 1e6
    decimals = len(printed[:-1].partition(".")[2])
    return f"{int(count / unit * 10 ** decimals) / 10 ** decimals:.{decimals}f}{printed[-1]}"


@pytest.mark.parametrize("key", list(reported.TABLE1), ids=lambda k: "/".join(k))
def test_every_setting_builds_its_network_with_the_reported_size(key):
    setting = reported.TABLE1[key]
    model = models.build(setting.hparams.model)
    params = models.count_parameters(model)
    with_bn = params + sum(b.numel() for b in model.buffers() if b.is_floating_point())
    # ResNet-20's 274K counts the batch-norm running statistics too
    assert setting.params_reported in (_as_in_table1(params, setting.params_reported),
                                       _as_in_table1(with_bn, setting.params_reported))


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="cifar_resnet_20 \\(low\\)"):
        reported.setting("cifar_resnet_20", "high")


def test_a_result_says_its_schedule_next_to_the_papers():
    """A quick LeNet number is shown with "3,000 of Table 1's 24,000 iterations", and a rewind step
    with its share of both schedules (k = 500 is 17% of our training, 2% of the paper's)."""
    from lmc.paper import reported

    lenet = {"model": "lenet_300_100", "variant": "standard", "hparams": {"training_steps": "3000it"},
             "training_iterations": 3000}
    assert reported.schedule_note(lenet) == "3,000 of Table 1's 24,000 iterations"
    assert reported.schedule_note({**lenet, "hparams": {"training_steps": "24000it"}}) == "Table 1's 24000it"
    assert reported.rewind_share(lenet, [0, 500]) == "k = 500 is 16.7% of training here (2.1% of Table 1's 24,000)"
    stand_in = {"model": "fmnist_resnet_20_4", "variant": "standard", "hparams": {"training_steps": "600it"},
                "training_iterations": 600}
    assert "not a network of Table 1" in reported.schedule_note(stand_in)
    assert reported.rewind_share(stand_in, [50]) == "k = 50 is 8.3% of training here"
