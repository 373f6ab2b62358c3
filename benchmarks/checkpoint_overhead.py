"""What resume points cost: LeNet-300-100 steps/s with a resume point every N steps vs none.

Trains the same run (LeNet-300-100, Adam, real MNIST) through ``lmc.core.train.state_at`` in
fresh throwaway caches, once without resume points and once per N, alternating the
settings over ``--repeats`` rounds so that a busy machine slows them alike; prints the
median steps/s of each and its ratio to the run without resume points. Each resume
point is a checksummed, fsynced write of weights and Adam state (about 3.2 MB).

    python benchmarks/checkpoint_overhead.py [--steps 2000] [--every 10 50 200 1000] [--repeats 3]
"""

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lmc.core import data, hparams, models, store, train


def seconds(hp: hparams.Hparams, steps: int, every: int | None) -> float:
    """Wall time of training ``steps`` steps from scratch in a fresh cache."""
    with tempfile.TemporaryDirectory(prefix="lmc-bench-") as root:
        run = store.open_run(train.run_config(hp, data_seed=0, init_seed=0), Path(root))
        start = time.perf_counter()
        train.state_at(run, steps, progress=False, resume_every=every or steps + 1)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps per measurement")
    parser.add_argument("--every", type=int, nargs="+", default=[10, 50, 200, 1000],
                        help="resume point intervals N to compare (state_at's default is 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hp = hparams.Hparams(training_steps=f"{args.steps}it")
    data.load(hp.dataset, "cpu", None, None, models.IMAGE_SIZE.get(hp.model))  # read once, not timed
    settings = [None, *args.every]
    times = {s: [] for s in settings}
    seconds(hp, 50, None)  # warm up
    for _ in range(args.repeats):
        for s in settings:
            times[s].append(seconds(hp, args.steps, s))
    print(f"# {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"torch {torch.__version__}, LeNet-300-100 on MNIST, {args.steps} steps, "
          f"median of {args.repeats}")
    none = statistics.median(times[None])
    print(f"{'resume point every':>20s} {'steps/s':>9s} {'ratio to none':>14s} {'ms per point':>13s}")
    for s in settings:
        median = statistics.median(times[s])
        points = len(range(s, args.steps, s)) if s else 0
        cost = f"{1000 * (median - none) / points:13.1f}" if points else f"{'':13s}"
        print(f"{'none' if s is None else f'{s} steps':>20s} {args.steps / median:9.1f} "
              f"{none / median:14.3f} {cost}")


if __name__ == "__main__":
    main()
