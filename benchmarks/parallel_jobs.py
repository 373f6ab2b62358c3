"""Why ``lmc book --jobs 2`` on 2 cores: two 1-thread trainings at once versus one training
with both threads, for LeNet-300-100 and the stand-in, in the same run.

Each round times one process training ``--steps`` steps with all cores as torch threads,
then ``--jobs`` processes training ``--steps`` steps each at once with cores / jobs threads;
the ratio is steps per second of all the processes together over the one process's.
Synthetic tensors of each data set's shape (as ``train_speed.py``).

    python benchmarks/parallel_jobs.py [--jobs 2] [--steps N] [--rounds 2]
"""

import argparse
import os
import subprocess
import sys
import time

from timing import machine

STEPS = {"lenet_300_100": 1000, "fmnist_resnet_20_4": 200}  # a few seconds of training each

CHILD = """
import sys, torch
sys.path.insert(0, {here!r})
from train_speed import synthetic
from lmc.core import hparams, loop, models
from lmc.paper import reported
model, steps = sys.argv[1], int(sys.argv[2])
hp = reported.setting(model).hparams
net = models.build(model, seed=0)
dataset = synthetic(hp.dataset, hp.batch_size * (steps + 3), "cpu", hparams.image_size(hp))
optimizer = loop.make_optimizer(hp, net.parameters())
loop.train(hp, net, optimizer, dataset, 0, 0, 3, progress=False)
print("ready", flush=True)
sys.stdin.readline()
loop.train(hp, net, optimizer, dataset, 0, 3, 3 + steps, progress=False)
print("done", flush=True)
"""


def timed(model: str, steps: int, processes: int, threads: int) -> float:
    """Seconds for ``processes`` processes of ``threads`` threads to train ``steps`` steps each,
    from the moment all have loaded (start-up is not counted)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    code = CHILD.format(here=os.path.dirname(os.path.abspath(__file__)))
    children = [subprocess.Popen([sys.executable, "-c", code, model, str(steps)], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(processes)]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:  # the clock stops when the last has trained, not when it has exited
        assert child.stdout.readline().strip() == "done"
    seconds = time.perf_counter() - start
    for child in children:
        child.wait()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, help="steps per process (default: LeNet 1,000, stand-in 200)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["lenet_300_100", "fmnist_resnet_20_4"])
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(machine("cpu").replace(f"{os.cpu_count()} threads", f"{cores} cores"))
    print(f"{'model':22s} {'steps':>6s} {'1 × ' + str(cores) + ' threads (steps/s)':>24s} "
          f"{str(args.jobs) + ' × ' + str(max(1, cores // args.jobs)) + ' threads (steps/s)':>24s} {'ratio':>6s}")
    for model in args.models:
        steps = args.steps or STEPS.get(model, 200)
        one, many = float("inf"), float("inf")
        for _ in range(args.rounds):  # interleaved; each keeps its fastest round
            one = min(one, timed(model, steps, 1, cores))
            many = min(many, timed(model, steps, args.jobs, max(1, cores // args.jobs)))
        single, together = steps / one, args.jobs * steps / many
        print(f"{model:22s} {steps:6d} {single:24.1f} {together:24.1f} {together / single:6.2f}")


if __name__ == "__main__":
    main()
