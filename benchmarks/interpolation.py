"""The interpolation grid: all α evaluated together (``evaluate_path``) versus a loop over α.

Evaluates the path between two networks of one architecture on the 10,000 test images
of its data set, 30 α, both ways, interleaved in one run; prints seconds and the ratio,
and checks that both ways count the same errors. For LeNet, whose path ``evaluate_path``
writes out layer by layer, the generic ``vmap`` path is timed beside it.

    python benchmarks/interpolation.py [--models lenet_300_100 fmnist_resnet_20_4] [--alphas 30]
"""

import argparse

import numpy as np
from timing import interleaved, machine

from lmc.core import data, hparams, interpolate, models
from lmc.paper import reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet_300_100", "fmnist_resnet_20_4"])
    parser.add_argument("--alphas", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(machine(args.device))
    print(f"{'model':22s} {'α':>3s} {'loop (s)':>9s} {'batched (s)':>12s} {'ratio':>6s}  max |Δ error| (pp)")
    grid = interpolate.alphas(args.alphas)
    for name in args.models:
        hp = reported.setting(name, "standard").hparams
        dataset = data.load(hp.dataset, args.device, image_size=hparams.image_size(hp))
        a, b = (models.build(name, seed=s).to(args.device).state_dict() for s in (0, 1))
        net = models.build(name).to(args.device)
        out = {}

        def loop():
            out["loop"] = [interpolate.evaluate(net, interpolate.interpolate(a, b, al),
                                                dataset.eval_batches("test"))[0] for al in grid]

        def batched():
            out["batched"] = interpolate.evaluate_path(
                net, a, b, grid, dataset.eval_batches("test", interpolate.PATH_BATCH))[0]

        def generic():  # the vmap population that evaluate_path uses for every other network
            out["generic"] = interpolate._vmap_path(
                net, a, b, grid, dataset.eval_batches("test", interpolate.PATH_BATCH))[0]

        ways = {"loop": loop, "batched": batched}
        if isinstance(net, models.LeNet):  # evaluate_path has LeNet's chain of layers written out
            ways["generic"] = generic
        best = interleaved(ways, args.rounds, args.device)
        gap = max(np.abs(np.array(out["loop"]) - out[way]).max() for way in ways if way != "loop")
        print(f"{name:22s} {len(grid):3d} {best['loop']:9.2f} {best['batched']:12.2f} "
              f"{best['loop'] / best['batched']:6.2f}  {gap:.3f}"
              + (f"   generic vmap path {best['generic']:.2f} s ({best['loop'] / best['generic']:.2f}×)"
                 if "generic" in best else ""))


if __name__ == "__main__":
    main()
