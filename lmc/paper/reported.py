"""The paper's Table 1 (and the numbers it reports), encoded once as data.

Every chapter compares against these values; no chapter types a paper number.
Source: Frankle et al. 2020, Table 1 (hyperparameters, accuracy, pruning level)
and Section 3 (instability at initialization; the step at which each network becomes
stable: "iterations 2000 for Resnet20 and 1000 VGG16 ... epoch 18 ... and 28").
Weight decay: Table 1 does not list it. Each value's source, exactly:

- ResNet-20 and VGG-16 (CIFAR-10), 1e-4: open_lth (facebookresearch/open_lth, the
  first author's codebase for these experiments; commit 2ce732f), ``weight_decay=1e-4``
  in ``default_hparams`` of ``models/cifar_resnet.py`` and ``models/cifar_vgg.py``.
- ResNet-50 (ImageNet), 1e-4: open_lth ``models/imagenet_resnet.py``, ``default_hparams``
  (which also has Table 1's lr 0.4, 5-epoch warmup and drops at epochs 30, 60, 80).
- Inception-v3 (ImageNet), 1e-4: **our choice**. open_lth has no Inception model and the
  paper gives no value; we use the ResNet-50 value. (TF-slim's ``inception_arg_scope``
  defaults to 4e-5; we did not take it.)
- LeNet-300-100 (MNIST, Adam): none, as in open_lth's ``models/mnist_lenet.py``, which
  sets no weight decay.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.hparams import Hparams, parse_step, total_steps


@dataclass(frozen=True)
class Setting:
    """One row of Table 1: a network, its training recipe, and what the paper reports for it."""

    network: str                  # the paper's name for the network
    variant: str                  # "standard", "low" or "warmup"
    hparams: Hparams              # the training recipe
    params_reported: str          # Table 1 "Params"
    accuracy: tuple[float, float]  # Table 1 test accuracy in %: (mean, std)
    pruning_density: float        # Table 1 "Pruning Level": % of weights remaining
    pruning_style: str            # "iterative" or "one-shot"
    instability_at_init: float | None = None  # Fig. 2 upper bound on test instability (pp), if given
    instability_at_init_claim: str = ""       # the paper's sentence behind that bound
    stable_from: str | None = None            # §3: the rewind step k from which test instability < 2%


def _cifar(model: str, lr: float, warmup: str = "0it") -> Hparams:
    """Table 1's CIFAR-10 recipe: SGD with momentum, 63K iterations of batch 128, ×0.1 at 32K, 48K."""
    return Hparams(model=model, dataset="cifar10", optimizer="sgd", lr=lr, momentum=0.9,
                   weight_decay=1e-4, batch_size=128, training_steps="63000it",
                   lr_drops=("32000it", "48000it"), gamma=0.1, warmup_steps=warmup)


