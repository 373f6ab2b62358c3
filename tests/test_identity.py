"""One rule for what enters an identity (lmc.core.identity): every field of a frozen dataclass
except those at their default, unless declared ``always``; the specifications that use it
(Hparams, run specifications, path keys, instability configurations) give the dicts that the
hand-written rules they replace gave (pinned literally here; tests/test_identity_golden.py pins
the hashes of stored results and runs)."""

import dataclasses

from lmc.core import identity, interpolate
from lmc.core.hparams import Hparams
from lmc.experiments import instability


@dataclasses.dataclass(frozen=True)
class _Inner:
    a: int = 1
    b: tuple = ()


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    inner: _Inner
    kept: int | None = identity.always(None)
    dropped: int | None = None
    items: tuple = (1,)


def test_fields_at_their_default_stay_out_unless_declared_always():
    assert identity.as_dict(_Spec("x", _Inner())) == {"name": "x", "inner": {}, "kept": None}
    spec = _Spec("x", _Inner(2, ("u",)), kept=3, dropped=4, items=(1, 2))
    assert identity.as_dict(spec) == {"name": "x", "inner": {"a": 2, "b": ["u"]}, "kept": 3, "dropped": 4,
                                      "items": [1, 2]}


def test_hparams_keep_the_fields_of_the_first_release_and_later_ones_only_when_set():
    first = {"model": "lenet_300_100", "dataset": "mnist", "optimizer": "adam", "lr": 1.2e-3, "momentum": 0.0,
             "weight_decay": 0.0, "batch_size": 60, "training_steps": "24000it", "lr_drops": [], "gamma": 0.1,
             "warmup_steps": "0it", "train_subset": None}
    assert Hparams().as_dict() == first
    assert Hparams(image_size=14, lr_end=0.0).as_dict() == {**first, "image_size": 14, "lr_end": 0.0}


def test_a_path_key_is_what_the_three_hand_built_keys_were():
    runs = ["a" * 16, "b" * 16]
    base = {"kind": "interpolate", "runs": runs, "step": 3000, "n_alpha": 30, "train_subset": None,
            "test_subset": 1000}
    assert interpolate.path_key(runs, 3000, 30, None, 1000) == base
    assert interpolate.path_key(runs, 3000, 30, None, 1000, batched=True) == {**base, "evaluation": "batched"}
    bn = interpolate.BatchNormRecompute()
    assert interpolate.path_key(runs, 3000, 30, None, 1000, batch_norm=bn) == {
        **base, "batch_norm": {"recompute": {"batches": 20, "batch_size": 128, "seed": 0}}}


def test_an_instability_configuration_records_the_schedule_reset_only_when_set():
    config = instability.instability_config(preset="smoke")
    expected = {"model": "lenet_300_100", "variant": "standard", "rewind_step": "0", "preset": "smoke",
                "init_seeds": [0], "pairs": 1, "n_alpha": 5, "optimizer_at_k": "fresh"}
    assert config.as_dict() == expected
    reset = instability.instability_config(preset="smoke", rewind_step="100", reset_schedule=True)
    assert reset.as_dict() == {**expected, "rewind_step": "100", "reset_schedule": True}
