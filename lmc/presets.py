"""Presets: the size of every experiment, from seconds (``smoke``) to the paper's (``paper``).

``smoke`` is for CI: a few hundred steps on a data subset, 5 α, one pair.
``quick`` is the default: the full Table 1 schedule, 3 initializations × 1 data-order pair.
``paper`` is the paper's protocol: 3 initializations × 3 pairs = 9 pairs, 30 α.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import choose


@dataclass(frozen=True)
class Preset:
    """How large an experiment is; None keeps the paper's value."""

    name: str
    training_steps: str | None  # replaces Table 1's T (None: the paper's T)
    train_subset: int | None    # train and evaluate on the first N training examples
    test_subset: int | None     # evaluate on the first N test examples
    n_init: int                 # initializations (seeds 0..n_init-1)
    n_pairs: int                # data-order pairs per initialization
    n_alpha: int                # points on the interpolation path
    rewind_steps: dict = field(default_factory=dict)  # model -> k grid for chapters 02-03
    models: tuple[str, ...] = ("lenet_300_100", "fmnist_resnet_20_4")  # networks chapters 02-03 show

    def rewind_grid(self, model: str) -> tuple[str, ...]:
        """The rewind steps k this preset uses for ``model`` (the paper's grid by default)."""
        return self.rewind_steps.get(model, PAPER_GRID.get(model, PAPER_GRID["cifar"]))


# Rewind steps k of the paper's Figure 3 (iterations; epochs for ImageNet).
PAPER_GRID = {
    "lenet_300_100": ("0", "25", "50", "100", "250", "500", "1000", "2000"),
    "cifar": ("0", "25", "50", "100", "250", "500", "1000", "2000", "4000", "8000"),
    "imagenet_resnet_50": ("0ep", "2ep", "4ep", "6ep", "8ep", "10ep", "12ep", "14ep", "16ep", "18ep", "20ep"),
    "imagenet_inception_v3": ("0ep", "4ep", "8ep", "12ep", "16ep", "20ep", "24ep", "28ep", "32ep"),
}

PRESETS = {
    "smoke": Preset("smoke", "300it", 3000, 1000, n_init=1, n_pairs=1, n_alpha=5,
                    rewind_steps={"lenet_300_100": ("0", "100"), "fmnist_resnet_20_4": ("0", "100")},
                    models=("lenet_300_100",)),
    "quick": Preset("quick", None, None, None, n_init=3, n_pairs=1, n_alpha=30,
                    rewind_steps={"lenet_300_100": ("0", "500", "2000"),
                                  "fmnist_resnet_20_4": ("0", "50", "200", "600")}),
    "paper": Preset("paper", None, None, None, n_init=3, n_pairs=3, n_alpha=30,
                    models=("lenet_300_100", "cifar_resnet_20", "cifar_vgg_16",
                            "imagenet_resnet_50", "imagenet_inception_v3")),
}
DEFAULT = "quick"


def get(name: str) -> Preset:
    """The preset called ``name`` (a ConfigError lists the valid ones)."""
    return PRESETS[choose("preset", name, PRESETS)]
