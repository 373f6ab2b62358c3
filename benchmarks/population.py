"""A population of P networks against the same P trained one after another.

Trains P runs of one network (LeNet-300-100 by default: P = 18 is one rewind step of
the ``paper`` preset, 9 pairs × 2 copies) for ``--steps`` steps each, as one population
(``lmc.core.population.train_population``) and one at a time with ``lmc.core.loop.train``,
interleaved in one process. Prints model-steps/s for both and the ratio.

    python benchmarks/population.py [--model lenet_300_100] [--members 18] [--steps 200] [--device cpu]
"""

import argparse

import torch
from timing import interleaved, machine

from lmc.core import data, loop, models, population
from lmc.paper import reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet_300_100")
    parser.add_argument("--members", type=int, nargs="+", default=[18])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    hp = reported.setting(args.model, "standard").hparams
    dataset = data.load(hp.dataset, args.device)
    print(machine(args.device))
    print(f"{'model':20s} {'P':>3s} {'one at a time':>14s} {'population':>11s} {'ratio':>6s}   (model-steps/s)")
    for p in args.members:
        inits = [models.build(args.model, seed=s).state_dict() for s in range(p)]

        def alone():
            for s in range(p):
                net = models.build(args.model).to(args.device)
                net.load_state_dict(inits[s])
                loop.train(hp, net, loop.make_optimizer(hp, net.parameters()), dataset, s, 0, args.steps,
                           progress=False)

        def together():
            population.train_population(hp, inits, [None] * p, dataset, list(range(p)), list(range(p)),
                                        0, args.steps, progress=False)

        best = interleaved({"alone": alone, "together": together}, args.rounds, args.device)
        rate = {k: p * args.steps / v for k, v in best.items()}
        print(f"{args.model:20s} {p:3d} {rate['alone']:14.1f} {rate['together']:11.1f} "
              f"{rate['together'] / rate['alone']:6.2f}")
        if args.device.startswith("cuda"):
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB, "
                  f"budget estimate {p * population.member_bytes(hp) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
