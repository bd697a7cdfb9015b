"""The API key (401, health and readiness stay open) and the per-request timeout (504)."""

from __future__ import annotations

import pytest

from .conftest import RawRequest

KEY = "s3cret-key-for-tests"
TIMEOUT_S = 2


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("serve-key") / "key.txt"
    key_file.write_text(f"  {KEY}\n")  # surrounding whitespace is not part of the key
    return start_server("--api-key-file", key_file, "--timeout-s", TIMEOUT_S)


@pytest.fixture(scope="module")
def client(server):
    with server.client() as client:
        yield client


AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {KEY}", f"Bearer {KEY}x", "Bearer", f"{KEY}"]
)
def test_missing_or_wrong_key_is_401(client, uploads, authorization):
    headers = {"Content-Type": "image/png"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.post("/v1/detect", content=uploads[0], headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert KEY not in response.text
    for path in ("/v1/model", "/metrics"):
        assert client.get(path, headers={"Authorization": authorization or ""}).status_code == 401


def test_health_and_readiness_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_right_key_is_served(client, uploads, reference):
    response = client.post("/v1/detect", content=uploads[1], headers={**AUTH, "Content-Type": "image/jpeg"})
    assert response.status_code == 200
    assert response.json()["p_fake"] == reference(uploads[1])
    lower = {"authorization": f"bearer {KEY}", "content-type": "image/jpeg"}  # the scheme is case-blind
    assert client.post("/v1/detect", content=uploads[1], headers=lower).status_code == 200
    info = client.get("/v1/model", headers=AUTH)
    assert info.status_code == 200
    assert info.json()["serving"]["auth"] is True
    assert KEY not in info.text
    metrics = client.get("/metrics", headers=AUTH)
    assert metrics.status_code == 200
    assert 'pinclip_serve_requests_total{endpoint="/v1/detect",status="401"}' in metrics.text


def test_a_request_past_its_deadline_is_504(server, client, uploads):
    """A client that stops sending its body in the middle gets 504 once --timeout-s has passed."""
    stalled = RawRequest(server, uploads[0], len(uploads[0]) // 2, AUTH)
    status, _, body = stalled.response()  # the server answers without the rest of the body
    assert status == 504
    assert f"{TIMEOUT_S:g} s" in body["error"]
    # the service is unharmed, and its admission slot was given back
    response = client.post("/v1/detect", content=uploads[0], headers={**AUTH, "Content-Type": "image/png"})
    assert response.status_code == 200
    text = client.get("/metrics", headers=AUTH).text
    assert 'pinclip_serve_requests_total{endpoint="/v1/detect",status="504"} 1.0' in text
    assert "pinclip_serve_queue_depth 0.0" in text
