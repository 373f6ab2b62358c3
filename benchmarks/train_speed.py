"""Training speed of every Table 1 network (and the CPU stand-in) through lmc's own loop.

Times ``lmc.core.loop.train`` for a few steps at each setting's batch size on synthetic
tensors of the data set's shape (real CIFAR-10 and ImageNet are not on every machine),
augmentation included, and extrapolates to the setting's full schedule T. Every row
is measured in the same run, on the same machine.

    python benchmarks/train_speed.py [--steps 20] [--device cpu] [--only cifar_resnet_20 ...]
"""

import argparse
import platform
import time

import torch

from lmc.core import data, hparams, loop, models
from lmc.paper import reported

SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32), "imagenet": (3, 224, 224)}
TRAIN_SIZE = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "imagenet": 1281167}


def synthetic(dataset: str, n: int, device: str, image_size: int | None) -> data.DeviceData:
    shape = SHAPES[dataset] if image_size is None else (SHAPES[dataset][0], image_size, image_size)
    x, y = torch.randn(n, *shape, device=device), torch.randint(0, 10, (n,), device=device)
    info = data.entry(dataset)
    augment = info.get("augment", {})
    return data.DeviceData(dataset, x, y, x[:1], y[:1], 10, augment.get("crop_padding", 0),
                           augment.get("flip", False), torch.zeros(shape[0], device=device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--imagenet-batch", type=int, default=8,
                        help="ImageNet networks are timed at this batch and scaled to 1024")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, device {args.device}")
    print(f"{'setting':45s} {'batch':>6s} {'steps/s':>9s} {'T (it)':>8s} {'s per run':>10s}")
    for (model, variant), setting in reported.SETTINGS.items():
        if args.only and model not in args.only:
            continue
        hp = setting.hparams
        batch = hp.batch_size if hp.dataset != "imagenet" else args.imagenet_batch
        scale = hp.batch_size / batch
        net = models.build(model, seed=0).to(args.device)
        optimizer = loop.make_optimizer(hp, net.parameters())
        dataset = synthetic(hp.dataset, max(batch * (args.steps + 3), 256), args.device,
                            hparams.image_size(hp) or (224 if hp.dataset == "imagenet" else None))
        timed = hp.replace(batch_size=batch)
        loop.train(timed, net, optimizer, dataset, 0, 0, 3, progress=False)  # warm up
        start = time.perf_counter()
        loop.train(timed, net, optimizer, dataset, 0, 3, 3 + args.steps, progress=False)
        per_step = (time.perf_counter() - start) / args.steps * scale
        total = hparams.to_steps(hp.training_steps, hp, TRAIN_SIZE[hp.dataset])
        print(f"{setting.network + ' ' + variant:45s} {hp.batch_size:6d} {1 / per_step:9.3g} "
              f"{total:8d} {total * per_step:10.0f}" + ("  (scaled from batch %d)" % batch if scale != 1 else ""))


if __name__ == "__main__":
    main()
