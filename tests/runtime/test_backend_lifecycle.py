"""Backend lifecycle: OpenVINO telemetry stays off, and close() wakes every caller waiting to infer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.errors import BackendError

pytest.importorskip("openvino")

TELEMETRY_THREADS = ("telemetry", "sender", "ThreadPoolExecutor")  # the sender is a plain pool
CI_VARIABLES = ("CI", "TF_BUILD", "JENKINS_URL")  # each turns OpenVINO telemetry off by itself

SDK_SCRIPT = """
import json, sys, threading
import numpy as np
from pinclip_sdk import Detector
detector = Detector(sys.argv[1], "openvino", threads=1)
prediction = detector.predict(np.full((40, 40, 3), 128, np.uint8))
detector.close()
print(json.dumps({"p_fake": prediction.p_fake, "threads": [t.name for t in threading.enumerate()]}))
"""

PLAIN_SCRIPT = """
import json, threading
import openvino
print(json.dumps({"threads": [t.name for t in threading.enumerate()]}))
"""


def _run_with_home(script: str, home: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env["HOME"] = str(home)
    done = subprocess.run(  # cwd outside the checkout: import the installed SDK (with its _core)
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _telemetry_threads(names: list[str]) -> list[str]:
    return [n for n in names if any(word.lower() in n.lower() for word in TELEMETRY_THREADS)]


def test_openvino_telemetry_off(tiny_bundle, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = _run_with_home(SDK_SCRIPT, home, str(tiny_bundle))
    assert 0.0 <= out["p_fake"] <= 1.0
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
    assert _telemetry_threads(out["threads"]) == []


def test_plain_openvino_import_would_send_telemetry(tmp_path):
    """Control: this environment does expose the telemetry the SDK turns off."""
    pytest.importorskip("openvino_telemetry")
    home = tmp_path / "home"
    home.mkdir()
    out = _run_with_home(PLAIN_SCRIPT, home)
    assert (home / "intel").exists() or _telemetry_threads(out["threads"])


def test_close_wakes_waiting_infer(tiny_bundle):
    detector = Detector(tiny_bundle, "openvino", threads=1)
    backend = detector.backend
    held = [backend._borrow() for _ in range(backend.concurrency)]  # every infer request taken
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            backend.infer(np.zeros((1, 3, 32, 32), np.float32))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    waiter = threading.Thread(target=call, daemon=True)
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive(), "infer should wait for a free request"
    detector.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], BackendError)
    for request in held:
        backend._give_back(request)  # after close: dropped, not handed out
    with pytest.raises(BackendError):
        backend.infer(np.zeros((1, 3, 32, 32), np.float32))


def test_close_while_predicting_returns_every_thread(tiny_bundle, images):
    detector = Detector(tiny_bundle, "openvino", threads=1)
    results: dict[int, list] = {i: [] for i in range(6)}
    errors: dict[int, list[BaseException]] = {i: [] for i in range(6)}
    started = threading.Barrier(len(results) + 1)

    def loop(index: int) -> None:
        started.wait()
        while True:
            try:
                results[index].append(detector.predict(images[index]))
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors[index].append(exc)
                return

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in results]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.3)
    detector.close()
    for thread in threads:
        thread.join(10)
    assert [t for t in threads if t.is_alive()] == []
    for index in results:
        assert len(errors[index]) == 1, f"thread {index} did not stop with an error"
        assert isinstance(errors[index][0], BackendError), repr(errors[index][0])
    assert sum(len(r) for r in results.values()) > 0


def test_onnxruntime_infer_after_close(tiny_bundle):
    detector = Detector(tiny_bundle, "onnxruntime", threads=1)
    backend = detector.backend
    detector.close()
    with pytest.raises(BackendError, match="closed"):
        backend.infer(np.zeros((1, 3, 32, 32), np.float32))