TABLE1: dict[tuple[str, str], Setting] = {
    ("lenet_300_100", "standard"): Setting(
        network="LeNet-300-100 (MNIST)", variant="standard",
        hparams=Hparams(model="lenet_300_100", dataset="mnist", optimizer="adam", lr=1.2e-3,
                        batch_size=60, training_steps="24000it"),
        params_reported="266K", accuracy=(98.3, 0.1), pruning_density=3.5,
        pruning_style="iterative", instability_at_init=1.0,
        instability_at_init_claim="Lenet's error rises slightly, but by less than a percentage point.",
        stable_from="0it"),
    ("cifar_resnet_20", "standard"): Setting(
        "ResNet-20 (CIFAR-10)", "standard", _cifar("cifar_resnet_20", 0.1), "274K", (91.7, 0.1),
        16.8, "iterative", stable_from="2000it"),
    ("cifar_resnet_20", "low"): Setting(
        "ResNet-20 low (CIFAR-10)", "low", _cifar("cifar_resnet_20", 0.01), "274K", (88.8, 0.1),
        8.6, "iterative"),
    ("cifar_resnet_20", "warmup"): Setting(
        "ResNet-20 warmup (CIFAR-10)", "warmup", _cifar("cifar_resnet_20", 0.03, "30000it"), "274K",
        (89.7, 0.3), 8.6, "iterative"),
    ("cifar_vgg_16", "standard"): Setting(
        "VGG-16 (CIFAR-10)", "standard", _cifar("cifar_vgg_16", 0.1), "14.7M", (93.7, 0.1),
        1.5, "iterative", stable_from="1000it"),
    ("cifar_vgg_16", "low"): Setting(
        "VGG-16 low (CIFAR-10)", "low", _cifar("cifar_vgg_16", 0.01), "14.7M", (91.7, 0.1),
        5.5, "iterative"),
    ("cifar_vgg_16", "warmup"): Setting(
        "VGG-16 warmup (CIFAR-10)", "warmup", _cifar("cifar_vgg_16", 0.1, "30000it"), "14.7M",
        (93.4, 0.1), 1.5, "iterative"),
    ("imagenet_resnet_50", "standard"): Setting(
        "ResNet-50 (ImageNet)", "standard",
        Hparams(model="imagenet_resnet_50", dataset="imagenet", optimizer="sgd", lr=0.4, momentum=0.9,
                weight_decay=1e-4, batch_size=1024, training_steps="90ep",
                lr_drops=("30ep", "60ep", "80ep"), warmup_steps="5ep"),
        "25.5M", (76.1, 0.1), 30.0, "one-shot", stable_from="18ep"),
    ("imagenet_inception_v3", "standard"): Setting(
        "Inception-v3 (ImageNet)", "standard",
        Hparams(model="imagenet_inception_v3", dataset="imagenet", optimizer="sgd", lr=0.03,
                # weight decay: our choice (no source gives one; see the module docstring)
                momentum=0.9, weight_decay=1e-4, batch_size=1024, training_steps="171ep",
                lr_end=0.005),
        "27.1M", (78.1, 0.1), 30.0, "one-shot", stable_from="28ep"),
}


# CPU-scale stand-ins: not in the paper; nothing is reported for them (accuracy NaN).
# The Fashion-MNIST ResNet keeps the CIFAR recipe's shape: SGD with momentum 0.9, weight
# decay 1e-4, batch 128, lr 0.1 dropped ×0.1 at 51% and 76% of training (32K and 48K of 63K),
# for 600 iterations (1.3 epochs), on Fashion-MNIST average-pooled to 14×14 pixels (five times
# cheaper than 28×28 on a CPU: 25 s a run on 2 cores). Measured on 2026-12-02 (one pair,
# k = 0): test instability 25.7 pp at 84.8% test accuracy; at 28×28 and 1,200 iterations it
# was 41.7 pp at 87.8%. Its pruning level, 41% (0.8^4), is ours, chosen for cost (each IMP
# round is one more training), not selected as Appendix B selects Table 1's; the chapters say so.
STAND_INS: dict[tuple[str, str], Setting] = {
    ("fmnist_resnet_20_4", "standard"): Setting(
        "ResNet-20, width 4 (Fashion-MNIST at 14×14; CPU stand-in)", "standard",
        Hparams(model="fmnist_resnet_20_4", dataset="fashion_mnist", optimizer="sgd", lr=0.1,
                momentum=0.9, weight_decay=1e-4, batch_size=128, training_steps="600it",
                lr_drops=("305it", "457it"), image_size=14),
        "17K", (float("nan"), float("nan")), 41.0, "iterative"),
}
SETTINGS = {**TABLE1, **STAND_INS}
STAND_IN = "fmnist_resnet_20_4"  # the stand-in the CPU presets show

# The roles the chapters' prose gives the networks the CPU presets show: glue keys name the role
# (``ours_standin``), not the network, so the prose stays when the stand-in changes.
ROLES = {"lenet": "lenet_300_100", "standin": STAND_IN}


def role(model: str) -> str:
    """The role the chapters' prose gives ``model`` ("lenet", "standin"), or else its own name."""
    return next((r for r, m in ROLES.items() if m == model), model)


