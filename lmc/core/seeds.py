"""Named random streams: every source of randomness has its own seeded stream.

One experiment seed gives independent streams for ``init`` (weights), ``data_order``
(the permutation of the training set in each epoch), ``augment``, ``prune``,
``perturb`` and ``task`` (the early-phase perturbations and altered tasks of ``lmc.studies.early_phase``).
Extra integer keys (an initialization index, a copy, an epoch) give independent
sub-streams, so changing one never shifts the numbers drawn by another.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

STREAMS = ("init", "data_order", "augment", "prune", "perturb", "task")


def derive(stream: str, *keys: int) -> int:
    """Seed of the named stream at ``keys``: a 63-bit integer for ``torch.Generator``."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; streams: {', '.join(STREAMS)}")
    if any(int(k) < 0 for k in keys):
        raise ValueError(f"stream keys must be non-negative integers, got {keys}")
    sequence = np.random.SeedSequence(entropy=zlib.crc32(stream.encode()),
                                      spawn_key=tuple(int(k) for k in keys))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def generator(stream: str, *keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded for the named stream at ``keys``."""
    return torch.Generator().manual_seed(derive(stream, *keys))
