"""TensorRT backend: availability probes, loading from a bundle, buffer handling, thread safety.

Runs on CPU against the fake `tensorrt` and cuda-python modules of conftest.py; the fake engine
returns each image's mean, so the expected logits are known exactly.
"""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pinclip_sdk.backends.base import backend_class
from pinclip_sdk.backends.tensorrt import TensorRTBackend, probe_tensorrt
from pinclip_sdk.engine_cache import EngineCache, import_tensorrt, prepare_engine, request_for_artifact
from pinclip_sdk.errors import BackendError, BackendUnavailableError, BundleError, ConfigError, ExportError


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 3, 32, 32), dtype=np.float32)


def expected(batch: np.ndarray) -> np.ndarray:
    return batch.reshape(batch.shape[0], -1).mean(axis=1)


def test_registry_maps_tensorrt_to_this_backend():
    assert backend_class("tensorrt") is TensorRTBackend


def test_missing_tensorrt_names_the_extra(monkeypatch, tiny_bundle):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes `import tensorrt` raise ImportError
    with pytest.raises(BackendUnavailableError, match=r"pinclip-sdk\[tensorrt\]"):
        import_tensorrt()
    assert "pinclip-sdk[tensorrt]" in TensorRTBackend.probe()
    with pytest.raises(BackendUnavailableError, match=r"TensorRT is not installed.*pinclip-sdk\[tensorrt\]"):
        TensorRTBackend.load(tiny_bundle, "fp16")


def test_missing_cuda_python_is_reported(monkeypatch, fake_trt):
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    assert probe_tensorrt().startswith("cuda-python is not installed")


def test_no_cuda_device_is_reported(monkeypatch, fake_trt, fake_cuda):
    fake_cuda.devices = 0
    assert "no usable CUDA device" in probe_tensorrt()


def test_probe_passes_with_tensorrt_cuda_and_a_device(fake_trt, fake_cuda):
    assert probe_tensorrt() is None