def setting(model: str, variant: str = "standard") -> Setting:
    """The Table 1 row (or CPU stand-in) for ``model`` and ``variant``."""
    if (model, variant) not in SETTINGS:
        valid = ", ".join(f"{m} ({v})" for m, v in SETTINGS)
        raise ConfigError(f"no Table 1 setting for model {model!r} variant {variant!r}; "
                          f"valid settings: {valid}")
    return SETTINGS[(model, variant)]


def accuracy_text(setting: Setting) -> str:
    """Table 1's test accuracy as "mean ± std", or "not in the paper" for a stand-in."""
    mean, std = setting.accuracy
    return "not in the paper" if mean != mean else f"{mean:g} ± {std:g}"


@dataclass(frozen=True)
class RewindState:
    """Appendix C's reading of one network: where it becomes stable and how far along it is there.

    ``dense_*`` for the unpruned network, ``imp_*`` for its IMP subnetwork at Table 1's density:
    the rewind step from which it is stable and its test error (%) at that step (read off
    Figure 10); ``final_error``: the error at the end of training; ``imp_copies_share``: the
    distance between the IMP copies trained from the stable step, as % of the distance the
    network travels from initialization to the end (Figure 12).
    """

    dense_stable: str
    dense_error: float
    final_error: float
    imp_stable: str
    imp_error: float
    imp_copies_share: float


# Appendix C.2: "Resnet20 and VGG16 become stable at iterations 2000 and 1000, at which point test
# error is about 25% (compared to final error 8.3%) ... and 20% (compared to final error 6.3%)";
# "Resnet50 and Inceptionv3 ... epochs 18 and 28 ... test error is 55% (... 24%) ... and 33% (... 22%)";
# IMP: "500 and 1000 ... error is 30% ... and 35%"; "epoch 5 and epoch 6 ... 55% ... and 40%";
# copies' distance "25%, 45%, 27%, and 28% for Resnet20, VGG16, Resnet50, and Inceptionv3".
# The paper reads nothing off LeNet in Appendix C.
APPENDIX_C: dict[tuple[str, str], RewindState] = {
    ("cifar_resnet_20", "standard"): RewindState("2000it", 25.0, 8.3, "500it", 30.0, 25.0),
    ("cifar_vgg_16", "standard"): RewindState("1000it", 20.0, 6.3, "1000it", 35.0, 45.0),
    ("imagenet_resnet_50", "standard"): RewindState("18ep", 55.0, 24.0, "5ep", 55.0, 27.0),
    ("imagenet_inception_v3", "standard"): RewindState("28ep", 33.0, 22.0, "6ep", 40.0, 28.0),
}


# Appendix H: ResNet-20's IMP copies classify "about 1100" CIFAR-10 test examples differently when
# rewound to 0 ("50% of their maximum possible value", the sum of the two copies' errors) and
# "only about 350" (21%) from rewinding iteration 1000, once stable. (step, examples, % of most possible)
APPENDIX_H_DISAGREEMENTS: dict[tuple[str, str], tuple[tuple[str, float, float], ...]] = {
    ("cifar_resnet_20", "standard"): (("0it", 1100.0, 50.0), ("1000it", 350.0, 21.0)),
}


@dataclass(frozen=True)
class SparseResult:
    """One row of Table 2: test accuracy (%) at Table 1's density with rewinding to k = 0."""

    full: float           # the unpruned network
    imp: float            # the IMP subnetwork
    random_prune: float   # a random mask at the same density, same initialization
    random_reinit: float  # the IMP mask, newly drawn initial weights
    delta: float          # "Δ IMP" as printed: full − IMP, floored at the paper's 0.1
    matching: bool        # "Matching?" (within one standard deviation of full)


