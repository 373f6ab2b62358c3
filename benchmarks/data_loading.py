"""LeNet-300-100 on MNIST, batch 60: lmc's training loop against the two usual ways.

1. ``dataloader``: ``torchvision.datasets.MNIST`` with ``ToTensor`` and ``Normalize``
   transforms behind a shuffling ``DataLoader`` (the common way; no workers, as on a
   laptop notebook), Adam.
2. ``tensor loop``: one pre-normalized tensor on the device, a ``randperm`` per epoch,
   batches by indexing; the same fused Adam as lmc (the floor of what a Python loop costs).
3. ``lmc``: ``lmc.core.loop.train`` (seeded per-epoch orders, learning-rate schedule, progress).

All three run interleaved in one process; each keeps its fastest of ``--rounds`` rounds.

    python benchmarks/data_loading.py [--steps 1000] [--rounds 3]
"""

import argparse

import torch
import torch.nn.functional as F
import torchvision
from timing import interleaved, machine
from torchvision import transforms

from lmc.core import data, hparams, loop, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hp = hparams.Hparams()
    steps = args.steps
    mnist = data.load("mnist", "cpu")
    info = data.entry("mnist")["normalize"]
    folder = data.data_dir()
    tv = torchvision.datasets.MNIST(str(folder), train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(info["mean"], info["std"])]))

    def plain_loop(optimizer_of, epochs):
        """Train ``steps`` steps over the batches that ``epochs()`` yields, epoch after epoch."""
        net = models.build(hp.model, seed=0)
        optimizer = optimizer_of(net.parameters())
        done = 0
        while done < steps:
            for x, y in epochs():
                loss = F.cross_entropy(net(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                done += 1
                if done == steps:
                    return

    loader = torch.utils.data.DataLoader(tv, batch_size=hp.batch_size, shuffle=True)

    def dataloader():
        plain_loop(lambda p: torch.optim.Adam(p, lr=hp.lr), lambda: loader)

    def tensor_batches():
        order = torch.randperm(len(mnist.train_x))
        for i in range(0, len(order), hp.batch_size):
            idx = order[i:i + hp.batch_size]
            yield mnist.train_x[idx], mnist.train_y[idx]

    def tensor_loop():
        plain_loop(lambda p: loop.make_optimizer(hp, p), tensor_batches)

    def lmc_loop():
        net = models.build(hp.model, seed=0)
        loop.train(hp, net, loop.make_optimizer(hp, net.parameters()), mnist, 0, 0, steps, progress=False)

    print(machine("cpu"))
    best = interleaved({"dataloader": dataloader, "tensor loop": tensor_loop, "lmc": lmc_loop}, args.rounds)
    rate = {name: steps / t for name, t in best.items()}
    for name, r in rate.items():
        print(f"{name:12s} {r:8.1f} steps/s")
    print(f"lmc / dataloader  = {rate['lmc'] / rate['dataloader']:.2f}  (target ≥ 5)")
    print(f"lmc / tensor loop = {rate['lmc'] / rate['tensor loop']:.2f}  (target ≥ 0.90)")


if __name__ == "__main__":
    main()
