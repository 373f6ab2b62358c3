"""Every chapter executes through papermill with the smoke preset and writes its result."""

import json

import numpy as np
import pytest
import xarray as xr

from lmc.report import book

CHAPTERS = book.chapters()


@pytest.fixture(autouse=True)
def _chapters_share_one_cache(smoke_cache, monkeypatch):
    """The chapters' smoke runs share the session's cache with the book build (``smoke_cache``)."""
    monkeypatch.setenv("LMC_CACHE_DIR", str(smoke_cache))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_source_notebook_is_clean_and_parameters_come_first(chapter):
    nb = json.loads(chapter.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "parameters" in code[0].get("metadata", {}).get("tags", [])
    assert "preset" in "".join(code[0]["source"]) and "results_dir" in "".join(code[0]["source"])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_papermill_reads_every_parameter_of_the_parameters_cell(chapter):
    import ast

    import papermill

    nb = json.loads(chapter.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assigned = [t.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign)
                for t in node.targets]
    assert list(papermill.inspect_notebook(str(chapter))) == assigned  # e.g. an "=" in a comment hides one


def _smoke(number: str, tmp_path) -> list:
    """Execute a chapter with the smoke preset; returns the images it shows."""
    chapter = book.select([number])[0]
    out = book.execute(chapter, tmp_path / chapter.name,
                       {"preset": "smoke", "results_dir": str(tmp_path / "results")}, progress=False)
    nb = json.loads(out.read_text())
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]


@pytest.mark.slow
def test_chapter_01_smoke_writes_its_netcdf(mnist, tmp_path):
    assert len(_smoke("01", tmp_path)) == 1  # Figure 2 panel
    ds = xr.open_dataset(tmp_path / "results" / "smoke" / "01_instability_at_init.nc", engine="h5netcdf")
    assert ds.error.dims == ("init_seed", "pair", "split", "alpha")
    assert ds.instability.dims == ("init_seed", "pair", "split")
    assert list(ds.split.values) == ["train", "test"] and ds.sizes["alpha"] == 5
    config = json.loads(ds.attrs["config"])
    assert config["preset"] == "smoke" and config["rewind_step"] == "0"
    assert config["hparams"]["optimizer"] == "adam" and ds.attrs["device"] == "cpu"
    assert ds.attrs["torch_version"] and ds.attrs["lmc_version"]
    assert ((ds.error >= 0) & (ds.error <= 100)).all()


@pytest.mark.slow
@pytest.mark.parametrize("number, dims", [
    ("02", ("rewind_step", "init_seed", "pair", "split", "alpha")),
    ("03", ("schedule", "rewind_step", "init_seed", "pair", "split", "alpha")),
])
def test_rewind_chapters_smoke_write_one_netcdf_per_network(mnist, tmp_path, number, dims):
    chapter = book.select([number])[0]
    book.execute(chapter, tmp_path / chapter.name,
                 {"preset": "smoke", "results_dir": str(tmp_path / "results")}, progress=False)
    files = sorted((tmp_path / "results" / "smoke" / chapter.stem).glob("*.nc"))
    assert [f.name for f in files] == ["lenet_300_100_standard.nc"]
    ds = xr.open_dataset(files[0], engine="h5netcdf")
    assert ds.error.dims == dims
    assert ds.rewind_step.values.tolist() == [0, 100]  # the smoke grid
    assert json.loads(ds.attrs["config"])["preset"] == "smoke"


def test_an_unknown_parameter_name_is_refused_before_running(tmp_path):
    from lmc.core.errors import ConfigError

    chapter = book.select(["01"])[0]
    with pytest.raises(ConfigError, match="has no parameter 'seeds'; its parameters: preset, model"):
        book.execute(chapter, tmp_path / chapter.name, {"preset": "smoke", "seeds": [0]})
    assert not (tmp_path / chapter.name).exists()


@pytest.mark.slow
def test_a_bad_parameter_stops_the_chapter_with_a_clear_message(mnist, tmp_path):
    import papermill

    chapter = book.select(["01"])[0]
    with pytest.raises(papermill.PapermillExecutionError, match="unknown preset 'tiny'"):
        book.execute(chapter, tmp_path / chapter.name, {"preset": "tiny", "results_dir": str(tmp_path)}, progress=False)


