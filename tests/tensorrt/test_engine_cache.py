"""Engine cache: keys, lookup, stale-engine rebuilds, timing cache, locking, atomic writes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from pinclip_sdk.engine_cache import (
    BatchProfile,
    DeviceIdentity,
    EngineCache,
    EngineRequest,
    atomic_write,
    engine_key,
    file_lock,
    load_engine,
    resolve_cache_dir,
)
from pinclip_sdk.errors import ConfigError, ExportError

DEVICE = DeviceIdentity("10.3.0", "Orin", "8.7", cuda_runtime="12.6", l4t="36.4.3")


def make_request(onnx_path: Path, **changes) -> EngineRequest:
    fields = {
        "onnx_path": onnx_path,
        "model_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "input_name": "pixel_values",
        "input_shape": (3, 32, 32),
        "label": "tiny.tensorrt-fp16",
    }
    fields.update(changes)
    return EngineRequest(**fields)


def test_key_is_stable_and_changes_with_every_ingredient(tiny_onnx):
    request = make_request(tiny_onnx())
    key = engine_key(request, DEVICE)
    assert key == engine_key(make_request(request.onnx_path), dataclasses.replace(DEVICE))
    # where the ONNX lives and what it is called do not change the engine
    assert key == engine_key(
        dataclasses.replace(request, onnx_path=Path("/elsewhere.onnx"), label="x"), DEVICE
    )
    variants = [
        engine_key(request, dataclasses.replace(DEVICE, tensorrt_version="10.16.1")),
        engine_key(request, dataclasses.replace(DEVICE, gpu_name="NVIDIA H100 80GB HBM3")),
        engine_key(request, dataclasses.replace(DEVICE, compute_capability="9.0")),
        engine_key(request, dataclasses.replace(DEVICE, l4t="39.2.0")),
        engine_key(dataclasses.replace(request, model_sha256="0" * 64), DEVICE),
        engine_key(dataclasses.replace(request, profile=BatchProfile(1, 8, 8)), DEVICE),
        engine_key(dataclasses.replace(request, profile=BatchProfile(1, 1, 16)), DEVICE),
        engine_key(dataclasses.replace(request, input_shape=(3, 64, 64)), DEVICE),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_cache_dir_resolution_order(monkeypatch, tmp_path):
    for name in ("PINCLIP_ENGINE_CACHE", "PINCLIP_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "pinclip" / "engines"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == tmp_path / "xdg" / "pinclip" / "engines"
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "root"))
    assert resolve_cache_dir() == tmp_path / "root" / "engines"
    monkeypatch.setenv("PINCLIP_ENGINE_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_build_then_reuse_with_sidecar_and_file_names(fake_trt, tiny_onnx, engine_cache):
    request = make_request(tiny_onnx())
    cache = EngineCache()
    first = cache.get_or_build(fake_trt, request, DEVICE)
    assert first.built
    assert fake_trt.calls["builds"] == 1
    key = engine_key(request, DEVICE)
    assert first.path == engine_cache / f"tiny.tensorrt-fp16-{key[:20]}.plan"
    sidecar = json.loads(first.path.with_suffix(".json").read_text())
    assert sidecar["key"] == key
    assert sidecar["plan_size"] == first.path.stat().st_size
    assert sidecar["device"]["gpu_name"] == "Orin"
    assert sidecar["request"]["profile"]["max_batch"] == 8
    second = cache.get_or_build(fake_trt, request, DEVICE)
    assert not second.built
    assert second.path == first.path
    assert fake_trt.calls["builds"] == 1
    assert [e["key"] for e in cache.entries()] == [key]
    # a new TensorRT version is a new key: a second engine, the first one is left alone
    upgraded = cache.get_or_build(fake_trt, request, dataclasses.replace(DEVICE, tensorrt_version="10.16.1"))
    assert upgraded.built
    assert upgraded.path != first.path
    assert first.path.exists()
    assert cache.clear() == 2
    assert not list(engine_cache.glob("*.plan"))


def test_strongly_typed_network_and_profile_from_request(fake_trt, tiny_onnx, engine_cache):
    request = make_request(tiny_onnx(), profile=BatchProfile(2, 4, 16), workspace_bytes=1 << 28)
    EngineCache().get_or_build(fake_trt, request, DEVICE)
    assert fake_trt.calls["network_flags"] == [1 << 1]  # 1 << STRONGLY_TYPED
    assert fake_trt.calls["profiles"] == [{"pixel_values": ((2, 3, 32, 32), (4, 3, 32, 32), (16, 3, 32, 32))}]
    assert fake_trt.calls["workspace"] == [("workspace", 1 << 28)]


def test_tensorrt_without_strongly_typed_member_gets_no_flags(make_trt, tiny_onnx, engine_cache):
    trt = make_trt(version="12.0.0", strongly_typed=False)  # a release where strong typing is implicit
    EngineCache().get_or_build(trt, make_request(tiny_onnx()), DEVICE)
    assert trt.calls["network_flags"] == [0]


def test_timing_cache_persists_across_builds(fake_trt, tiny_onnx, engine_cache):
    cache = EngineCache()
    request = make_request(tiny_onnx())
    cache.get_or_build(fake_trt, request, DEVICE)
    timing_file = cache.timing_cache_path(DEVICE)
    assert timing_file == engine_cache / "timing" / "trt10.3.0-orin-sm87.cache"
    assert json.loads(timing_file.read_bytes()) == ["tactics-1"]
    cache.get_or_build(fake_trt, dataclasses.replace(request, profile=BatchProfile(1, 8, 8)), DEVICE)
    assert fake_trt.calls["timing_in"] == [b"", b'["tactics-1"]']
    assert json.loads(timing_file.read_bytes()) == ["tactics-1", "tactics-2"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "other_key", "bad_json"])
def test_stale_engine_is_rebuilt(fake_trt, tiny_onnx, engine_cache, damage):
    cache = EngineCache()
    request = make_request(tiny_onnx())
    engine = cache.get_or_build(fake_trt, request, DEVICE)
    sidecar = engine.path.with_suffix(".json")
    if damage == "truncate":
        engine.path.write_bytes(engine.path.read_bytes()[:10])
    elif damage == "flip":
        data = bytearray(engine.path.read_bytes())
        data[-1] ^= 0xFF
        engine.path.write_bytes(bytes(data))
    elif damage == "no_sidecar":
        sidecar.unlink()
    elif damage == "other_key":
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "key": "0" * 64}))
    else:
        sidecar.write_text("{not json")
    assert cache.lookup(request, DEVICE) is None
    rebuilt = cache.get_or_build(fake_trt, request, DEVICE)
    assert rebuilt.built
    assert fake_trt.calls["builds"] == 2
    assert cache.lookup(request, DEVICE) is not None


def test_engine_tensorrt_refuses_is_rebuilt_once(fake_trt, tiny_onnx, engine_cache):
    cache = EngineCache()
    request = make_request(tiny_onnx())
    engine = cache.get_or_build(fake_trt, request, DEVICE)
    # a plan whose sidecar matches but that this TensorRT cannot deserialize (e.g. copied from elsewhere)
    garbage = b"not a plan"
    atomic_write(engine.path, garbage)
    meta = json.loads(engine.path.with_suffix(".json").read_text())
    meta.update(plan_size=len(garbage), plan_sha256=hashlib.sha256(garbage).hexdigest())
    engine.path.with_suffix(".json").write_text(json.dumps(meta))
    loaded = load_engine(fake_trt, cache, request, DEVICE)
    assert loaded.cached.built
    assert fake_trt.calls["builds"] == 2
    assert loaded.engine.input_name == "pixel_values"


def test_concurrent_builders_build_once(tiny_onnx, engine_cache):
    calls = []

    def slow_builder(trt, request, timing):
        calls.append(threading.get_ident())
        time.sleep(0.3)
        return b"PLAN" + request.model_sha256.encode(), b"timing"

    cache = EngineCache(builder=slow_builder)
    request = make_request(tiny_onnx())
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_build(None, request, DEVICE)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({r.path for r in results}) == 1
    assert sum(r.built for r in results) == 1


def test_lock_timeout_names_the_lock_file(tmp_path):
    lock = tmp_path / "engine.lock"
    with (
        file_lock(lock),
        pytest.raises(ConfigError, match=r"timed out after 0.3 s .*engine\.lock"),
        file_lock(lock, timeout_s=0.3),
    ):
        pass


def test_failed_build_leaves_no_partial_files(tiny_onnx, engine_cache):
    def failing_builder(trt, request, timing):
        raise ExportError("TensorRT failed to build")

    with pytest.raises(ExportError, match="failed to build"):
        EngineCache(builder=failing_builder).get_or_build(None, make_request(tiny_onnx()), DEVICE)
    assert not [p for p in engine_cache.rglob("*") if p.suffix in (".plan", ".json", ".tmp")]


def test_atomic_write_keeps_old_content_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.plan"
    atomic_write(target, b"old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_batch": 0}, "1 <= min"),
        ({"min_batch": 4, "opt_batch": 2}, "min <= opt"),
        ({"max_batch": 2.5}, "integers"),
    ],
)
def test_bad_profiles_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BatchProfile(**kwargs)
