"""The SDK never leaves a thread's alternate signal stack pointing at memory someone else frees.

OpenVINO's CPU plugin swaps the signal stack on AMX CPUs and, destroyed out of order, leaves it
dangling; the next handled signal (a DataLoader's SIGCHLD) then kills the process.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import textwrap

import pytest

from pinclip_sdk.signal_stack import current_signal_stack, kept_signal_stack, set_signal_stack

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sigaltstack handling is Linux-only")


def test_a_stack_replaced_inside_the_block_is_put_back():
    before = current_signal_stack()
    assert before is not None
    foreign = mmap.mmap(-1, 1 << 16)
    address = _address(foreign)
    with kept_signal_stack():
        assert set_signal_stack((address, 0, 1 << 16))
        assert current_signal_stack()[0] == address
    assert current_signal_stack() == before
    foreign.close()  # the foreign stack's owner frees it: nothing points at it any more


def test_a_thread_without_a_stack_keeps_none(tmp_path):
    script = textwrap.dedent(
        """
        import mmap, ctypes
        from pinclip_sdk.signal_stack import current_signal_stack, kept_signal_stack, set_signal_stack
        before = current_signal_stack()
        assert before[1] & 2, before  # no faulthandler: disabled
        foreign = mmap.mmap(-1, 1 << 16)
        address = ctypes.addressof(ctypes.c_char.from_buffer(foreign))
        with kept_signal_stack():
            set_signal_stack((address, 0, 1 << 16))
        assert current_signal_stack()[1] & 2, current_signal_stack()
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_openvino_detectors_closed_in_creation_order_leave_signals_deliverable(tiny_bundle, tmp_path):
    # Two backends (one shared Core), closed first-in first-out, then a handled SIGCHLD: on an AMX
    # CPU with one Core per model this killed the process with SIGSEGV.
    script = textwrap.dedent(
        """
        import faulthandler, gc, os, signal, sys
        faulthandler.enable()
        from pinclip_sdk import Detector
        from pinclip_sdk.signal_stack import current_signal_stack
        before = current_signal_stack()
        first = Detector(sys.argv[1], "openvino", precision="fp32")
        second = Detector(sys.argv[1], "openvino", precision="fp32")
        first.close(); second.close(); del first, second; gc.collect()
        assert current_signal_stack() == before, (before, current_signal_stack())
        signal.signal(signal.SIGCHLD, lambda *args: None)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_bundle)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip().endswith("ok")


def _address(buffer: mmap.mmap) -> int:
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
