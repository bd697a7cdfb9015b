"""One copy of each small runtime utility: cache root, file sha256, library versions, cuda-python import."""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
import types

import pytest

from pinclip_sdk import bundle, cache, cuda_runtime, hashing, machine, versions
from pinclip_sdk.engine_cache import resolve_cache_dir
from pinclip_sdk.errors import BackendUnavailableError


def test_cache_root_resolution_order(monkeypatch, tmp_path):
    for name in ("PINCLIP_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / ".cache" / "pinclip"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "pinclip"
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "root"))
    assert cache.cache_root() == tmp_path / "root"
    monkeypatch.setenv("PINCLIP_CACHE_DIR", "~/elsewhere")
    assert cache.cache_root() == tmp_path / "home" / "elsewhere"
    assert not (tmp_path / "home" / "elsewhere").exists()  # resolving creates nothing


def test_cache_dir_creates_its_folder_and_engines_follow_the_root(monkeypatch, tmp_path):
    monkeypatch.delenv("PINCLIP_ENGINE_CACHE", raising=False)
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "root"))
    made = cache.cache_dir("openvino", "x")
    assert made == tmp_path / "root" / "openvino" / "x"
    assert made.is_dir()
    assert resolve_cache_dir() == cache.cache_root() / "engines"


def test_sha256_file_reads_in_chunks(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * (3 * hashing.CHUNK_BYTES // 256 + 7)  # several chunks plus a tail
    path.write_bytes(data)
    assert hashing.sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert hashing.sha256_file(str(path)) == bundle.sha256_file(path)  # bundle keeps its public name
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hashing.sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_library_versions_default_to_the_runtime_libraries():
    found = versions.library_versions()
    assert tuple(found) == versions.RUNTIME_LIBRARIES
    assert found["numpy"] == importlib.metadata.version("numpy")
    assert machine.library_versions is versions.library_versions  # `pinclip version` imports it there


def test_library_versions_use_alternative_distributions_and_plain_names(monkeypatch):
    installed = {"onnxruntime-gpu": "1.20.0", "torch": "2.5.0"}

    def fake_version(name):
        if name in installed:
            return installed[name]
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    assert versions.library_versions(["onnxruntime", "torch", "no-such-library"]) == {
        "onnxruntime": "1.20.0",
        "torch": "2.5.0",
        "no-such-library": None,
    }


def test_tensorrt_without_pip_metadata_falls_back_to_the_module(monkeypatch):
    monkeypatch.setattr(versions, "distribution_version", lambda library: None)
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.3.0"))
    assert versions.library_versions(["tensorrt", "numpy"]) == {"tensorrt": "10.3.0", "numpy": None}
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace())
    assert versions.library_versions(["tensorrt"]) == {"tensorrt": None}


def test_export_provenance_uses_the_same_lookup():
    from pinclip_sdk.export.provenance import LIBRARIES, library_versions

    found = library_versions()
    assert list(found) == ["python", *LIBRARIES]
    assert found["numpy"] == versions.distribution_version("numpy")


def test_cuda_runtime_prefers_cuda_bindings_and_falls_back_to_cudart(monkeypatch):
    bindings, cudart = types.ModuleType("cuda.bindings.runtime"), types.ModuleType("cuda.cudart")
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", bindings)
    monkeypatch.setitem(sys.modules, "cuda.cudart", cudart)
    assert cuda_runtime.import_cuda_runtime() is bindings
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)  # `import` raises ImportError
    assert cuda_runtime.import_cuda_runtime() is cudart
    assert cuda_runtime.find_cuda_runtime() is cudart


def test_missing_cuda_python_is_none_for_probes_and_an_error_for_the_backend(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    assert cuda_runtime.find_cuda_runtime() is None
    with pytest.raises(
        BackendUnavailableError, match=r"cuda-python is not installed.*pinclip-sdk\[tensorrt\]"
    ):
        cuda_runtime.import_cuda_runtime()
    assert machine.describe_cuda() == {"driver_api": None, "runtime": None}
    assert machine.describe_machine()["cuda"] == {"driver_api": None, "runtime": None}


def test_machine_reads_cuda_versions_through_the_shared_import(monkeypatch):
    runtime = types.SimpleNamespace(
        cudaDriverGetVersion=lambda: (0, 12060), cudaRuntimeGetVersion=lambda: (0, 12040)
    )
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)
    assert machine.describe_cuda() == {"driver_api": "12.6", "runtime": "12.4"}
