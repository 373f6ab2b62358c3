"""The paper's Table 1 (and the numbers it reports), encoded once as data.

Every chapter compares against these values; no chapter types a paper number.
Source: Frankle et al. 2020, Table 1 (hyperparameters, accuracy, pruning level)
and Section 3 (instability at initialization).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .train import Hparams


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


TABLE1: dict[tuple[str, str], Setting] = {
    ("lenet_300_100", "standard"): Setting(
        network="LeNet-300-100 (MNIST)", variant="standard",
        hparams=Hparams(model="lenet_300_100", dataset="mnist", optimizer="adam", lr=1.2e-3,
                        batch_size=60, training_steps="24000it"),
        params_reported="266K", accuracy=(98.3, 0.1), pruning_density=3.5,
        pruning_style="iterative", instability_at_init=1.0,
        instability_at_init_claim="Lenet's error rises slightly, but by less than a percentage point."),
}


def setting(model: str, variant: str = "standard") -> Setting:
    """The Table 1 row for ``model`` and ``variant`` (a ConfigError lists the valid ones)."""
    if (model, variant) not in TABLE1:
        valid = ", ".join(f"{m} ({v})" for m, v in TABLE1)
        raise ConfigError(f"no Table 1 setting for model {model!r} variant {variant!r}; "
                          f"valid settings: {valid}")
    return TABLE1[(model, variant)]
