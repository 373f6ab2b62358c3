"""Hyperparameters and time: ``Hparams`` (everything that determines a training run's numbers,
one row of the paper's Table 1) and its steps.

Time has a type: steps are written ``"500it"``, ``"2ep"`` or ``"1ep500it"`` and converted
with the data set's iterations per epoch in one place (``to_steps``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from . import data, identity, models
from .identity import always
from .errors import ConfigError, choose

OPTIMIZERS = ("adam", "sgd")
# What a copy that starts from another run's state at step k does with that run's optimizer state
# (Adam's moments, SGD's momentum buffer). "fresh" (the default, for every kind of copy: dense,
# IMP, random pruning): a new optimizer, as in open_lth, where a branch or level loads only the
# model's weights at k (models.registry.load) and standard_train builds a new optimizer
# (training/train.py). "inherit": the copy continues the parent's optimizer state.
OPTIMIZER_AT_K = ("fresh", "inherit")
PRECISIONS = ("float32", "bf16")


@dataclass(frozen=True)
class Hparams:
    """Everything that determines a training run's numbers (one row of the paper's Table 1)."""

    # The fields of the first release enter every identity (``always``): stored runs were hashed with
    # them, null or not. Fields added since enter only when set (open_lth's rule, ``lmc.core.identity``).
    model: str = always("lenet_300_100")     # network name in lmc.core.models
    dataset: str = always("mnist")           # data set name in data_manifest.yaml
    optimizer: str = always("adam")          # "adam" or "sgd" (with momentum)
    lr: float = always(1.2e-3)               # peak learning rate
    momentum: float = always(0.0)            # SGD momentum
    weight_decay: float = always(0.0)        # L2 penalty added by the optimizer
    batch_size: int = always(60)             # examples per step
    training_steps: str = always("24000it")  # T, as a step string
    lr_drops: tuple[str, ...] = always(())   # steps at which the learning rate is multiplied by gamma
    gamma: float = always(0.1)               # learning-rate drop factor
    warmup_steps: str = always("0it")        # linear warmup from 0 to lr over this many steps
    lr_end: float | None = None              # if set: after warmup, decay linearly to lr_end at T
    train_subset: int | None = always(None)  # train on the first N training examples only (smoke tests)
    image_size: int | None = None            # images average-pooled to this side (None: the data set's own)

    def __post_init__(self):
        choose("optimizer", self.optimizer, OPTIMIZERS)
        if self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"batch_size must be ≥ 1 and lr > 0, got {self.batch_size} and {self.lr}")
        for s in (self.training_steps, self.warmup_steps, *self.lr_drops):
            parse_step(s)

    def replace(self, **changes) -> "Hparams":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """The recipe's identity, JSON-able (for hashing and provenance; ``identity.as_dict``)."""
        return identity.as_dict(self)


_STEP = re.compile(r"^\s*(?:(\d+)\s*ep)?\s*(?:(\d+)\s*it)?\s*$")


def parse_step(step: str | int) -> tuple[int, int]:
    """(epochs, iterations) of a step string such as ``"2ep"``, ``"500it"`` or ``"1ep500it"``.

    A bare non-negative integer (or a string of digits) counts iterations.
    """
    if isinstance(step, str) and step.strip().isdigit():
        step = int(step)
    if isinstance(step, int) and not isinstance(step, bool) and step >= 0:
        return 0, step
    m = _STEP.match(step) if isinstance(step, str) else None
    if not m or not (m.group(1) or m.group(2)):
        raise ConfigError(f"malformed step {step!r}; write steps as '500it', '2ep' or '1ep500it'")
    return int(m.group(1) or 0), int(m.group(2) or 0)


def iterations_per_epoch(hp: Hparams, train_size: int) -> int:
    """Steps in one pass over the training set (the last batch of an epoch may be partial)."""
    return math.ceil(train_size / hp.batch_size)


def train_size(hp: Hparams) -> int:
    """Number of training examples the recipe trains on (its subset, or the whole training set)."""
    return hp.train_subset or data.entry(hp.dataset)["splits"]["train"]["size"]


def image_size(hp: Hparams) -> int | None:
    """The side of the recipe's input images: its ``image_size``, else the model's for streamed
    data sets (``models.IMAGE_SIZE``), else None (the data set's own)."""
    return hp.image_size or models.IMAGE_SIZE.get(hp.model)


def to_steps(step: str | int, hp: Hparams, train_size: int) -> int:
    """A step string converted to a number of iterations."""
    epochs, its = parse_step(step)
    return epochs * iterations_per_epoch(hp, train_size) + its


def iterations(hp: Hparams, step: str | int) -> int:
    """``step`` of the recipe ``hp`` in iterations (epochs count its training set: ``train_size``)."""
    return to_steps(step, hp, train_size(hp))


def total_steps(hp: Hparams) -> int:
    """T: the training length of ``hp`` in iterations (epochs count its full training set)."""
    return to_steps(hp.training_steps, hp, train_size(hp))
