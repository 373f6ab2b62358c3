"""The paper's networks, built by name from a registry, initialized as open_lth does.

A builder takes a model name and returns a model if the name is its own, else None
(open_lth's ``models/registry.py`` pattern): adding a model is one function here
plus one line in ``BUILDERS``. Every model carries ``prunable_layer_names`` and
``output_layer_names`` so pruning can follow open_lth's rules.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import ConfigError
from .seeds import generator


class LeNet(nn.Module):
    """Fully-connected LeNet for 28×28 images (open_lth ``mnist_lenet``): 784 → plan → 10."""

    prune_ignore = ("fc.weight",)  # open_lth mnist_lenet: pruning_layers_to_ignore='fc.weight'

    def __init__(self, plan: tuple[int, ...], num_classes: int = 10, input_size: int = 784):
        super().__init__()
        sizes = (input_size, *plan)
        self.fc_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.fc = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.fc_layers:
            x = F.relu(layer(x), inplace=True)
        return self.fc(x)

    @property
    def output_layer_names(self) -> list[str]:
        return ["fc.weight", "fc.bias"]


def lenet(name: str) -> LeNet | None:
    """``lenet_300_100`` (or open_lth's ``mnist_lenet_300_100``): hidden layer widths in the name."""
    parts = name.removeprefix("mnist_").split("_")
    if parts[0] != "lenet" or len(parts) < 2 or not all(p.isdigit() and int(p) > 0 for p in parts[1:]):
        return None
    return LeNet(tuple(int(p) for p in parts[1:]))


class ResNetBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a residual connection (open_lth ``cifar_resnet``)."""

    def __init__(self, f_in: int, f_out: int, downsample: bool):
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        self.shortcut = nn.Sequential()
        if downsample or f_in != f_out:  # 1×1 convolution + batch norm projection
            self.shortcut = nn.Sequential(nn.Conv2d(f_in, f_out, 1, stride=2, bias=False),
                                          nn.BatchNorm2d(f_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32×32 images (He et al. 2016, §4.2; open_lth ``cifar_resnet_N[_W]``).

    A 3×3 convolution, three stages of D blocks with W, 2W and 4W filters (N = 6D + 2),
    global average pooling and one linear layer.
    """

    def __init__(self, depth: int, width: int = 16, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        blocks_per_stage = (depth - 2) // 6
        self.conv = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, current = [], width
        for stage, filters in enumerate((width, 2 * width, 4 * width)):
            for index in range(blocks_per_stage):
                blocks.append(ResNetBlock(current, filters, downsample=stage > 0 and index == 0))
                current = filters
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(current, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))

    @property
    def output_layer_names(self) -> list[str]:
        return ["fc.weight", "fc.bias"]


def cifar_resnet(name: str) -> CifarResNet | None:
    """``cifar_resnet_20`` (depth 6D + 2) or ``cifar_resnet_20_8`` (width 8 instead of 16).

    ``fmnist_resnet_20_4`` is the same network of width 4 for 1-channel images (the CPU-scale
    stand-in for the CIFAR networks: Fashion-MNIST pooled to 14×14, ``reported.STAND_INS``).
    """
    parts = name.split("_")
    if parts[0] not in ("cifar", "fmnist") or parts[1:2] != ["resnet"] or len(parts) not in (3, 4) \
            or not all(p.isdigit() for p in parts[2:]):
        return None
    depth, width = int(parts[2]), int(parts[3]) if len(parts) == 4 else 16
    if depth < 8 or (depth - 2) % 6 or width < 1:
        return None
    return CifarResNet(depth, width, in_channels=3 if parts[0] == "cifar" else 1)


VGG_PLANS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512),
}


class CifarVGG(nn.Module):
    """VGG for 32×32 images (open_lth ``cifar_vgg_N``): 3×3 conv + BN + ReLU, max pools,
    a 2×2 average pool and one linear layer."""

    prune_ignore = ("fc.weight",)  # open_lth cifar_vgg: pruning_layers_to_ignore='fc.weight'

    def __init__(self, plan, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        layers, filters = [], in_channels
        for spec in plan:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(filters, spec, 3, padding=1), nn.BatchNorm2d(spec), nn.ReLU()]
                filters = spec
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.avg_pool2d(self.layers(x), 2).flatten(1))

    @property
    def output_layer_names(self) -> list[str]:
        return ["fc.weight", "fc.bias"]