@pytest.mark.slow
def test_chapter_04_smoke_writes_table_2_and_figure_5(mnist, tmp_path):
    assert len(_smoke("04", tmp_path)) == 1  # Figure 5 panel
    ds = xr.open_dataset(tmp_path / "results" / "smoke" / "04_lottery_tickets_at_init" / "lenet_300_100_standard.nc",
                         engine="h5netcdf")
    assert ds.error.dims == ("subnetwork", "init_seed", "pair", "split", "alpha")
    assert abs(float(ds.density.sel(subnetwork="imp").mean()) - 0.8 ** 15) < 1e-3  # Table 1's 3.5%
    assert json.loads(ds.attrs["config"])["levels"] == 15


@pytest.mark.slow
def test_chapters_05_and_06_smoke_share_imp_levels_and_write_their_grids(mnist, tmp_path):
    assert len(_smoke("05", tmp_path)) == 2  # Figures 6 and 7
    assert len(_smoke("06", tmp_path)) == 3  # Figure 8, Appendix E (instability, error)
    curve = xr.open_dataset(tmp_path / "results" / "smoke" / "05_rewinding" / "lenet_300_100_standard.nc",
                            engine="h5netcdf")
    assert curve.instability.dims == ("rewind_step", "subnetwork", "init_seed", "pair", "split")
    assert curve.rewind_step.values.tolist() == [0, 100]
    grid = xr.open_dataset(tmp_path / "results" / "smoke" / "06_sparsity_ranges" / "lenet_300_100_standard.nc",
                           engine="h5netcdf")
    assert grid.level.values.tolist() == [5, 15] and list(grid.subnetwork.values) == ["dense", "imp", "random_prune"]
    # level 15 of chapter 06 is chapter 05's subnetwork: the same cached runs, the same paths
    same = curve.error.sel(subnetwork=list(grid.subnetwork.values)).values
    assert np.array_equal(grid.error.sel(level=15).values, same)
    assert json.loads(grid.attrs["config"])["experiment"] == "sparsity_grid"


@pytest.mark.slow
def test_chapter_b1_smoke_writes_telemetry_perturbations_and_three_figures(mnist, tmp_path):
    assert len(_smoke("b1", tmp_path)) == 3  # telemetry, accuracy per perturbation, size vs accuracy
    ds = xr.open_dataset(tmp_path / "results" / "smoke" / "b1_early_phase.nc", engine="h5netcdf")
    assert ds.trained_accuracy.dims == ("perturbation",) and ds.sizes["perturbation"] == 11
    assert str(ds.perturbation.values[0]) == "none" and float(ds.distance[0]) == 0
    assert (ds.distance[1:] > 0).all()
    assert ds.sign_changed.dims == ("network", "step")
    assert float(ds.sign_changed.sel(step=0).max()) == 0 and float(ds.distance_init.sel(step=0).max()) == 0
    assert abs(float(ds.density) - 0.8 ** 15) < 1e-3  # Chapter 4's mask at Table 1's 3.5%
    config = json.loads(ds.attrs["config"])
    assert config["preset"] == "smoke" and config["levels"] == 15 and config["rewind_iterations"] == 100


@pytest.mark.slow
def test_chapter_b2_smoke_writes_the_sanity_checks(mnist, tmp_path):
    assert len(_smoke("b2", tmp_path)) == 1  # the accuracy figure
    ds = xr.open_dataset(tmp_path / "results" / "smoke" / "b2_sanity_checks.nc", engine="h5netcdf")
    assert ds.ticket.dims == ("pruning", "pretrain_lr", "ticket_lr")
    assert list(ds.pruning.values) == ["imp", "omp"] and ds.sizes["pretrain_lr"] == 2
    config = json.loads(ds.attrs["config"])
    assert config["levels"] == 15 and abs(config["density"] - 0.8 ** 15) < 1e-3
    assert config["small_dense_model"] == "lenet_13_4" and not config["full_length"]
    assert ((ds.ticket.sel(pruning="omp") > 10) & (ds.ticket.sel(pruning="omp") <= 100)).all()
    assert ds.reinit.sel(pruning="imp", pretrain_lr=0.0012).notnull().all()


