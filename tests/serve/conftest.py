"""Fixtures of the `pinclip serve` tests: the tiny runtime bundle and real server subprocesses.

Each server is `python -m pinclip_sdk serve` on an ephemeral loopback port (`--port 0`; the port is
read from the line it prints), run from a neutral folder so the installed SDK is imported, on
onnxruntime FP32 so a result never depends on its batch-mates. `reference` scores the same bytes
in-process with the same backend, for the `p_fake` equality checks. `RawRequest` sends a request's
headers and part of its body over a plain socket, which holds it in flight (admitted, reading its
body) for as long as a test needs: overload, timeout and SIGTERM draining are provoked that way,
without sleeps or timing races.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytest.importorskip("prometheus_client")
pytest.importorskip("onnxruntime")


def _runtime_fixtures():
    """tests/runtime/conftest.py as a module (the tests are no package), for `build_bundle`."""
    path = Path(__file__).resolve().parents[1] / "runtime" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pinclip_tests_runtime_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_runtime = _runtime_fixtures()
BACKEND = ("onnxruntime", "fp32")  # FP32: no batch-dependent activation scales
START_TIMEOUT_S = 120.0  # a cold process on a busy 2-core machine imports onnxruntime slowly
LISTENING = re.compile(r"listening on http://(\S+):(\d+)")


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-bundle") / "tiny.pinclip"
    return _runtime.build_bundle(root, _runtime._torch_model())


@pytest.fixture(scope="session")
def uploads() -> list[bytes]:
    """Six encoded test images: JPEG and PNG, varied sizes and content."""
    arrays = _runtime._images(6, seed=3)
    return [_runtime._jpeg_bytes(a) if i % 2 else png_bytes(a) for i, a in enumerate(arrays)]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-cache")


@pytest.fixture(scope="session")
def reference(bundle, cache_dir):
    """`p_fake(bytes)` of an in-process `Detector` on the servers' backend and precision, in the
    JSON form the service answers (`Prediction.to_dict`: rounded to 6 decimals)."""
    from pinclip_sdk.detector import Detector

    previous = os.environ.get("PINCLIP_CACHE_DIR")
    os.environ["PINCLIP_CACHE_DIR"] = str(cache_dir)
    detector = Detector(bundle, BACKEND[0], 1, BACKEND[1])
    if previous is None:
        os.environ.pop("PINCLIP_CACHE_DIR")
    else:
        os.environ["PINCLIP_CACHE_DIR"] = previous

    def p_fake(data: bytes) -> float:
        return detector.predict(data).to_dict()["p_fake"]

    yield p_fake
    detector.close()


class Server:
    """A `pinclip serve` subprocess; `url` once it listens, `wait_ready()` once the model is warm."""

    def __init__(self, bundle: Path, cache_dir: Path, *args: object) -> None:
        command = [sys.executable, "-m", "pinclip_sdk", "serve", "--model", str(bundle), "--port", "0"]
        command += ["--backend", BACKEND[0], "--precision", BACKEND[1], "--threads", "1"]
        command += [str(a) for a in args]
        env = {**os.environ, "PINCLIP_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),  # import the installed SDK, never the source folder
        )
        self.lines: list[str] = []
        found = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(found,), daemon=True)
        self._reader.start()
        if not found.wait(START_TIMEOUT_S) or not hasattr(self, "port"):
            self.kill()
            raise AssertionError("pinclip serve did not start:\n" + self.output)
        self.url = f"http://{self.host}:{self.port}"

    def _read(self, found: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and not found.is_set():
                self.host, self.port = match.group(1), int(match.group(2))
                found.set()
        found.set()  # the process ended

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def wait_ready(self) -> Server:
        deadline = time.monotonic() + START_TIMEOUT_S
        with self.client() as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, "pinclip serve exited:\n" + self.output
                try:
                    if client.get("/readyz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # polling readiness
        raise AssertionError("pinclip serve never became ready:\n" + self.output)

    def terminate(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("pinclip serve did not stop on SIGTERM:\n" + self.output) from None
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


@pytest.fixture(scope="session")
def start_server(bundle, cache_dir):
    """`start_server(*flags)`: a ready server; every one still running is stopped at the end."""
    servers: list[Server] = []

    def start(*args: object, ready: bool = True) -> Server:
        server = Server(bundle, cache_dir, *args)
        servers.append(server)
        return server.wait_ready() if ready else server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.terminate()


class RawRequest:
    """A POST whose body is sent in two steps over a plain socket (`Connection: close`)."""

    def __init__(self, server: Server, body: bytes, sent: int, headers: dict[str, str] | None = None) -> None:
        self.body, self.sent = body, sent
        self.sock = socket.create_connection((server.host, server.port), timeout=30)
        lines = [
            "POST /v1/detect HTTP/1.1",
            f"Host: {server.host}:{server.port}",
            "Content-Type: image/png",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:sent])

    def finish(self) -> tuple[int, dict[str, str], dict]:
        """Send the rest of the body and read the response."""
        self.sock.sendall(self.body[self.sent :])
        return self.response()

    def response(self) -> tuple[int, dict[str, str], dict]:
        """Read the response to the end (the server closes the connection)."""
        data = b""
        with self.sock:
            while chunk := self.sock.recv(65536):
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        return int(status_line.split()[1]), headers, json.loads(payload)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition (None when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


def poll(condition, what: str, timeout: float = 30.0) -> None:
    """Wait until `condition()` is true (checked every 20 ms), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
