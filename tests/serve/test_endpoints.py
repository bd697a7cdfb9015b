"""`pinclip serve` end to end: every endpoint, both body forms and every input limit, on one server."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from .conftest import metric, png_bytes

MAX_PIXELS = 100 * 100  # the test images are at most 80 x 80
MAX_BODY = 256 * 1024  # --max-body-mb 0.25

PNG = {"Content-Type": "image/png"}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(
        "--max-batch", 4, "--max-wait-ms", 20, "--max-pixels", MAX_PIXELS, "--max-body-mb", 0.25
    )


@pytest.fixture(scope="module")
def client(server):
    with server.client() as client:
        yield client


def test_health_readiness_and_model_info(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_id": "tiny-conv-test"}
    info = client.get("/v1/model")
    assert info.status_code == 200
    body = info.json()
    assert body["model_id"] == "tiny-conv-test"
    assert body["serving"]["max_batch"] == 4
    assert body["serving"]["max_pixels"] == MAX_PIXELS
    assert body["serving"]["auth"] is False


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/octet-stream"])
def test_raw_body_matches_in_process(client, uploads, reference, content_type):
    for data in uploads[:3]:
        response = client.post("/v1/detect", content=data, headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["p_fake"] == reference(data)
        assert result["label"] in {"real", "fake", "uncertain"}
        assert result["model_id"] == "tiny-conv-test"
        assert isinstance(result["threshold"], float)
        assert result["error"] is None
        assert {"decode", "preprocess", "queue", "inference", "total"} <= set(result["timings_ms"])
        assert result["evidence"] == []  # read (on by default), nothing to report on these files


def test_evidence_is_reported_and_never_changes_the_score(client, reference):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 32x32")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 140, 30)).save(buffer, "PNG", pnginfo=info)
    data = buffer.getvalue()
    result = client.post("/v1/detect", content=data, headers=PNG).json()
    assert result["p_fake"] == reference(data)
    assert result["label_source"] == "model"
    [finding] = result["evidence"]
    assert finding["source"] == "png_text"
    assert finding["declares_generated"] is True


def test_concurrent_requests_are_batched_without_changing_results(server, uploads, reference):
    """Many clients at once: every answer is the in-process one, whatever its batch-mates."""
    expected = [reference(data) for data in uploads]

    def post(i: int) -> tuple[int, dict]:
        with server.client() as client:
            data = uploads[i % len(uploads)]
            response = client.post("/v1/detect", content=data, headers={"Content-Type": "image/png"})
            return i, response.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(24)))
    for i, result in answers:
        assert result["p_fake"] == expected[i % len(uploads)], result
        assert 1 <= result["batch_size"] <= 4


def test_multipart_results_in_field_order_with_a_bad_file(client, uploads, reference):
    files = [
        ("file", ("a.png", uploads[0], "image/png")),
        ("file", ("b.jpg", uploads[1], "image/jpeg")),
        ("file", ("broken.jpg", b"\xff\xd8\xff\xe0 not a jpeg", "image/jpeg")),
        ("note", (None, "ignored: not a file field")),
        ("file", ("d.png", uploads[2], "image/png")),
    ]
    response = client.post("/v1/detect", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["source"] for r in results] == ["a.png", "b.jpg", "broken.jpg", "d.png"]
    for result, data in zip([results[0], results[1], results[3]], uploads[:3], strict=True):
        assert result["p_fake"] == reference(data)
        assert result["error"] is None
        assert "status" not in result
    bad = results[2]
    assert bad["status"] == 422
    assert bad["label"] == "error"
    assert bad["p_fake"] is None
    assert bad["error"].startswith("InvalidImageError")


def test_multipart_without_a_file_field_is_422(client):
    response = client.post("/v1/detect", data={"note": "no file"}, files={"other": ("x.png", b"x")})
    assert response.status_code == 422
    assert "file" in response.json()["error"]


def test_undecodable_body_is_422_with_the_typed_error(client):
    response = client.post("/v1/detect", content=b"definitely not an image", headers=PNG)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert body["label"] == "error"
    assert body["error"].startswith("InvalidImageError")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None])
def test_wrong_content_type_is_415(client, uploads, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/detect", content=uploads[0], headers=headers)
    assert response.status_code == 415
    assert "Content-Type" in response.json()["error"]


def test_too_many_pixels_is_413(client, uploads):
    big = png_bytes(np.zeros((101, 100, 3), np.uint8))  # 10100 pixels, well under the body limit
    response = client.post("/v1/detect", content=big, headers={"Content-Type": "image/png"})
    assert response.status_code == 413
    assert response.json()["error"].startswith("ImageTooLargeError")
    in_form = client.post("/v1/detect", files=[("file", ("big.png", big)), ("file", ("ok.png", uploads[0]))])
    assert in_form.status_code == 200
    big_result, ok_result = in_form.json()["results"]
    assert big_result["status"] == 413
    assert ok_result["error"] is None


def test_body_too_large_is_413(client):
    body = b"\0" * (MAX_BODY + 1)
    declared = client.post("/v1/detect", content=body, headers={"Content-Type": "image/png"})
    assert declared.status_code == 413
    assert "exceeds the limit" in declared.json()["error"]

    def chunked():  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = client.post("/v1/detect", content=chunked(), headers={"Content-Type": "image/png"})
    assert streamed.status_code == 413
    in_form = client.post("/v1/detect", files={"file": ("huge.png", body)})
    assert in_form.status_code == 413


def test_unknown_route_and_method(client):
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "status": 404}
    wrong = client.get("/v1/detect")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405
    assert wrong.headers["allow"] == "POST"


def test_metrics(client, uploads):
    assert client.post("/v1/detect", content=uploads[0], headers=PNG).status_code == 200
    client.post("/v1/detect", content=b"x", headers={"Content-Type": "text/plain"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "pinclip_serve_requests_total", endpoint="/v1/detect", status="200") >= 1
    assert metric(text, "pinclip_serve_requests_total", endpoint="/v1/detect", status="415") >= 1
    assert metric(text, "pinclip_serve_request_seconds_count", endpoint="/v1/detect") >= 2
    for stage in ("decode", "preprocess", "queue", "inference", "total"):
        assert metric(text, "pinclip_serve_stage_seconds_count", stage=stage) >= 1, stage
        assert f'pinclip_serve_stage_seconds_bucket{{le="0.01",stage="{stage}"}}' in text
    assert metric(text, "pinclip_serve_queue_depth") == 0
    assert metric(text, "pinclip_serve_batch_size_count") >= 1
    assert metric(text, "pinclip_serve_images_total", label="error") >= 1
