"""Fixtures for the runtime tests: tiny bundles built in the session from a small torch model.

`tiny_bundle` wraps a 2-layer conv net exported to ONNX (FP32 and INT8 QDQ for onnxruntime, FP32
IR for OpenVINO) in a real `BundleWriter` bundle, so every check goes through the same manifest,
hashing and backend code as a production bundle; `torch_model` is the PyTorch reference it was
exported from. The export engineer's `make_tiny_bundle` (a real PiN-CLIP bundle) is used by the
tests marked for it when it is available.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk.bundle import BundleWriter, Threshold
from pinclip_sdk.spec import PreprocessSpec

SIZE = 32
SPEC = PreprocessSpec(size=SIZE)


def _torch_model(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 1),
        nn.Flatten(0),
    )
    with torch.no_grad():  # spread the logits so thresholds separate the test images
        model[6].weight.mul_(25.0)
    return model.eval()


def _export(model, root: Path) -> dict[str, list[Path]]:
    import onnx
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from pinclip_sdk.backends.openvino import import_openvino

    ov = import_openvino()  # telemetry off, as the runtime imports it

    onnx_path = root / "onnxruntime-fp32" / "detector.onnx"
    onnx_path.parent.mkdir(parents=True)
    with warnings.catch_warnings():  # the legacy exporter's deprecation notice
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            torch.zeros(1, 3, SIZE, SIZE),
            str(onnx_path),
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    onnx.checker.check_model(str(onnx_path))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            # calibrate on images like the test images (INT8 ranges come from these activations)
            pixels = np.stack([_normalised(image) for image in _images(16, seed=1)])
            self._batches = iter([{"pixel_values": pixels[i : i + 4]} for i in range(0, 16, 4)])

        def get_next(self):
            return next(self._batches, None)

    int8_path = root / "onnxruntime-int8" / "detector.onnx"
    int8_path.parent.mkdir()
    quantize_static(str(onnx_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ)
    ov_dir = root / "openvino-fp32"
    ov_dir.mkdir()
    ov.save_model(ov.convert_model(str(onnx_path)), str(ov_dir / "detector.xml"), compress_to_fp16=False)
    return {
        "onnxruntime-fp32": [onnx_path],
        "onnxruntime-int8": [int8_path],
        "openvino-fp32": [ov_dir / "detector.xml", ov_dir / "detector.bin"],
    }


def build_bundle(root: Path, model, threshold: Threshold | None = None) -> Path:
    """A bundle around `model` at `root` with onnxruntime FP32/INT8 and OpenVINO FP32 artifacts."""
    writer = BundleWriter(root)
    for name, files in _export(model, root).items():
        backend, precision = name.split("-")
        writer.add_artifact(name, backend, precision, files)
    writer.finish(
        model_id="tiny-conv-test",
        backbone={"name": "tiny-conv", "params": sum(p.numel() for p in model.parameters())},
        preprocess=SPEC,
        threshold=threshold or Threshold(),
    )
    return root


def _normalised(image: np.ndarray) -> np.ndarray:
    resized = np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.BICUBIC), np.float32) / 255.0
    return ((resized - np.array(SPEC.mean, np.float32)) / np.array(SPEC.std, np.float32)).transpose(2, 0, 1)


def _images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Structured RGB images of varied sizes (gradients, blocks, noise) so logits spread out."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        h, w = int(rng.integers(24, 80)), int(rng.integers(24, 80))
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * rng.uniform(1, 6), yy * rng.uniform(1, 6), (xx + yy) * rng.uniform(0, 3)], -1)
        noise = rng.normal(0, 40 * (i % 4), size=(h, w, 3))
        images.append(np.clip(base + noise + rng.uniform(-80, 80, 3), 0, 255).astype(np.uint8))
    return images


@pytest.fixture(scope="session")
def torch_model():
    return _torch_model()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, torch_model) -> Path:
    root = tmp_path_factory.mktemp("bundles") / "tiny.pinclip"
    return build_bundle(root, torch_model)


@pytest.fixture(scope="session")
def images() -> list[np.ndarray]:
    return _images(24)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory, images) -> Path:
    """The test images as JPEG and PNG files, plus one corrupt file."""
    root = tmp_path_factory.mktemp("images")
    for i, array in enumerate(images):
        Image.fromarray(array).save(root / f"img{i:03d}.{'jpg' if i % 2 else 'png'}")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Each test gets its own runtime cache, so measured backend choices never leak between tests."""
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "cache"))


def _jpeg_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def jpeg_bytes():
    """Encode an RGB array as JPEG bytes."""
    return _jpeg_bytes


def _encode_video(path: Path, codec="libx264", pix_fmt="yuv420p", count=20, rate=10, size=(64, 48)) -> Path:
    """A synthetic video of `count` moving-gradient frames encoded with PyAV."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = pix_fmt
        yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
        for i in range(count):
            rgb = np.stack([(xx * 4 + i * 9) % 256, (yy * 5) % 256, np.full_like(xx, i * 12 % 256)], -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def encode_video():
    """Encode a synthetic video file with PyAV (skips the test when PyAV is missing)."""
    pytest.importorskip("av")
    return _encode_video


@pytest.fixture
def region_decoder() -> None:
    """Skips a test when JPEG region decode is not installed; fails instead under
    PINCLIP_REQUIRE_REGION_DECODE=1 (CI installs it, so a broken install cannot pass as a skip)."""
    from pinclip_sdk.jpeg_region import region_decode_available

    if region_decode_available():
        return
    reason = "JPEG region decode unavailable: the core was built without libjpeg-turbo (libjpeg-dev)"
    if os.environ.get("PINCLIP_REQUIRE_REGION_DECODE") == "1":
        pytest.fail(f"PINCLIP_REQUIRE_REGION_DECODE=1 but {reason}")
    pytest.skip(reason)
