import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from model_registry.registry import (
    ARCHIVED,
    CANDIDATE,
    PRODUCTION,
    IntegrityError,
    LeftoverWarning,
    ModelNotFound,
    Registry,
    RegistryError,
)


def _register(root, tag: str) -> str:
    return Registry(root).register(
        {"model.onnx": tag.encode() * 100}, {"tag": tag, "landmarks": {}}, {"report.md": b"# r"}
    )


def test_register_load_and_verify(tmp_path):
    reg = Registry(tmp_path)
    v = _register(tmp_path, "a")
    loaded = reg.load(v)
    assert loaded.artifacts["model.onnx"] == b"a" * 100
    assert loaded.metadata["tag"] == "a" and loaded.metadata["version"] == v
    assert reg.list()[0]["stage"] == CANDIDATE
    assert reg.file(v, "report.md") == b"# r"


@pytest.mark.parametrize("damage", ["truncate", "flip", "metadata"])
def test_damaged_versions_are_refused(tmp_path, damage):
    reg = Registry(tmp_path)
    v = _register(tmp_path, "a")
    path = tmp_path / "versions" / v
    if damage == "truncate":
        (path / "model.onnx").write_bytes(b"a" * 10)
    elif damage == "flip":
        (path / "model.onnx").write_bytes(b"b" + b"a" * 99)
    else:
        meta = json.loads((path / "metadata.json").read_text())
        meta["tag"] = "tampered"
        (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match=v):
        reg.load(v)
    with pytest.raises(IntegrityError):
        reg.promote(v)
    assert reg.production() is None


def test_promote_and_rollback(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(ModelNotFound, match="relapse-risk train"):
        reg.load()
    a, b, c = (_register(tmp_path, t) for t in "abc")
    assert reg.promote(a) is None
    assert reg.promote(b) == a
    assert reg.promote(c) == b
    stages = {r["version"]: r["stage"] for r in reg.list()}
    assert stages == {a: ARCHIVED, b: ARCHIVED, c: PRODUCTION}
    assert reg.rollback() == b
    assert reg.rollback() == a
    assert reg.production() == a
    with pytest.raises(RegistryError, match="no earlier production"):
        reg.rollback()
    with pytest.raises(RegistryError, match="production changed"):
        reg.promote(c, expected_production=b)
    assert reg.production() == a


REGISTER_SCRIPT = """
import sys
from model_registry.registry import Registry
version = Registry(sys.argv[1]).register({"model.onnx": sys.argv[2].encode() * 1000},
                                         {"landmarks": {}})
print(version)
"""


def test_concurrent_writers_get_distinct_whole_versions(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER_SCRIPT, str(tmp_path), f"t{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    versions = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert versions == ["v0001", "v0002", "v0003", "v0004"]
    reg = Registry(tmp_path)
    assert {r["version"] for r in reg.list()} == set(versions)
    for v in versions:
        reg.load(v)


KILL_SCRIPT = """
import sys
from model_registry.registry import Registry
reg = Registry(sys.argv[1])
print("ready", flush=True)
reg.register({"big.onnx": b"x" * 400_000_000}, {"landmarks": {}})
"""


def test_a_writer_killed_mid_write_leaves_the_registry_consistent(tmp_path):
    reg = Registry(tmp_path)
    good = _register(tmp_path, "good")
    reg.promote(good)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    # Wait until the staging directory exists, then kill the writer in the middle.
    deadline = time.time() + 30
    while time.time() < deadline and not any(
        p.name.startswith(".staging") for p in tmp_path.iterdir()
    ):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reg.production() == good
    assert [r["version"] for r in reg.list()] == [good]
    reg.load(good)
    with pytest.warns(LeftoverWarning, match="interrupted write"):  # and its staging is removed
        assert _register(tmp_path, "next") == "v0002"  # the lock died with the process
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_export_version_makes_a_one_version_registry_verified_like_the_source(tmp_path):
    source = Registry(tmp_path / "source")
    first = _register(source.root, "a")
    second = source.register(
        {"model.onnx": b"b" * 100},
        {"tag": "b", "landmarks": {}},
        {"report.md": b"# r", "plots/km.png": b"png"},
    )
    source.promote(first)
    copy = source.export_version(second, tmp_path / "copy")
    assert copy.production() == second and [r["version"] for r in copy.list()] == [second]
    loaded, original = copy.load(), source.load(second)
    assert loaded.metadata == original.metadata  # same id, hashes and integrity digest
    assert loaded.artifacts == original.artifacts
    assert copy.file(second, "plots/km.png") == b"png"
    assert source.production() == first  # the source is left as it was
    (copy.root / "versions" / second / "model.onnx").write_bytes(b"c" * 100)
    with pytest.raises(IntegrityError, match="SHA-256"):
        copy.load()


def test_export_refuses_a_damaged_version_and_a_used_target(tmp_path):
    source = Registry(tmp_path / "source")
    v = _register(source.root, "a")
    source.export_version(v, tmp_path / "copy")
    with pytest.raises(RegistryError, match="already holds a registry"):
        source.export_version(v, tmp_path / "copy")
    (source.root / "versions" / v / "model.onnx").write_bytes(b"x")
    with pytest.raises(IntegrityError):
        source.export_version(v, tmp_path / "other")
    assert not (tmp_path / "other" / "versions" / v).exists()


def test_a_killed_writers_leftovers_are_removed_on_the_next_write_and_reported(tmp_path):
    reg = Registry(tmp_path)
    good = _register(tmp_path, "good")
    staging = tmp_path / ".staging-c0002-abc123"
    staging.mkdir()
    (staging / "rows.parquet").write_bytes(b"patient rows" * 1000)
    (tmp_path / ".staging-v0002-def456").mkdir()
    (tmp_path / ".stages-x1.json").write_text("{")
    with pytest.warns(
        LeftoverWarning,
        match=r"removed 3 temporary item\(s\).*"
        r"\.staging-c0002-abc123",
    ):
        assert _register(tmp_path, "next") == "v0002"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "stages.json", "versions"]
    assert [r["version"] for r in reg.list()] == [good, "v0002"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left: no warning the next time
        _register(tmp_path, "third")


def _modes(root):
    return {
        str(p.relative_to(root)): oct(p.stat().st_mode & 0o777)
        for p in root.rglob("*")
        if p.name != ".lock"
    }


def test_the_registry_file_mode_is_a_setting(tmp_path, monkeypatch):
    private = tmp_path / "private"
    _register(private, "a")
    modes = _modes(private)
    assert modes["stages.json"] == modes["versions/v0001/model.onnx"] == oct(0o600)
    assert modes["versions/v0001"] == modes["versions"] == oct(0o700)
    monkeypatch.setenv("RELAPSE_RISK_REGISTRY_MODE", "0640")  # a replica's group reads it
    shared = tmp_path / "shared"
    _register(shared, "a")
    modes = _modes(shared)
    assert modes["stages.json"] == modes["versions/v0001/metadata.json"] == oct(0o640)
    assert modes["versions/v0001"] == oct(0o750)
    for bad in ("0666", "rw", "0200"):
        monkeypatch.setenv("RELAPSE_RISK_REGISTRY_MODE", bad)
        with pytest.raises(RegistryError, match="RELAPSE_RISK_REGISTRY_MODE must be"):
            _register(tmp_path / "bad", "a")
