"""Real TensorRT on a real GPU: build, cache and run an engine from a bundle, compare with onnxruntime.

Skipped, with the reason, wherever TensorRT, cuda-python or a CUDA device is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk.backends.tensorrt import TensorRTBackend, probe_tensorrt

UNAVAILABLE = probe_tensorrt()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.tensorrt,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"TensorRT cannot run here: {UNAVAILABLE}"),
]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_builds_caches_and_matches_onnxruntime(tiny_bundle, engine_cache, precision):
    import onnxruntime as ort

    batch = np.random.default_rng(1).standard_normal((11, 3, 32, 32), dtype=np.float32)
    backend = TensorRTBackend.load(tiny_bundle, precision)
    try:
        assert backend.info()["engine_built_now"]
        logits = backend.infer(batch)
    finally:
        backend.close()
    onnx_path = tiny_bundle.verified_path(tiny_bundle.find("tensorrt", precision))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (reference,) = session.run(["logits"], {"pixel_values": batch})
    np.testing.assert_allclose(logits, reference, rtol=1e-3, atol=1e-3)
    again = TensorRTBackend.load(tiny_bundle, precision)
    try:
        assert not again.info()["engine_built_now"]
        np.testing.assert_allclose(again.infer(batch[:1]), reference[:1], rtol=1e-3, atol=1e-3)
    finally:
        again.close()


def test_prebuilt_engines_are_found_by_the_runtime(tiny_bundle, engine_cache):
    from pinclip_sdk.export.engine_prebuild import build_engines

    results = build_engines(tiny_bundle.root, precisions=("fp16",))
    assert results[0].engine_path.is_file()
    backend = TensorRTBackend.load(tiny_bundle, "fp16")
    try:
        assert backend.info()["engine"] == str(results[0].engine_path)
        assert not backend.info()["engine_built_now"]
    finally:
        backend.close()
