"""Presets: the size of every experiment, from seconds (``smoke``) to the paper's (``paper``).

``smoke`` is for CI: a few hundred steps on a data subset, 5 α, one pair.
``quick`` is the default: the full Table 1 schedule, 3 initializations × 1 data-order pair.
``paper`` is the paper's protocol: 3 initializations × 3 pairs = 9 pairs, 30 α.
"""

from __future__ import annotations

from dataclasses import dataclass

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


PRESETS = {
    "smoke": Preset("smoke", "300it", 3000, 1000, n_init=1, n_pairs=1, n_alpha=5),
    "quick": Preset("quick", None, None, None, n_init=3, n_pairs=1, n_alpha=30),
    "paper": Preset("paper", None, None, None, n_init=3, n_pairs=3, n_alpha=30),
}
DEFAULT = "quick"


def get(name: str) -> Preset:
    """The preset called ``name`` (a ConfigError lists the valid ones)."""
    return PRESETS[choose("preset", name, PRESETS)]
