"""The GIL is released while the core works, and the thread pool gives the same results."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor

from .conftest import noise


def test_other_python_thread_runs_while_core_works():
    """Deterministic: with a huge switch interval the interpreter never preempts the worker thread,
    so the main thread can only wake up while the worker is inside the call if the core released
    the GIL. Retried because a loaded machine may not schedule the main thread in time."""
    pre = Preprocessor(PreprocessSpec(size=224), num_threads=1)
    frames = [noise(1080, 1920, seed=s) for s in range(2)] * 12  # long enough to be caught inside
    old = sys.getswitchinterval()
    results = []
    try:
        sys.setswitchinterval(1000.0)
        for _ in range(3):
            started = threading.Event()
            done = []

            def work(started=started, done=done):
                started.set()
                pre.batch(frames)
                done.append(True)

            worker = threading.Thread(target=work)
            worker.start()
            started.wait()
            results.append(not done)  # True: we ran while the worker was still inside batch()
            worker.join()
            if results[-1]:
                break
    finally:
        sys.setswitchinterval(old)
    assert any(results), "main thread never ran while the core was working: GIL not released?"


def test_two_threads_share_a_preprocessor():
    pre = Preprocessor(PreprocessSpec(size=64), num_threads=2)
    frames = [noise(200 + i, 300 - i, seed=i) for i in range(8)]
    want = np.stack([Preprocessor(PreprocessSpec(size=64), num_threads=1)(f) for f in frames])
    outputs: dict[int, np.ndarray] = {}

    def run(k: int) -> None:
        outputs[k] = pre.batch(frames)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(3):
        assert np.array_equal(outputs[k], want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_pool_results_do_not_depend_on_thread_count(threads):
    spec = PreprocessSpec(size=(96, 128), resize_mode="longest", fill_color=200)
    frames = [noise(720, 1280, seed=1), noise(50, 900, seed=2), noise(3, 3, seed=3)]
    want = Preprocessor(spec, num_threads=1).batch(frames)
    pre = Preprocessor(spec, num_threads=threads)
    assert pre.num_threads == threads
    assert np.array_equal(pre.batch(frames), want)
    assert np.array_equal(pre(frames[0]), want[0])  # one large frame split in row bands


def test_scalar_and_simd_kernels_agree():
    from pinclip_sdk import _core

    frames = [noise(333, 517, 3, seed=4), noise(301, 123, 4, seed=5), noise(90, 1000, 3, seed=6)]
    for mode in ("shortest", "squash"):
        for size in ((224, 224), (100, 300)):
            args = (size, mode, "bicubic", [0.5] * 3, [0.5] * 3, 1)
            simd, scalar = _core.Engine(*args, True), _core.Engine(*args, False)
            assert scalar.kernels == "scalar"
            for f in frames:
                layout = "rgb" if f.shape[2] == 3 else "rgba"
                assert np.array_equal(simd.resize_u8(f, layout), scalar.resize_u8(f, layout))