TABLE2: dict[tuple[str, str], SparseResult] = {
    ("lenet_300_100", "standard"): SparseResult(98.3, 98.2, 96.7, 97.5, 0.1, True),
    ("cifar_resnet_20", "standard"): SparseResult(91.7, 88.5, 88.6, 88.8, 3.2, False),
    ("cifar_resnet_20", "low"): SparseResult(88.8, 89.0, 85.7, 84.7, 0.2, True),
    ("cifar_resnet_20", "warmup"): SparseResult(89.7, 89.6, 85.7, 85.6, 0.1, True),
    ("cifar_vgg_16", "standard"): SparseResult(93.7, 90.9, 89.4, 91.0, 2.8, False),
    ("cifar_vgg_16", "low"): SparseResult(91.7, 91.6, 90.1, 90.2, 0.1, True),
    ("cifar_vgg_16", "warmup"): SparseResult(93.4, 93.2, 90.1, 90.7, 0.2, True),
    ("imagenet_resnet_50", "standard"): SparseResult(76.1, 73.7, 73.1, 73.4, 2.4, False),
    ("imagenet_inception_v3", "standard"): SparseResult(78.1, 75.7, 75.2, 75.5, 2.4, False),
}

# Figure 8 calls a subnetwork matching when its accuracy drops by less than a small margin
# "for noise". The extracted text in shared/paper loses the number; 0.2 percentage points is
# our reading of the published figure caption. It is a named constant so it can be changed.
MATCHING_MARGIN = 0.2


# Section 4.3 (Figure 6): the rewind step from which IMP subnetworks at Table 1's density are
# stable ("iterations 500 (0.8% into training) and 1000 (1.6%) ... epochs 5 ... and 6"); LeNet's
# IMP subnetwork is stable from k = 0 on (Figure 5, Table 2).
IMP_STABLE_FROM: dict[tuple[str, str], str] = {
    ("lenet_300_100", "standard"): "0it",
    ("cifar_resnet_20", "standard"): "500it",
    ("cifar_vgg_16", "standard"): "1000it",
    ("imagenet_resnet_50", "standard"): "5ep",
    ("imagenet_inception_v3", "standard"): "6ep",
}


@dataclass(frozen=True)
class Ranges:
    """Section 4.4's sparsity ranges, as % of weights remaining: range I above ``random_matching``
    (even random pruning matches), II down to ``imp_matching`` (only IMP matches), III below;
    ``coincide``: where IMP becomes matching and stable at about the same rewind step."""

    random_matching: float
    imp_matching: float
    coincide: tuple[float, float]


RANGES: dict[tuple[str, str], Ranges] = {
    ("cifar_resnet_20", "standard"): Ranges(80.0, 13.4, (51.2, 13.4)),
    ("cifar_vgg_16", "standard"): Ranges(16.8, 1.2, (6.9, 1.5)),
}


def schedule_note(config: dict) -> str:
    """The schedule a result trained with, said next to the paper's: "3,000 of Table 1's 24,000
    iterations", "Table 1's 24000it", or, for a CPU stand-in, its own length."""
    hp = config.get("hparams", {})
    key = (config.get("model"), config.get("variant", "standard"))
    if not hp or key not in SETTINGS:
        return ""
    ours = parse_step(hp["training_steps"])
    if key in STAND_INS:
        length = f"{ours[1]:,} iterations" if ours[0] == 0 else hp["training_steps"]
        return f"{length}, its own recipe (not a network of Table 1)"
    theirs = parse_step(SETTINGS[key].hparams.training_steps)
    if ours == theirs:
        return f"Table 1's {hp['training_steps']}"
    if ours[0] == theirs[0] == 0:
        return f"{ours[1]:,} of Table 1's {theirs[1]:,} iterations"
    return f"{hp['training_steps']} (Table 1: {SETTINGS[key].hparams.training_steps})"


def rewind_share(config: dict, steps) -> str:
    """Each rewind step k as a share of the result's own training and of Table 1's: "k = 500 is
    17% of training here (2.1% of Table 1's 24,000)"."""
    key = (config.get("model"), config.get("variant", "standard"))
    if key not in SETTINGS or "training_iterations" not in config:
        return ""
    total = config["training_iterations"]
    theirs = SETTINGS[key].hparams
    paper_total = total_steps(theirs)
    parts = []
    for k in steps:
        k = int(k)
        if k == 0:
            continue
        share = f"k = {k:,} is {100 * k / total:.1f}% of training here"
        if key not in STAND_INS and paper_total != total:
            share += f" ({100 * k / paper_total:.1f}% of Table 1's {paper_total:,})"
        parts.append(share)
    return "; ".join(parts)

