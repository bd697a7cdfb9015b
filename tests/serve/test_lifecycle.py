"""Start-up (readiness, a model that does not load, usage errors) and SIGTERM draining."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from .conftest import BACKEND, RawRequest, Server, metric, poll

PNG = {"Content-Type": "image/png"}


def test_sigterm_answers_in_flight_requests_and_exits_0(start_server, uploads, reference):
    server = start_server("--max-batch", 4)
    with server.client() as client:
        held = [RawRequest(server, data, len(data) // 2) for data in uploads[:3]]
        poll(
            lambda: metric(client.get("/metrics").text, "pinclip_serve_queue_depth") == 3,
            "three requests in flight",
        )
    server.process.send_signal(signal.SIGTERM)

    def refused() -> bool:  # the listening socket is closed once shutdown has begun
        try:
            socket.create_connection((server.host, server.port), timeout=5).close()
        except ConnectionRefusedError:
            return True
        return False

    poll(refused, "the server to stop accepting connections")
    assert server.process.poll() is None  # still running: it drains first
    answers = [request.finish() for request in held]
    for (status, _, result), data in zip(answers, uploads[:3], strict=True):
        assert status == 200, result
        assert result["p_fake"] == reference(data)
    assert server.terminate() == 0, server.output  # already signalled: waits for the exit
    assert "pinclip serve: stopped" in server.output


def test_model_that_does_not_load_exits_1(bundle, cache_dir, tmp_path):
    server = Server(tmp_path / "missing.pinclip", cache_dir)  # listens, then the load fails
    assert server.process.wait(120) == 1, server.output
    assert "pinclip serve: error: BundleError" in server.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-batch", "0"], "max_batch=0"),
        (["--max-queue", "0"], "max_queue=0"),
        (["--timeout-s", "0"], "timeout_s=0"),
        (["--port", "70000"], "--port 70000"),
        (["--threads", "0"], "--threads 0"),
        (["--no-evidence", "--provenance-sets-label"], "needs --evidence"),
        (["--api-key-file", "EMPTY"], "is empty"),
        (["--api-key-file", "MISSING"], "cannot read"),
    ],
)
def test_usage_errors_exit_2(bundle, tmp_path, capsys, flags, message):
    from pinclip_sdk.cli import main

    (tmp_path / "EMPTY").write_text("\n")
    flags = [str(tmp_path / f) if f in {"EMPTY", "MISSING"} else f for f in flags]
    assert main(["serve", "--model", str(bundle), *flags]) == 2
    assert message in capsys.readouterr().err


# ---- in process: the application object under Starlette's TestClient ---------------------------
def _app(load, **config):
    pytest.importorskip("starlette.testclient")
    from pinclip_sdk.serve import ServeConfig, create_app

    fatal = threading.Event()
    return create_app(load, ServeConfig(**config), on_fatal=fatal.set), fatal


def test_readyz_is_503_until_the_model_is_loaded_and_warm(bundle, uploads, reference, cache_dir, monkeypatch):
    from starlette.testclient import TestClient

    from pinclip_sdk.detector import Detector

    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(cache_dir))
    gate = threading.Event()

    def slow_load():
        assert gate.wait(60)
        return Detector(bundle, BACKEND[0], 1, BACKEND[1])

    app, fatal = _app(slow_load, max_batch=2)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        loading = client.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["status"] == "loading"
        assert loading.headers["retry-after"] == "1"
        early = client.post("/v1/detect", content=uploads[0], headers={"Content-Type": "image/png"})
        assert early.status_code == 503
        assert early.headers["retry-after"] == "1"
        assert client.get("/v1/model").status_code == 503
        gate.set()
        poll(lambda: client.get("/readyz").status_code == 200, "the model to load")
        response = client.post("/v1/detect", content=uploads[0], headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        assert response.json()["p_fake"] == reference(uploads[0])
    assert not fatal.is_set()


def test_a_failed_load_is_reported_by_readyz(tmp_path):
    from starlette.testclient import TestClient

    from pinclip_sdk.errors import BundleError

    def broken_load():
        raise BundleError("manifest.json is missing")

    app, fatal = _app(broken_load)
    with TestClient(app) as client:
        poll(fatal.is_set, "the load to fail")
        failed = client.get("/readyz")
        assert failed.status_code == 503
        assert failed.json() == {"status": "failed", "error": "BundleError: manifest.json is missing"}
        assert client.get("/healthz").status_code == 200


def test_an_engine_failure_fails_the_images_not_the_service(bundle, uploads, cache_dir, monkeypatch):
    from starlette.testclient import TestClient

    from pinclip_sdk.detector import Detector

    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(cache_dir))
    broken = threading.Event()

    def load():
        detector = Detector(bundle, BACKEND[0], 1, BACKEND[1])
        infer = detector.infer_batch

        def flaky(batch):
            if broken.is_set():
                raise RuntimeError("the engine fell over")
            return infer(batch)

        detector.infer_batch = flaky
        return detector

    app, _ = _app(load)
    with TestClient(app) as client:
        poll(lambda: client.get("/readyz").status_code == 200, "the model to load")
        broken.set()
        raw = client.post("/v1/detect", content=uploads[0], headers={"Content-Type": "image/png"})
        assert raw.status_code == 500
        assert raw.json()["error"] == "RuntimeError: the engine fell over"
        form = client.post("/v1/detect", files=[("file", ("a.png", uploads[0])), ("file", ("b", b"bad"))])
        assert form.status_code == 200
        assert [r["status"] for r in form.json()["results"]] == [500, 422]
        broken.clear()
        assert client.post("/v1/detect", content=uploads[0], headers=PNG).status_code == 200


def test_cli_flags_reach_the_detector(bundle, cache_dir, monkeypatch):
    from pinclip_sdk.cli import build_parser, serve

    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(cache_dir))
    args = build_parser().parse_args(
        ["serve", "--model", str(bundle), "--backend", "onnxruntime", "--precision", "fp32"]
        + ["--threads", "1", "--threshold", "0.25", "--no-evidence", "--preprocess-workers", "3"]
    )
    with serve._load_detector(args) as detector:
        assert (detector.choice.backend, detector.choice.precision) == BACKEND
        assert detector.rule.threshold == 0.25
        assert detector.preprocess_workers == 3
        assert detector.info()["backend_info"]["threads"] == 1
        assert detector._evidence is None
    pytest.importorskip("openvino")
    args = build_parser().parse_args(
        ["serve", "--model", str(bundle), "--backend", "openvino", "--openvino-hint", "THROUGHPUT"]
    )
    with serve._load_detector(args) as detector:
        assert detector.info()["backend_info"]["performance_hint"] == "THROUGHPUT"
        assert detector._evidence is not None  # on by default


def test_the_service_imports_no_torch():
    code = (
        "import sys, pinclip_sdk.serve, pinclip_sdk.cli.serve, pinclip_sdk.serve.app;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir(), check=False
    )
    assert result.returncode == 0, result.stderr
