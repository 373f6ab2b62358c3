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
    models: tuple[str, ...] = ("lenet_300_100", "fmnist_resnet_20_4")  # networks chapters 02-03 show
    curves: dict = field(default_factory=dict)       # model -> sizes of its rewind curves (see curve)
    eval_train_subsets: dict = field(default_factory=dict)  # model -> measure train error on first N
    sparse_curves: dict = field(default_factory=dict)  # model -> sizes of the IMP chapters 05-06 (see sparse)

    def curve(self, model: str) -> dict:
        """Sizes of the rewind curves of chapters 02-03 for ``model``: ``rewind_steps``,
        ``init_seeds`` and ``n_alpha`` (the paper's k grid and the preset's sizes by default)."""
        sizes = {"rewind_steps": PAPER_GRID.get(model, PAPER_GRID["cifar"]),
                 "n_init": self.n_init, "n_alpha": self.n_alpha, **self.curves.get(model, {})}
        return {"rewind_steps": list(sizes["rewind_steps"]), "init_seeds": list(range(sizes["n_init"])),
                "n_alpha": sizes["n_alpha"]}

    def sparse(self, model: str, levels: int) -> dict:
        """Sizes of the IMP chapters 05-06 for ``model`` pruned to ``levels`` rounds: the rewind
        steps of Figures 6-7 and the IMP levels of Figure 8's density grid (default: the curve's
        k grid and every level from 1 to ``levels`` + 4, past the Table 1 density into range III)."""
        sizes = {**self.curve(model), "grid_levels": tuple(range(1, levels + 5)),
                 **self.sparse_curves.get(model, {})}
        if "n_init" in sizes:
            sizes["init_seeds"] = list(range(sizes.pop("n_init")))
        return {**sizes, "rewind_steps": list(sizes["rewind_steps"]), "grid_levels": list(sizes["grid_levels"])}

    def eval_train_subset(self, model: str) -> int | None:
        """How many training examples the train error is measured on (None: all used in training)."""
        return self.eval_train_subsets.get(model, self.train_subset)


# Rewind steps k of the paper's Figure 3 (iterations; epochs for ImageNet).
PAPER_GRID = {
    "lenet_300_100": ("0", "25", "50", "100", "250", "500", "1000", "2000"),
    "cifar": ("0", "25", "50", "100", "250", "500", "1000", "2000", "4000", "8000"),
    "imagenet_resnet_50": ("0ep", "2ep", "4ep", "6ep", "8ep", "10ep", "12ep", "14ep", "16ep", "18ep", "20ep"),
    "imagenet_inception_v3": ("0ep", "4ep", "8ep", "12ep", "16ep", "20ep", "24ep", "28ep", "32ep"),
}

PRESETS = {
    "smoke": Preset("smoke", "300it", 3000, 1000, n_init=1, n_pairs=1, n_alpha=5,
                    models=("lenet_300_100",),
                    curves={"lenet_300_100": {"rewind_steps": ("0", "100")},
                            "fmnist_resnet_20_4": {"rewind_steps": ("0", "100")}},
                    sparse_curves={"lenet_300_100": {"grid_levels": (5, 15)}}),
    # quick: chapter 01 at 3 seeds; the rewind curves at one seed, and the conv stand-in
    # (about 11 steps/s and 2,500 evaluated images/s on 2 CPU cores) on 11 α and a
    # 10,000-example train-error subset, so that the whole book fits in under an hour.
    "quick": Preset("quick", None, None, None, n_init=3, n_pairs=1, n_alpha=30,
                    curves={"lenet_300_100": {"rewind_steps": ("0", "100", "500", "2000"), "n_init": 1},
                            "fmnist_resnet_20_4": {"rewind_steps": ("0", "100", "300"), "n_init": 1,
                                                   "n_alpha": 11}},
                    eval_train_subsets={"fmnist_resnet_20_4": 10_000},
                    # IMP chapters: every k is 15 LeNet trainings (about 20 min here) before its copies
                    sparse_curves={"lenet_300_100": {"rewind_steps": ("0", "500"), "grid_levels": (3, 7, 15)},
                                   "fmnist_resnet_20_4": {"rewind_steps": ("0", "100"), "grid_levels": (2, 4)}}),
    "paper": Preset("paper", None, None, None, n_init=3, n_pairs=3, n_alpha=30,
                    models=("lenet_300_100", "cifar_resnet_20", "cifar_vgg_16",
                            "imagenet_resnet_50", "imagenet_inception_v3")),
}
DEFAULT = "quick"


def get(name: str) -> Preset:
    """The preset called ``name`` (a ConfigError lists the valid ones)."""
    return PRESETS[choose("preset", name, PRESETS)]
