import json
import os

import pytest
import torch

from lmc.core import store
from lmc.core.errors import CacheError


def test_hash_is_canonical():
    a = {"x": 1, "y": {"b": 2, "a": [1, 2]}}
    b = {"y": {"a": [1, 2], "b": 2}, "x": 1}
    assert store.config_hash(a) == store.config_hash(b)
    assert store.config_hash(a) != store.config_hash({**a, "x": 2})


def test_cached_computes_once():
    calls = []

    def compute():
        calls.append(1)
        return {"value": 42}

    assert store.cached({"kind": "t"}, compute) == {"value": 42}
    assert store.cached({"kind": "t"}, compute) == {"value": 42}
    assert len(calls) == 1


def test_failed_computation_leaves_nothing_cached():
    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.cached({"kind": "broken"}, broken)
    assert store.cached({"kind": "broken"}, lambda: {"ok": True}) == {"ok": True}


def test_atomic_write_keeps_old_content_when_the_writer_fails(tmp_path):
    target = tmp_path / "f.txt"
    store.atomic_write(target, b"old")

    def failing_writer(path):
        path.write_bytes(b"half")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        store.atomic_write(target, failing_writer)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.txt"]  # no temporary file left behind


def test_atomic_write_gives_files_the_mode_open_would(tmp_path):
    import os
    import stat

    store.atomic_write(tmp_path / "a.json", b"{}")
    store.atomic_write(tmp_path / "b.nc", lambda p: p.write_bytes(b"x"))
    mask = os.umask(0)
    os.umask(mask)
    for name in ("a.json", "b.nc"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600


def test_a_run_directory_with_another_configuration_is_refused(tmp_path):
    run = store.open_run({"kind": "t", "v": 1}, tmp_path)
    record = json.loads((run.path / "config.json").read_text())
    record["schema"] = store.SCHEMA + 1
    (run.path / "config.json").write_text(json.dumps(record))
    with pytest.raises(CacheError, match="different configuration.*LMC_CACHE_DIR"):
        store.open_run({"kind": "t", "v": 1}, tmp_path)


def test_full_disk_gives_a_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(CacheError, match="cannot write .*No space left on device"):
        store.atomic_write(tmp_path / "x.json", b"{}")
    assert os.listdir(tmp_path) == []


# --- damaged files are detected, discarded and recomputed --------------------------------------

def _state(step: int) -> dict:
    return {"step": step, "model": {"w": torch.full((3,), float(step))}, "optimizer": None}


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _flip_a_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte, lambda p: p.write_bytes(b"")])
def test_a_damaged_checkpoint_is_discarded_and_the_previous_good_one_used(tmp_path, damage):
    run = store.open_run({"kind": "t"}, tmp_path)
    for step in (10, 20):
        store.save_checkpoint(run, _state(step))
    damage(run.checkpoint_path(20))
    assert store.load_checkpoint(run, 20) is None  # a reader without the lock only skips it
    assert run.checkpoint_path(20).exists()
    with store.lock(run), pytest.warns(UserWarning, match="discarded .*000000020.pt"):
        state = store.latest_state(run, at_most=30)
    assert state["step"] == 10 and torch.equal(state["model"]["w"], torch.full((3,), 10.0))
    assert run.checkpoints() == [10]
    assert len(list((run.path / "corrupt").iterdir())) == 1  # kept for inspection


def test_a_damaged_resume_point_falls_back_to_the_checkpoint_before_it(tmp_path):
    run = store.open_run({"kind": "t"}, tmp_path)
    store.save_checkpoint(run, _state(10))
    store.save_resume_point(run, _state(20))
    store.save_resume_point(run, _state(30))
    assert run.resume_points() == [30]  # only the latest is kept
    _flip_a_byte(run.resume_path / "000000030.pt")
    with store.lock(run), pytest.warns(UserWarning, match="sha256 does not match"):
        assert store.latest_state(run, at_most=40)["step"] == 10
    assert run.resume_points() == []
    with store.lock(run):
        assert store.latest_state(run, at_most=5) is None  # nothing good before 5: the run's start


def test_a_checkpoint_without_its_checksum_is_accepted_if_it_loads(tmp_path):
    """A kill between writing a file and its sidecar (or a cache from before checksums)."""
    run = store.open_run({"kind": "t"}, tmp_path)
    store.save_resume_point(run, _state(30))
    (run.resume_path / "000000030.pt.sha256").unlink()
    with store.lock(run):
        assert store.latest_state(run, at_most=40)["step"] == 30
    store.clear_resume_point(run, at_most=30)
    assert not run.resume_path.exists()


def test_a_kill_between_checksum_and_file_leaves_nothing_that_is_read(tmp_path, monkeypatch):
    run = store.open_run({"kind": "t"}, tmp_path)
    store.save_resume_point(run, _state(10))
    real_write = store.atomic_write

    def killed_before_the_file(path, payload):
        if path.suffix == ".pt":
            raise KeyboardInterrupt
        real_write(path, payload)

    monkeypatch.setattr(store, "atomic_write", killed_before_the_file)
    with pytest.raises(KeyboardInterrupt):
        store.save_resume_point(run, _state(20))
    monkeypatch.undo()
    with store.lock(run):
        assert store.latest_state(run, at_most=40)["step"] == 10
    store.clear_resume_point(run, at_most=40)
    assert not run.resume_path.exists()  # the orphan checksum went too


def test_a_damaged_cached_result_is_recomputed(tmp_path):
    assert store.cached({"kind": "r"}, lambda: {"v": 1}, tmp_path) == {"v": 1}
    run = store.open_run({"kind": "r"}, tmp_path)
    run.result_path.write_text('{"v": ')
    with pytest.warns(UserWarning, match="discarded"):
        assert store.cached({"kind": "r"}, lambda: {"v": 2}, tmp_path) == {"v": 2}


def test_an_unreadable_run_record_is_a_clear_error(tmp_path):
    run = store.open_run({"kind": "t"}, tmp_path)
    (run.path / "config.json").write_text("{not json")
    with pytest.raises(CacheError, match="cannot read the run record .*delete the folder"):
        store.open_run({"kind": "t"}, tmp_path)


def test_atomic_write_removes_the_folders_it_created_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(CacheError):
        store.atomic_write(tmp_path / "a" / "b" / "x.json", b"{}")
    assert os.listdir(tmp_path) == []


def test_atomic_write_fsyncs_the_file_and_then_its_folder(tmp_path, monkeypatch):
    import stat

    synced = []
    real_fsync = os.fsync

    def recording(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    store.atomic_write(tmp_path / "x.json", b"{}")
    assert synced == [False, True]  # the file's bytes, then the rename in its folder
