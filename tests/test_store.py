import json
import os

import pytest

from lmc import store
from lmc.errors import CacheError


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
