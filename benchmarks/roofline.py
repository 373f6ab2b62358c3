"""How close LeNet-300-100 training comes to this CPU's matrix-multiply speed, in one run.

Prints, side by side and measured interleaved (each keeps its fastest round):

- the roofline: a large fp32 matrix product (``--size``², default 4096) with all cores as
  torch threads, in GFLOP/s (2·n³ floating-point operations);
- LeNet-shaped products with all cores: one layer's 60×784 · 784×300 and the same for 18
  members at once (``torch.bmm``), the shapes a LeNet step and a LeNet population multiply;
- LeNet-300-100 training through ``lmc.core.loop.train`` (Table 1: batch 60, Adam), as the paper
  archive runs it: ``--jobs`` processes of cores / jobs threads each, and one process with
  all cores; steps/s of all processes together, turned into GFLOP/s with the step's
  arithmetic (below), and that as a share of the roofline.

The arithmetic of one training step is counted from the model's layers, not assumed:
forward 2·B·Σ in·out; backward the same again for the weight gradients plus 2·B·Σ in·out
over every layer but the first for the input gradients (the images need none). The
"3 × forward" convention (an issue's back-of-the-envelope figure) over-counts LeNet by the
first layer's input gradient; both are printed. Adam's update (about 10 operations per
weight) is left out: 2.7 MFLOP against 68 MFLOP of products.

    python benchmarks/roofline.py [--size 4096] [--steps 2000] [--jobs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from parallel_jobs import timed
from timing import interleaved

BATCH, LAYERS = 60, [(784, 300), (300, 100), (100, 10)]  # Table 1's LeNet-300-100


def step_flop(batch: int = BATCH, layers=LAYERS) -> tuple[float, float]:
    """(counted, 3 × forward) floating-point operations of one training step."""
    forward = 2 * batch * sum(i * o for i, o in layers)
    input_grads = 2 * batch * sum(i * o for i, o in layers[1:])
    return forward + forward + input_grads, 3 * forward


def matmul_rates(size: int, rounds: int) -> dict[str, float]:
    """GFLOP/s of a ``size``² product, LeNet's first layer, and 18 of it batched."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    x, w = torch.randn(BATCH, 784, generator=g), torch.randn(784, 300, generator=g)
    xs, ws = torch.randn(18, BATCH, 784, generator=g), torch.randn(18, 784, 300, generator=g)
    repeat = 2000  # the small products, so one timing lasts long enough to measure
    work = {"large": 2 * size ** 3, "lenet layer": 2 * BATCH * 784 * 300 * repeat,
            "lenet layer ×18": 18 * (repeat // 18) * 2 * BATCH * 784 * 300}

    def small():
        for _ in range(repeat):
            torch.mm(x, w)

    def batched():
        for _ in range(repeat // 18):
            torch.bmm(xs, ws)

    torch.mm(a, b), small(), batched()  # warm-up
    best = interleaved({"large": lambda: torch.mm(a, b), "lenet layer": small, "lenet layer ×18": batched},
                       rounds=rounds)
    return {name: work[name] / seconds / 1e9 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=2000, help="training steps per process")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    counted, convention = step_flop()
    print(f"# {os.uname().machine}, {cores} cores, torch {torch.__version__}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# one LeNet step: {counted / 1e6:.1f} MFLOP counted ({convention / 1e6:.1f} by 3 × forward)")
    rates = matmul_rates(args.size, args.rounds)
    roof = rates["large"]
    print(f"{'what':44s} {'GFLOP/s':>9s} {'of roofline':>12s}")
    for name, rate in rates.items():
        label = {"large": f"matmul {args.size}² ({cores} threads)"}.get(name, f"matmul {name} ({cores} threads)")
        print(f"{label:44s} {rate:9.1f} {rate / roof:12.0%}")
    threads = max(1, cores // args.jobs)
    one, many = float("inf"), float("inf")
    for _ in range(args.rounds):
        one = min(one, timed("lenet_300_100", args.steps, 1, cores))
        many = min(many, timed("lenet_300_100", args.steps, args.jobs, threads))
    for label, steps_per_s in [(f"lmc LeNet training, 1 × {cores} threads", args.steps / one),
                               (f"lmc LeNet training, {args.jobs} × {threads} thread(s)", args.jobs * args.steps / many)]:
        rate = steps_per_s * counted / 1e9
        print(f"{label:44s} {rate:9.1f} {rate / roof:12.0%}   ({steps_per_s:.0f} steps/s; "
              f"{steps_per_s * convention / 1e9:.1f} GFLOP/s, {steps_per_s * convention / 1e9 / roof:.0%} by 3 × forward)")


if __name__ == "__main__":
    main()