@pytest.mark.slow
def test_chapter_b3_smoke_writes_the_weight_correlation(mnist, tmp_path):
    assert len(_smoke("b3", tmp_path)) == 2  # R_p against p, per network
    folder = tmp_path / "results" / "smoke" / "b3_weight_correlation"
    for name, rates in (("lenet_300_100", 3), ("fmnist_resnet_20_4", 2)):  # the stand-in: SGD at 0.01, 0.1
        ds = xr.open_dataset(folder / f"{name}_standard.nc", engine="h5netcdf")
        assert ds.overlap.dims == ("lr", "p") and ds.sizes["lr"] == rates
        assert ((ds.overlap > 0) & (ds.overlap <= 1)).all()
        assert ds.ticket.dims == ("lr",) and ds.reinit.notnull().all()
    assert [float(x) for x in ds.lr.values] == [0.01, 0.1]


@pytest.mark.slow
def test_chapter_b4_smoke_writes_batch_norm_and_stability_results(mnist, tmp_path):
    assert len(_smoke("b4", tmp_path)) == 2  # the path with and without recompute; instability vs k
    folder = tmp_path / "results" / "smoke" / "b4_our_questions"
    bn = xr.open_dataset(folder / "bn_fmnist_resnet_20_4.nc", engine="h5netcdf")
    assert list(bn.batch_norm.values) == ["interpolated", "recomputed"]
    assert json.loads(bn.attrs["config"])["batch_norm_recompute"] == {"batches": 4, "batch_size": 128, "seed": 0}
    sweep = xr.open_dataset(folder / "stability_lenet_300_100.nc", engine="h5netcdf")
    assert list(sweep.recipe.values) == ["Table 1", "lr = 0.012", "batch_size = 15"]
    assert sweep.rewind_step.values.tolist() == [0, 100]


@pytest.mark.slow
@pytest.mark.parametrize("number, images, dims", [
    ("a_b", 1, ("level", "subnetwork", "rewind_step", "init_seed", "pair", "copy")),   # Figure 9
    ("a_c", 1, ("subnetwork", "rewind_step", "init_seed", "pair")),                    # Figures 10-12
    ("a_d", 2, ("subnetwork", "rewind_step", "init_seed", "pair", "step", "split")),   # Figure 13: dense, IMP
    ("a_g", 2, ("rewind_step", "subnetwork", "init_seed", "pair", "split")),           # Figures 22-23
    ("a_h", 1, ("subnetwork", "rewind_step", "init_seed", "pair")),                    # Figures 24-29
])
def test_appendix_chapters_smoke_write_their_netcdf(mnist, tmp_path, number, images, dims):
    assert len(_smoke(number, tmp_path)) == images
    chapter = book.select([number])[0]
    files = sorted((tmp_path / "results" / "smoke" / chapter.stem).glob("*.nc"))
    assert [f.name for f in files] == ["lenet_300_100_standard.nc"]
    ds = xr.open_dataset(files[0], engine="h5netcdf")
    variable = {"a_b": "accuracy", "a_c": "between_copies", "a_d": "instability", "a_g": "instability",
                "a_h": "disagreements"}[number]
    assert ds[variable].dims[:len(dims)] == dims
    assert json.loads(ds.attrs["config"])["preset"] == "smoke"
    assert int(ds[variable].notnull().sum()) > 0


def test_appendices_sort_after_the_numbered_chapters_and_before_beyond_the_paper():
    stems = [c.stem for c in CHAPTERS]
    kinds = ["paper" if s[:2].isdigit() else "appendix" if s.startswith("a_") else "beyond" for s in stems]
    assert kinds == sorted(kinds, key=["paper", "appendix", "beyond"].index)
    appendices = [s for s in stems if s.startswith("a_")]
    assert appendices == sorted(appendices) and len(appendices) == 6  # B, C, D, G, H and the stand-in search
