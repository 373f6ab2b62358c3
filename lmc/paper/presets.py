"""Presets: the size of every experiment, from seconds (``smoke``) to the paper's (``paper``).

``smoke`` is for CI: a few hundred steps on a data subset, 5 α, one pair.
``quick`` is the default, sized so that the whole book runs on a 2-core CPU in under
45 minutes: LeNet-300-100 on all of MNIST with Table 1's recipe but an eighth of its
schedule (3,000 of 24,000 iterations), the Fashion-MNIST stand-in, 3 initializations × 2
data-order pairs in chapter 01 and one initialization × 2 pairs elsewhere (two draws: every
number a conclusion rests on has a spread).
``paper`` is the paper's protocol: Table 1's schedules, 3 initializations × 3 pairs = 9 pairs, 30 α.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import choose
from ..core.hparams import Hparams


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
    schedules: dict = field(default_factory=dict)     # model -> recipe fields it replaces (see recipe)
    eval_train_size: int | None = None  # other models: measure train error on the first N (None: all trained on)

    def recipe(self, hp: Hparams) -> Hparams:
        """Table 1's recipe ``hp`` resized by the preset: its T (``training_steps``, for every
        network), then the network's own replacements (``schedules``), and its training subset
        (a recipe's own ``train_subset`` stays where the preset has none)."""
        subset = self.train_subset if self.train_subset is not None else hp.train_subset
        hp = hp.replace(training_steps=self.training_steps or hp.training_steps, train_subset=subset)
        return hp.replace(**self.schedules.get(hp.model, {}))

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
        return self.eval_train_subsets.get(model, self.eval_train_size or self.train_subset)


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
    # quick: the whole book in under 45 minutes on 2 CPU cores. LeNet-300-100 trains an eighth
    # of Table 1's schedule (3,000 iterations, 3 epochs of MNIST; 6-10 s a run, so IMP's 15
    # rounds take 2 minutes instead of 20); chapter 01 at 3 seeds, the rewind curves at one; the
    # conv stand-in (reported.STAND_INS) on 11 α and a 10,000-example train-error subset.
    "quick": Preset("quick", None, None, None, n_init=3, n_pairs=2, n_alpha=30,
                    schedules={"lenet_300_100": {"training_steps": "3000it"}},
                    curves={"lenet_300_100": {"rewind_steps": ("0", "100", "500", "2000"), "n_init": 1},
                            "fmnist_resnet_20_4": {"rewind_steps": ("0", "25", "50", "100"), "n_init": 1,
                                                   "n_alpha": 11}},
                    eval_train_subsets={"fmnist_resnet_20_4": 10_000},
                    sparse_curves={"lenet_300_100": {"rewind_steps": ("0", "500"), "grid_levels": (3, 7, 15)},
                                   "fmnist_resnet_20_4": {"rewind_steps": ("0", "50"), "grid_levels": (2, 4)}}),
    "paper": Preset("paper", None, None, None, n_init=3, n_pairs=3, n_alpha=30,
                    models=("lenet_300_100", "cifar_resnet_20", "cifar_vgg_16",
                            "imagenet_resnet_50", "imagenet_inception_v3")),
}
DEFAULT = "quick"


def get(name: str) -> Preset:
    """The preset called ``name`` (a ConfigError lists the valid ones)."""
    return PRESETS[choose("preset", name, PRESETS)]
