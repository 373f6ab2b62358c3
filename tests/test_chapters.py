"""Every chapter executes through papermill with the smoke preset and writes its result."""

import json

import pytest
import xarray as xr

from lmc import book

CHAPTERS = book.chapters()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_source_notebook_is_clean_and_parameters_come_first(chapter):
    nb = json.loads(chapter.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert "parameters" in code[0].get("metadata", {}).get("tags", [])
    assert "preset" in "".join(code[0]["source"]) and "results_dir" in "".join(code[0]["source"])


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
    from lmc.errors import ConfigError

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
    ds = xr.open_dataset(tmp_path / "results" / "smoke" / "04_lottery_tickets_at_init.nc", engine="h5netcdf")
    assert ds.error.dims == ("subnetwork", "init_seed", "pair", "split", "alpha")
    assert abs(float(ds.density.sel(subnetwork="imp").mean()) - 0.8 ** 15) < 1e-3  # Table 1's 3.5%
    assert json.loads(ds.attrs["config"])["levels"] == 15


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


def test_appendices_sort_after_the_numbered_chapters():
    stems = [c.stem for c in CHAPTERS]
    appendices = [s for s in stems if s.startswith("a_")]
    assert appendices == sorted(appendices) and len(appendices) == 5
    assert stems[-len(appendices):] == appendices
