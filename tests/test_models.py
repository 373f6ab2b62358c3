import pytest
import torch

from lmc.core import models
from lmc.core.errors import ConfigError


def test_lenet_parameter_count_matches_open_lth():
    # open_lth models/test/test_mnist_lenet.py; the paper's Table 1 reports 266K.
    assert models.count_parameters(models.build("lenet_300_100")) == 266_610


def test_lenet_forward_shape_and_aliases():
    model = models.build("mnist_lenet_300_100", seed=0)
    assert model(torch.zeros(7, 1, 28, 28)).shape == (7, 10)
    assert [p.shape[0] for p in model.fc_layers.parameters()][::2] == [300, 100]


def test_initialization_is_seeded_and_kaiming_normal():
    a, b, c = (models.build("lenet_300_100", seed=s).state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc.weight"], c["fc.weight"])
    # Kaiming normal, fan-in: std sqrt(2 / 784) for the first layer (sampling error of 235,200 draws:
    # 0.15% relative, so 2% is ~13 standard errors)
    assert a["fc_layers.0.weight"].std().item() == pytest.approx((2 / 784) ** 0.5, rel=0.02)
    bound = 1 / 784 ** 0.5  # uniform biases: a hard bound
    assert a["fc_layers.0.bias"].abs().max().item() <= bound


def test_init_does_not_depend_on_the_global_random_state():
    torch.manual_seed(1)
    a = models.build("lenet_300_100", seed=5).state_dict()
    torch.manual_seed(2)
    b = models.build("lenet_300_100", seed=5).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prunable_layers_are_linear_weights():
    names = models.prunable_layer_names(models.build("lenet_300_100"))
    assert names == ["fc_layers.0.weight", "fc_layers.1.weight", "fc.weight"]


@pytest.mark.parametrize("name", ["resnet_1000", "lenet", "lenet_0", "lenet_a"])
def test_unknown_model_lists_valid_names(name):
    with pytest.raises(ConfigError, match="valid models: lenet_300_100"):
        models.build(name)


@pytest.mark.parametrize("name, params, buffers", [
    # open_lth models/test/test_cifar_resnet.py and test_cifar_vgg.py; Table 1: 274K and 14.7M
    ("cifar_resnet_20", 272_474, 1_568),   # 274,042 with BN running statistics
    ("cifar_vgg_16", 14_728_266, 8_448),
])
def test_cifar_network_sizes_and_shapes(name, params, buffers):
    model = models.build(name, seed=0)
    assert models.count_parameters(model) == params
    assert sum(b.numel() for b in model.buffers() if b.is_floating_point()) == buffers
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_batch_norm_init_follows_open_lth():
    # open_lth models/bn_initializers.py `uniform`: gamma ~ U[0, 1), beta = 0
    bn = models.build("cifar_resnet_20", seed=0).bn
    assert 0 <= bn.weight.min() and bn.weight.max() < 1 and bn.weight.std() > 0.1
    assert (bn.bias == 0).all()


def test_resnet_projection_shortcuts():
    model = models.build("cifar_resnet_20")
    shortcuts = [m.shortcut for m in model.blocks if len(m.shortcut)]
    assert len(shortcuts) == 2  # entering stages 2 and 3
    assert all(isinstance(s[0], torch.nn.Conv2d) and s[0].kernel_size == (1, 1) for s in shortcuts)
