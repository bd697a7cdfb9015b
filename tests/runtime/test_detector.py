"""Detector on a tiny bundle: agreement with PyTorch, every input kind, decisions and lifetime."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import Detector, Prediction
from pinclip_sdk.errors import BackendError, ConfigError, InvalidImageError

BACKENDS = [("onnxruntime", "fp32"), ("openvino", "fp32"), ("onnxruntime", "int8")]


@pytest.fixture(scope="module")
def reference(tiny_bundle, torch_model, images):
    """PyTorch logits of the test images, on the runtime's own preprocessing."""
    import torch

    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        pixels = np.stack([detector.preprocessor(image) for image in images])
    with torch.no_grad():
        return torch_model(torch.from_numpy(pixels)).numpy()


def _midpoint_threshold(logits: np.ndarray) -> float:
    """A threshold halfway between the two middle images, so half are real and half fake."""
    probs = np.sort(1.0 / (1.0 + np.exp(-logits)))
    middle = len(probs) // 2
    return float((probs[middle - 1] + probs[middle]) / 2)


@pytest.mark.parametrize(("backend", "precision"), BACKENDS)
def test_agrees_with_pytorch_decisions(tiny_bundle, images, reference, backend, precision):
    threshold = _midpoint_threshold(reference)
    with Detector(tiny_bundle, backend, precision=precision, threshold=threshold) as detector:
        predictions = detector.predict_batch(images, batch_size=5)
    logits = np.array([p.logit for p in predictions])
    expected = np.where(1.0 / (1.0 + np.exp(-reference)) >= threshold, "fake", "real")
    labels = np.array([p.label for p in predictions])
    assert set(expected) == {"real", "fake"}
    if precision == "fp32":
        np.testing.assert_allclose(logits, reference, atol=1e-4)
        assert (labels == expected).all()
    else:  # INT8 moves logits a little; decisions may flip only for images near the threshold
        assert np.corrcoef(logits, reference)[0, 1] > 0.98
        margin = np.abs(1.0 / (1.0 + np.exp(-reference)) - threshold)
        assert (labels == expected)[margin > 0.05].all()
    assert all(p.model_id == "tiny-conv-test" and p.threshold == threshold for p in predictions)


@pytest.fixture(scope="module")
def detector(tiny_bundle):
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        yield detector


def test_every_input_kind_gives_the_same_score(detector, images, tmp_path):
    rgb = images[3]
    png = tmp_path / "image.png"
    Image.fromarray(rgb).save(png)
    data = png.read_bytes()
    expected = detector.predict(rgb).logit
    inputs = {
        "str path": str(png),
        "Path": png,
        "bytes": data,
        "bytearray": bytearray(data),
        "file object": io.BytesIO(data),
        "PIL": Image.fromarray(rgb),
        "RGBA": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
    }
    for name, value in inputs.items():
        assert detector.predict(value).logit == pytest.approx(expected, abs=1e-5), name
    assert detector.predict(rgb[:, :, ::-1].copy(), channel_order="bgr").logit == pytest.approx(
        expected, abs=1e-5
    )
    with open(png, "rb") as handle:
        assert detector.predict(handle).logit == pytest.approx(expected, abs=1e-5)


def test_gray_and_yuv_inputs(detector, images):
    from pinclip_sdk.preprocess import YUVFrame

    gray = images[5][:, :, 0].copy()
    from_gray = detector.predict(gray)
    assert from_gray.ok
    assert detector.predict(gray[:, :, None]).logit == pytest.approx(from_gray.logit, abs=1e-5)
    assert detector.predict(np.dstack([gray] * 3)).logit == pytest.approx(from_gray.logit, abs=1e-5)
    h, w = 32, 48
    luma = np.tile(np.linspace(16, 235, w, dtype=np.uint8), (h, 1))
    frame = YUVFrame(np.vstack([luma, np.full((h // 2, w), 128, np.uint8)]), fmt="nv12")
    prediction = detector.predict(frame)
    assert prediction.ok
    assert 0.0 < prediction.p_fake < 1.0


def test_jpeg_bytes_and_timings(detector, images, jpeg_bytes):
    prediction = detector.predict(jpeg_bytes(images[0]))
    assert isinstance(prediction, Prediction)
    assert set(prediction.timings) == {"decode", "preprocess", "inference", "total"}
    assert prediction.timings["decode"] > 0
    assert prediction.timings["total"] >= prediction.timings["inference"]
    assert prediction.source == f"<bytes: {len(jpeg_bytes(images[0]))}>"
    assert prediction.to_dict()["label"] in ("real", "fake")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (b"not an image", "not an image|decode|identify"),
        (np.zeros((8, 8, 3), np.float32), "uint8|dtype"),
        ("/no/such/file.jpg", "file.jpg"),
    ],
)
def test_bad_single_input_raises_naming_it(detector, bad, match):
    with pytest.raises(InvalidImageError, match=match):
        detector.predict(bad)


def test_bad_channel_order(detector, images):
    with pytest.raises(ConfigError, match="channel_order"):
        detector.predict(images[0], channel_order="grb")


def test_threshold_and_uncertain_band(tiny_bundle, images, reference):
    p = 1.0 / (1.0 + np.exp(-reference))
    lo, hi = float(np.percentile(p, 30)), float(np.percentile(p, 70))
    with Detector(
        tiny_bundle, "onnxruntime", precision="fp32", threshold=(lo + hi) / 2, uncertain_band=(lo, hi)
    ) as det:
        labels = [x.label for x in det.predict_batch(images)]
    expected = ["uncertain" if lo <= v < hi else ("fake" if v >= (lo + hi) / 2 else "real") for v in p]
    assert labels == expected
    assert {"uncertain", "real", "fake"} <= set(labels)
    with pytest.raises(ConfigError, match="uncertain_band"):
        Detector(tiny_bundle, "onnxruntime", threshold=0.5, uncertain_band=(0.6, 0.7))
    with pytest.raises(ConfigError, match="threshold"):
        Detector(tiny_bundle, "onnxruntime", threshold=1.5)


def test_info_and_close(tiny_bundle, images):
    detector = Detector(tiny_bundle, "openvino", threads=1)
    info = detector.info()
    assert info["backend"] == "openvino"
    assert info["precision"] == "fp32"
    assert info["reason"] == "backend 'openvino' requested"
    assert info["backend_info"]["threads"] == 1
    assert info["threshold"] == 0.5
    assert info["preprocess"]["size"] == [32, 32]
    detector.close()
    detector.close()  # idempotent
    with pytest.raises(BackendError, match="closed"):
        detector.predict(images[0])


def test_failed_prediction_is_json_safe():
    failed = Prediction.failed("boom", threshold=0.5, model_id="m", source="x.jpg")
    assert failed.label == "error"
    assert math.isnan(failed.p_fake)
    assert not failed.ok
    assert failed.to_dict()["p_fake"] is None
    assert failed.to_dict()["error"] == "boom"


def test_apredict_from_asyncio(detector, images):
    import asyncio

    async def score_all():
        return await asyncio.gather(*(detector.apredict(image) for image in images[:6]))

    results = asyncio.run(score_all())
    expected = [detector.predict(image).logit for image in images[:6]]
    assert [r.logit for r in results] == pytest.approx(expected, abs=1e-5)
