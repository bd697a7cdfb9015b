"""Overload: a full queue answers 503 with Retry-After while the process stays healthy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import RawRequest, metric, poll

RAW = {"Content-Type": "image/png"}


@pytest.fixture(scope="module")
def server(start_server):
    return start_server("--max-queue", 1, "--max-batch", 1)


@pytest.fixture(scope="module")
def client(server):
    with server.client() as client:
        yield client


def _depth(client) -> float | None:
    return metric(client.get("/metrics").text, "pinclip_serve_queue_depth")


def test_full_queue_is_503_with_retry_after(server, client, uploads, reference):
    # one request admitted and still sending its body fills the one-image queue
    held = RawRequest(server, uploads[0], len(uploads[0]) // 2)
    poll(lambda: _depth(client) == 1, "the held request to be admitted")
    refused = client.post("/v1/detect", content=uploads[1], headers=RAW)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "queue full" in refused.json()["error"]
    form = client.post("/v1/detect", files={"file": ("a.png", uploads[1])})
    assert form.status_code == 503
    # the process stays healthy and ready while it refuses work
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    # the held request is still answered, correctly, and frees its place
    status, _, result = held.finish()
    assert status == 200
    assert result["p_fake"] == reference(uploads[0])
    poll(lambda: _depth(client) == 0, "the queue to empty")
    assert client.post("/v1/detect", content=uploads[1], headers=RAW).status_code == 200


def test_multipart_larger_than_the_queue_runs_on_an_idle_service(client, uploads, reference):
    files = [("file", (f"{i}.png", data)) for i, data in enumerate(uploads[:3])]
    response = client.post("/v1/detect", files=files)
    assert response.status_code == 200
    assert [r["p_fake"] for r in response.json()["results"]] == [reference(d) for d in uploads[:3]]


def test_burst_gets_answers_or_503_never_failures(server, client, uploads, reference):
    expected = {i: reference(data) for i, data in enumerate(uploads)}

    def post(i: int):
        with server.client() as own:
            return i % len(uploads), own.post("/v1/detect", content=uploads[i % len(uploads)], headers=RAW)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(48)))
    statuses = [response.status_code for _, response in answers]
    assert set(statuses) <= {200, 503}, statuses
    for i, response in answers:
        if response.status_code == 200:
            assert response.json()["p_fake"] == expected[i]
        else:
            assert response.headers["retry-after"] == "1"
    assert client.get("/healthz").status_code == 200
    poll(lambda: _depth(client) == 0, "the queue to empty")
    text = client.get("/metrics").text
    served = metric(text, "pinclip_serve_requests_total", endpoint="/v1/detect", status="200")
    assert served >= statuses.count(200)
