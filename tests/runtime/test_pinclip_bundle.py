"""The acceptance path: a real tiny PiN-CLIP bundle (export's `make_tiny_bundle`) run by the Detector
through onnxruntime and OpenVINO agrees with the PyTorch detector it was exported from."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk import Detector

testing = pytest.importorskip("pinclip_sdk.export.bundle_testing", reason="needs export make_tiny_bundle")


@pytest.fixture(scope="module")
def pinclip_bundle(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pinclip")
    bundle = testing.make_tiny_bundle(directory, targets=("onnxruntime", "openvino"))
    return bundle, directory / "checkpoint-0"


@pytest.fixture(scope="module")
def pytorch_probabilities(pinclip_bundle, images):
    import torch

    from pinclip_sdk.export.detector_module import DetectorModule

    bundle, checkpoint = pinclip_bundle
    module = DetectorModule.from_checkpoint(checkpoint).eval()
    with Detector(bundle, "onnxruntime", precision="fp32") as detector:
        pixels = np.stack([detector.preprocessor(image) for image in images])
    with torch.no_grad():
        return torch.sigmoid(module(torch.from_numpy(pixels)).reshape(-1)).numpy()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_pinclip_bundle_agrees_with_pytorch(pinclip_bundle, images, pytorch_probabilities, backend):
    bundle, _ = pinclip_bundle
    probs = np.sort(pytorch_probabilities)
    threshold = float((probs[len(probs) // 2 - 1] + probs[len(probs) // 2]) / 2)
    with Detector(bundle, backend, precision="fp32", threshold=threshold, uncertain_band=None) as detector:
        predictions = detector.predict_batch(images, batch_size=4)
        assert detector.info()["backbone"]
    np.testing.assert_allclose([p.p_fake for p in predictions], pytorch_probabilities, atol=1e-4)
    expected = ["fake" if p >= threshold else "real" for p in pytorch_probabilities]
    assert [p.label for p in predictions] == expected
    assert set(expected) == {"real", "fake"}
