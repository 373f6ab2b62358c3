"""Altered training tasks (Frankle, Schwab & Morcos, ICLR 2020, §5): the training set with
random labels, rotation prediction or blurred images, in place of the data set's own.

A task is part of a run's identity (``lmc.core.train.run_config(task=...)``); the run trains
on ``apply(dataset, task, seed)`` (``lmc.core.train.training_data``). The test set is left
as it is.
"""

from __future__ import annotations

import dataclasses

import torch

from . import data
from .errors import ConfigError, choose
from .seeds import generator

TASKS = ("random_labels", "rotation", "blur")  # Frankle et al. 2020 §5
BLUR_FACTOR = 4   # "downsampling by 4x then upsampling back to the full size"
ROTATIONS = 4     # rotation by 90·n degrees, n in 0..3: predicted with the first 4 logits of the head


def apply(dataset: data.DeviceData, task: str, seed: int) -> data.DeviceData:
    """The training set altered for ``task`` (the test set is left as it is).

    ``random_labels``: every training example gets a label drawn uniformly at random, fixed for
    the whole run. ``rotation``: every example is rotated by 90·n degrees (n uniform in 0..3,
    fixed per example) and labelled n; the network predicts n with the first 4 of its 10
    logits (the same head, no new layer). ``blur``: every image is average-pooled by 4 and
    upsampled back (bilinear), labels kept. Draws come from the ``task`` stream of ``seed``.
    Rotation switches off the horizontal-flip augmentation (a flip turns a 90° rotation into a
    270° one, so the label would be wrong); random crops stay.
    """
    choose("task", task, TASKS)
    if not isinstance(dataset, data.DeviceData):
        raise ConfigError(f"task {task!r} needs an in-memory data set, not the streamed {dataset.name!r}")
    x, y = dataset.train_x, dataset.train_y
    g = generator("task", int(seed), TASKS.index(task))
    if task == "random_labels":
        y = torch.randint(0, dataset.num_classes, (len(y),), generator=g).to(y.device)
    elif task == "rotation":
        n = torch.randint(0, ROTATIONS, (len(y),), generator=g).to(y.device)
        x = x.clone()
        for r in range(1, ROTATIONS):
            x[n == r] = torch.rot90(x[n == r], r, dims=(2, 3))
        y = n
        return dataclasses.replace(dataset, train_x=x, train_y=y, flip=False)
    else:
        size = x.shape[-2:]
        x = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, BLUR_FACTOR), size=size,
                                            mode="bilinear", align_corners=False)
    return dataclasses.replace(dataset, train_x=x, train_y=y)
