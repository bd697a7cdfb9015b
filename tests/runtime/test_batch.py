"""Batch pipeline, per-item errors, thread safety and the camera stream."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.errors import BackendError, ConfigError


@pytest.fixture(scope="module")
def detector(tiny_bundle):
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        yield detector


@pytest.fixture(scope="module")
def sequential(detector, images):
    return [detector.predict(image).logit for image in images]


@pytest.mark.parametrize("batch_size", [1, 5, 8, 64])
def test_batch_matches_sequential_in_order(detector, images, sequential, batch_size):
    results = detector.predict_batch(images, batch_size=batch_size)
    assert [r.source for r in results] == [f"<ndarray uint8 {tuple(i.shape)}>" for i in images]
    np.testing.assert_allclose([r.logit for r in results], sequential, atol=1e-5)


def test_per_item_errors_do_not_abort(detector, images, image_dir, sequential):
    items = [
        images[0],
        b"garbage",
        image_dir / "img001.jpg",
        image_dir / "broken.jpg",
        "/missing.png",
        np.zeros((4, 4), np.int16),
    ]
    results = list(detector.predict_paths(items, batch_size=2))
    assert [r.label == "error" for r in results] == [False, True, False, True, True, True]
    assert results[0].logit == pytest.approx(sequential[0], abs=1e-5)
    assert "broken.jpg" in results[3].source
    assert results[3].error
    assert "missing.png" in results[4].error or "missing.png" in results[4].source
    assert all(r.threshold == 0.5 and r.model_id == "tiny-conv-test" for r in results)
    assert set(results[2].timings) == {"decode", "preprocess", "inference"}


def test_backend_failure_fails_only_its_batch(tiny_bundle, images, monkeypatch):
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        real_infer = detector.backend.infer
        calls = []

        def flaky(batch):
            calls.append(len(batch))
            if len(calls) == 2:
                raise BackendError("simulated device loss")
            return real_infer(batch)

        monkeypatch.setattr(detector.backend, "infer", flaky)
        results = detector.predict_batch(images[:9], batch_size=3)
    labels = ["error" if r.label == "error" else "ok" for r in results]
    assert labels == ["ok"] * 3 + ["error"] * 3 + ["ok"] * 3
    assert "simulated device loss" in results[4].error


def test_lazy_consumption_and_early_stop(detector, images):
    consumed = []

    def source():
        for i, image in enumerate(images):
            consumed.append(i)
            yield image

    stream = detector.predict_paths(source(), batch_size=2)
    first = next(stream)
    assert first.ok
    stream.close()  # stops the pipeline threads; the source is not drained
    assert len(consumed) < len(images)


def test_one_detector_many_threads(detector, images, sequential):
    def worker(offset):
        order = [(offset + i) % len(images) for i in range(len(images))]
        return {i: detector.predict(images[i]).logit for i in order}

    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(worker, range(8)))
    for run in runs:
        np.testing.assert_allclose([run[i] for i in range(len(images))], sequential, atol=1e-5)
    with ThreadPoolExecutor(3) as pool:
        batches = list(pool.map(lambda _: [p.logit for p in detector.predict_batch(images, 4)], range(3)))
    for batch in batches:
        np.testing.assert_allclose(batch, sequential, atol=1e-5)


def test_openvino_throughput_mode_is_thread_safe(tiny_bundle, images):
    options = {"openvino": {"performance_hint": "THROUGHPUT"}}
    with Detector(tiny_bundle, "openvino", backend_options=options) as detector:
        assert detector.info()["backend_info"]["performance_hint"] == "THROUGHPUT"
        expected = [detector.predict(image).logit for image in images]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda image: detector.predict(image).logit, images))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose([p.logit for p in detector.predict_batch(images, 3)], expected, atol=1e-5)


def _slow_camera(frames, interval):
    for frame in frames:
        time.sleep(interval)
        yield frame


def test_stream_block_scores_every_frame_in_order(detector, images):
    with detector.stream(iter(images[:10]), policy="block", maxsize=1) as stream:
        results = list(stream)
    assert [r.source for r in results] == [f"frame {i}" for i in range(10)]
    assert stream.dropped == 0
    assert stream.stats() == {"received": 10, "processed": 10, "dropped": 0}
    assert all(r.timings["latency"] >= r.timings["inference"] for r in results)


def test_stream_drop_oldest_keeps_up_with_a_fast_camera(detector, images):
    gate = threading.Event()
    frames = images * 4

    def slow_predict_results():
        with detector.stream(iter(frames), policy="drop_oldest", maxsize=2) as stream:
            out = []
            for result in stream:
                if not gate.is_set():
                    time.sleep(0.05)  # inference "falls behind" while the camera runs
                out.append(result)
            return stream, out

    stream, results = slow_predict_results()
    assert stream.received == len(frames)
    assert stream.dropped > 0
    assert stream.processed == len(results) == len(frames) - stream.dropped
    indices = [int(r.source.split()[1]) for r in results]
    assert indices == sorted(indices)
    assert indices[-1] == len(frames) - 1


def test_stream_reports_bad_frames_and_rejects_bad_settings(detector, images):
    with detector.stream([images[0], np.zeros((2, 2), np.float64), images[1]], policy="block") as stream:
        labels = [r.label for r in stream]
    assert labels[1] == "error"
    assert labels[0] != "error"
    assert labels[2] != "error"
    with pytest.raises(ConfigError, match="policy"):
        detector.stream([], policy="newest")
    with pytest.raises(ConfigError, match="maxsize"):
        detector.stream([], maxsize=0)


def test_settings_are_checked_before_any_work(detector, images):
    with pytest.raises(ConfigError, match="batch_size"):
        detector.predict_paths(images, batch_size=0)  # eagerly, not at the first next()
    with pytest.raises(ConfigError, match="channel_order"):
        detector.predict_batch(images, channel_order="grb")


def test_nan_from_the_engine_is_an_error_not_real(tiny_bundle, images, monkeypatch):
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        monkeypatch.setattr(detector.backend, "infer", lambda batch: np.full(len(batch), np.nan, np.float32))
        single = detector.predict(images[0])
        batch = detector.predict_batch(images[:3])
    assert single.label == "error"
    assert "NaN" in single.error
    assert [p.label for p in batch] == ["error"] * 3


def test_abandoned_stream_stops_its_reader(detector, images):
    """Breaking out of a stream without `with` / close() must not leave the reader pulling frames."""
    pulled = []

    def endless_camera():
        while True:
            pulled.append(1)
            yield images[0]

    stream = detector.stream(endless_camera(), policy="block", maxsize=1)
    for _ in stream:
        break  # no close(), no `with`
    stream._reader.join(timeout=10)
    assert not stream._reader.is_alive()
    before = len(pulled)
    time.sleep(0.2)
    assert len(pulled) == before


def test_batch_slots_are_filled_in_place(tiny_bundle, images, sequential):
    # The backend receives the very array the items were preprocessed into (no stacking copy);
    # only a batch with a failed item is compacted, and its scores still line up with the inputs.
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        allocated: list[np.ndarray] = []
        received: list[np.ndarray] = []
        new_batch, infer = detector.new_batch, detector.backend.infer

        def tracking_new_batch(n):
            allocated.append(new_batch(n))
            return allocated[-1]

        def tracking_infer(batch):
            received.append(batch)
            return infer(batch)

        detector.new_batch = tracking_new_batch
        detector.backend.infer = tracking_infer
        items = [images[0], images[1], images[2], b"garbage", images[3], images[4]]
        results = detector.predict_batch(items, batch_size=3)
    assert len(allocated) == len(received) == 2
    assert received[0].base is allocated[0] or received[0] is allocated[0]
    assert not np.shares_memory(received[1], allocated[1])
    assert len(received[1]) == 2
    assert [r.label == "error" for r in results] == [False, False, False, True, False, False]
    expected = [sequential[0], sequential[1], sequential[2], sequential[3], sequential[4]]
    np.testing.assert_allclose([r.logit for r in results if r.error is None], expected, atol=1e-5)