def cifar_vgg(name: str) -> CifarVGG | None:
    """``cifar_vgg_11``, ``_13``, ``_16`` or ``_19``."""
    parts = name.split("_")
    if parts[:2] != ["cifar", "vgg"] or len(parts) != 3 or not parts[2].isdigit():
        return None
    plan = VGG_PLANS.get(int(parts[2]))
    return CifarVGG(plan) if plan else None


def imagenet(name: str) -> nn.Module | None:
    """torchvision's ``imagenet_resnet_50`` (or 18/34/101/152) and ``imagenet_inception_v3``
    (with its auxiliary classifier: 27.1M parameters, as in Table 1), not re-written here."""
    import torchvision.models as tv

    resnets = {f"imagenet_resnet_{d}": getattr(tv, f"resnet{d}") for d in (18, 34, 50, 101, 152)}
    if name in resnets:
        return resnets[name](weights=None)
    if name == "imagenet_inception_v3":
        return tv.inception_v3(weights=None, aux_logits=True, init_weights=False)
    return None


IMAGE_SIZE = {"imagenet_inception_v3": 299}  # input side for streamed data sets (default 224)
AUX_LOSS_WEIGHT = 0.4  # Inception-v3's auxiliary classifier (Szegedy et al. 2016)


def loss(output, target: torch.Tensor) -> torch.Tensor:
    """Training loss: cross-entropy, plus 0.4 × the auxiliary head's for Inception-v3."""
    if hasattr(output, "aux_logits"):
        main = F.cross_entropy(output.logits, target)
        return main if output.aux_logits is None else main + AUX_LOSS_WEIGHT * F.cross_entropy(
            output.aux_logits, target)
    return F.cross_entropy(output, target)


BUILDERS = [lenet, cifar_resnet, cifar_vgg, imagenet]
KNOWN = ["lenet_300_100", "cifar_resnet_20", "cifar_vgg_16", "imagenet_resnet_50",
         "imagenet_inception_v3", "fmnist_resnet_20_4"]  # builders accept more (see each)


def prunable_layer_names(model: nn.Module) -> list[str]:
    """Weights of conv and linear layers: what IMP may prune (open_lth ``models/base.py``)."""
    return [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def pruned_layer_names(model: nn.Module) -> list[str]:
    """The weights IMP prunes: the prunable ones less the model's ``prune_ignore`` (open_lth's
    per-model ``pruning_layers_to_ignore``: LeNet's and VGG's output layer; none for ResNet)."""
    ignore = set(getattr(model, "prune_ignore", ()))
    return [name for name in prunable_layer_names(model) if name not in ignore]


def is_convolutional(model: nn.Module) -> bool:
    """Whether the network has convolutions (channels_last and batched-α choices depend on it)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def first_layer_name(model: nn.Module) -> str:
    """The first conv or linear layer, the one applied to the input (first registered in
    every model here; a test checks that evaluating through it reproduces the model)."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            return name
    raise ConfigError(f"{type(model).__name__} has no conv or linear layer")


def initialize(model: nn.Module, seed: int, draw: int = 0) -> nn.Module:
    """Draw the model's initial weights from the ``init`` stream of ``seed``, in place.

    ``draw`` > 0 takes an independent sub-stream of the same seed (a random
    reinitialization of that network: new weights, sharing nothing with draw 0).

    Conv and linear weights: Kaiming normal, fan-in (open_lth ``kaiming_normal``);
    their biases: PyTorch's default U(-1/√fan_in, 1/√fan_in); batch norm: γ ~ U[0, 1), β = 0
    (open_lth ``bn_initializers.uniform``). Every draw comes from one seeded generator,
    never from the global random state.
    """
    g = generator("init", seed, draw) if draw else generator("init", seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(module.weight, generator=g)
                if module.bias is not None:
                    bound = 1 / math.sqrt(nn.init._calculate_correct_fan(module.weight, "fan_in"))
                    nn.init.uniform_(module.bias, -bound, bound, generator=g)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                nn.init.uniform_(module.weight, 0, 1, generator=g)
                nn.init.zeros_(module.bias)
    return model


def build(name: str, seed: int | None = None, draw: int = 0) -> nn.Module:
    """The network ``name``, initialized from seed ``seed`` (None: left as constructed;
    ``draw``: see ``initialize``)."""
    for builder in BUILDERS:
        model = builder(name)
        if model is not None:
            return initialize(model, seed, draw) if seed is not None else model
    raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(KNOWN)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the paper's Table 1 "Params")."""
    return sum(p.numel() for p in model.parameters())