def test_load_runs_and_matches_the_engine(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    backend = TensorRTBackend.load(tiny_bundle, "fp16")
    info = backend.info()
    assert info["backend"] == "tensorrt"
    assert info["artifact"] == "tensorrt-fp16"
    assert info["engine_built_now"] is True
    assert info["device"] == "Orin"
    assert info["compute_capability"] == "8.7"
    assert info["input_shape"] == [3, 32, 32]
    for count in (1, 3, 8, 11, 17):  # 11 and 17 exceed max_batch 8 and are split
        batch = images(count, seed=count)
        np.testing.assert_allclose(backend.infer(batch), expected(batch), rtol=1e-6, atol=1e-6)
    assert fake_trt.calls["profiles"] == [{"pixel_values": ((1, 3, 32, 32), (1, 3, 32, 32), (8, 3, 32, 32))}]
    backend.close()
    assert fake_cuda.live == {}
    assert fake_cuda.streams == set()
    backend.close()  # idempotent
    with pytest.raises(BackendError, match="closed"):
        backend.infer(images(1))
    again = TensorRTBackend.load(tiny_bundle, "fp16")
    assert again.info()["engine_built_now"] is False
    assert fake_trt.calls["builds"] == 1
    again.close()


def test_batches_below_min_batch_are_padded(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    backend = TensorRTBackend.load(
        tiny_bundle, "int8", options={"min_batch": 2, "opt_batch": 4, "max_batch": 4}
    )
    batch = images(5, seed=3)  # chunks of 4 and 1; the 1 is padded to 2
    np.testing.assert_allclose(backend.infer(batch), expected(batch), rtol=1e-6, atol=1e-6)
    assert backend.info()["profile"] == {"min_batch": 2, "opt_batch": 4, "max_batch": 4}
    backend.close()


def test_infer_is_thread_safe(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    backend = TensorRTBackend.load(tiny_bundle, "fp16")
    batches = [images(1 + i % 8, seed=i) for i in range(32)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(backend.infer, batches))
    for batch, result in zip(batches, results, strict=True):
        np.testing.assert_allclose(result, expected(batch), rtol=1e-6, atol=1e-6)
    backend.close()


def test_bad_inputs_and_options_are_refused(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    with pytest.raises(ConfigError, match="unknown options"):
        TensorRTBackend.load(tiny_bundle, "fp16", options={"batch": 4})
    with pytest.raises(ConfigError, match="must be integers"):
        TensorRTBackend.load(tiny_bundle, "fp16", options={"max_batch": "many"})
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        TensorRTBackend.load(tiny_bundle, "fp16", options={"opt_batch": 16})
    with pytest.raises(ConfigError, match="not 'fp32'"):
        TensorRTBackend.load(tiny_bundle, "fp32")
    backend = TensorRTBackend.load(tiny_bundle, "fp16")
    with pytest.raises(BackendError, match=r"expects \(3, 32, 32\)"):
        backend.infer(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(BackendError, match="float32"):
        backend.infer(np.zeros((1, 3, 32, 32), np.float64))
    backend.close()


def test_profile_shapes_come_from_the_manifest(tiny_bundle):
    request = request_for_artifact(tiny_bundle, tiny_bundle.find("tensorrt", "int8"))
    assert request.input_name == "pixel_values"
    assert request.input_shape == (3, 32, 32)  # PreprocessSpec(size=32) in the manifest
    assert request.model_sha256 == tiny_bundle.find("tensorrt", "int8").files[0].sha256
    assert request.profile.shapes(request.input_shape)[2] == (8, 3, 32, 32)
    with pytest.raises(ConfigError, match="not tensorrt"):
        request_for_artifact(tiny_bundle, tiny_bundle.find("onnxruntime", "fp32"))


def test_prepare_engine_errors(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    with pytest.raises(ConfigError, match="precision 'fp32'"):
        prepare_engine(tiny_bundle, "fp32")
    with pytest.raises(BackendUnavailableError, match="CUDA device 3 does not exist"):
        prepare_engine(tiny_bundle, "fp16", device_index=3)
    cached, device = prepare_engine(tiny_bundle, "fp16", cache_dir=engine_cache / "explicit")
    assert cached.path.parent == engine_cache / "explicit"
    assert device.cuda_runtime == "12.6"


def test_onnx_problems_raise_export_errors(fake_trt, tiny_onnx, engine_cache):
    from pinclip_sdk.engine_cache import BatchProfile, DeviceIdentity, EngineRequest

    device = DeviceIdentity("10.3.0", "Orin", "8.7")
    good = tiny_onnx("good.onnx")
    sha = "a" * 64
    broken = good.with_name("broken.onnx")
    broken.write_bytes(b"\x00garbage")
    cases = [
        (EngineRequest(broken, sha, "pixel_values", (3, 32, 32)), r"cannot parse .*broken\.onnx"),
        (EngineRequest(good, sha, "images", (3, 32, 32)), r"no input 'images' \(inputs: pixel_values\)"),
        (EngineRequest(good, sha, "pixel_values", (3, 64, 64)), r"expected \[N, 3, 64, 64\]"),
        (
            EngineRequest(tiny_onnx("fixed.onnx", batch=1), sha, "pixel_values", (3, 32, 32)),
            r"fixed batch of 1 .* \[1, 8\]",
        ),
    ]
    for request, match in cases:
        with pytest.raises(ExportError, match=match):
            EngineCache().get_or_build(fake_trt, request, device)
    fake_trt.Builder.fail_build = True
    try:
        with pytest.raises(ExportError, match="failed to build"):
            EngineCache().get_or_build(
                fake_trt, EngineRequest(good, sha, "pixel_values", (3, 32, 32)), device
            )
    finally:
        fake_trt.Builder.fail_build = False
    fixed_ok = EngineRequest(
        tiny_onnx("fixed1.onnx", batch=1), sha, "pixel_values", (3, 32, 32), BatchProfile(1, 1, 1)
    )
    assert EngineCache().get_or_build(fake_trt, fixed_ok, device).built


def test_missing_tensorrt_artifact_names_what_exists(fake_trt, fake_cuda, tmp_path, tiny_onnx, engine_cache):
    from pinclip_sdk.bundle import BundleWriter
    from pinclip_sdk.spec import PreprocessSpec

    writer = BundleWriter(tmp_path / "cpu-only.pinclip")
    shutil.copy(tiny_onnx("src.onnx"), writer.root / "m.onnx")
    writer.add_artifact("onnxruntime-fp32", "onnxruntime", "fp32", ["m.onnx"])
    bundle = writer.finish("cpu_only", {"name": "tiny"}, PreprocessSpec(size=32))
    with pytest.raises(BundleError, match="no tensorrt/fp16 artifact .*onnxruntime/fp32"):
        TensorRTBackend.load(bundle, "fp16")


def test_real_cuda_python_without_a_gpu_is_reported(fake_trt):
    cuda_runtime = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    err, count = cuda_runtime.cudaGetDeviceCount()[:2]
    if int(err) == 0 and count > 0:
        pytest.skip("this machine has a CUDA device")
    assert probe_tensorrt().startswith("no usable CUDA device")


def test_detector_runs_the_tensorrt_backend(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    """The runtime's Detector picks TensorRT on an NVIDIA machine and its scores come from the engine."""
    from pinclip_sdk import Detector, Preprocessor

    image = (np.random.default_rng(5).random((40, 50, 3)) * 255).astype(np.uint8)
    pixels = Preprocessor(tiny_bundle.manifest.preprocess)(image)
    with Detector(tiny_bundle.root) as detector:  # backend="auto"
        info = detector.info()
        prediction = detector.predict(image)
    assert info["backend"] == "tensorrt"
    assert info["backend_info"]["artifact"] == "tensorrt-fp16"
    assert fake_cuda.live == {}  # the Detector closed the backend, which freed its buffers
    assert prediction.p_fake == pytest.approx(1 / (1 + np.exp(-pixels.mean())), rel=1e-5)
