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

    def __init__(self, plan: tuple[int, ...], num_classes: int = 10, input_size: int = 784):
        super().__init__()
        sizes = (input_size, *plan)
        self.fc_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.fc = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.fc_layers:
            x = F.relu(layer(x))
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


BUILDERS = [lenet]
KNOWN = ["lenet_300_100"]  # listed in error messages; builders accept more (lenet_N_M...)


def prunable_layer_names(model: nn.Module) -> list[str]:
    """Weights of conv and linear layers: what IMP may prune (open_lth ``models/base.py``)."""
    return [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def initialize(model: nn.Module, seed: int) -> nn.Module:
    """Draw the model's initial weights from the ``init`` stream of ``seed``, in place.

    Conv and linear weights: Kaiming normal, fan-in (open_lth ``kaiming_normal``);
    their biases: PyTorch's default U(-1/√fan_in, 1/√fan_in); batch norm: γ ~ U[0, 1), β = 0
    (open_lth ``bn_initializers.uniform``). Every draw comes from one seeded generator,
    never from the global random state.
    """
    g = generator("init", seed)
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


def build(name: str, seed: int | None = None) -> nn.Module:
    """The network ``name``, initialized from seed ``seed`` (None: left as constructed)."""
    for builder in BUILDERS:
        model = builder(name)
        if model is not None:
            return initialize(model, seed) if seed is not None else model
    raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(KNOWN)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the paper's Table 1 "Params")."""
    return sum(p.numel() for p in model.parameters())
