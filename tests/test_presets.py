"""Presets resize Table 1's recipes: one T for every network, or a network's own schedule."""

from lmc.core import hparams
from lmc.experiments import instability
from lmc.paper import presets, reported


def test_quick_trains_lenet_an_eighth_of_the_paper_and_paper_keeps_table_1():
    table1 = reported.setting("lenet_300_100").hparams
    quick = presets.get("quick").recipe(table1)
    assert hparams.total_steps(quick) * 8 == hparams.total_steps(table1) == 24_000
    assert quick.replace(training_steps=table1.training_steps) == table1  # nothing else changes
    assert presets.get("paper").recipe(table1) == table1
    assert instability.instability_config(preset="quick").hparams == quick


def test_a_preset_wide_length_applies_to_every_network_and_subsets_the_data():
    smoke = presets.get("smoke")
    for model in ("lenet_300_100", "fmnist_resnet_20_4"):
        hp = smoke.recipe(reported.setting(model).hparams)
        assert hp.training_steps == smoke.training_steps and hp.train_subset == smoke.train_subset


def test_the_stand_in_is_a_resnet_20_on_pooled_fashion_mnist():
    hp = presets.get("quick").recipe(reported.setting("fmnist_resnet_20_4").hparams)
    assert hp == reported.setting("fmnist_resnet_20_4").hparams  # quick keeps the stand-in's own recipe
    assert (hp.dataset, hp.image_size, hparams.image_size(hp)) == ("fashion_mnist", 14, 14)
    assert "image_size" in hp.as_dict()
    assert "image_size" not in reported.setting("lenet_300_100").hparams.as_dict()  # stored runs keep their hashes
