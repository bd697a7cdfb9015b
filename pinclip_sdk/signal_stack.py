"""Keep the calling thread's alternate signal stack across code that replaces it and frees it.

On CPUs with AMX, OpenVINO's CPU plugin installs an alternate signal stack of its own on the
thread that loads it (so the kernel grants AMX), and when a plugin instance is destroyed it puts
back the stack it found and unmaps its own. Two `ov.Core`s destroyed in the order they were
created leave the thread pointing at unmapped memory: the next signal with a handler (a torch
DataLoader's SIGCHLD, Ctrl-C, pytest-timeout) kills the process with SIGSEGV
(docs/design.md#d11-no-dangling-signal-stacks).
`kept_signal_stack()` puts the thread's stack back as it was before the block, which is always a
valid one: an SDK-owned block never leaves a stack behind that someone else will free.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
from collections.abc import Iterator

logger = logging.getLogger(__name__)
SS_DISABLE = 2  # <signal.h> on Linux


class _StackT(ctypes.Structure):
    """Linux `stack_t` (field order differs on macOS, where this module does nothing)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - static interpreters
        return None


_LIBC = _libc()


def current_signal_stack() -> tuple[int, int, int] | None:
    """The calling thread's `(ss_sp, ss_flags, ss_size)`, or None where it cannot be read."""
    if _LIBC is None:
        return None
    stack = _StackT()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return int(stack.ss_sp or 0), int(stack.ss_flags), int(stack.ss_size)


def set_signal_stack(state: tuple[int, int, int]) -> bool:
    """Install `(ss_sp, ss_flags, ss_size)` as the calling thread's stack; False if refused."""
    if _LIBC is None:
        return False
    sp, flags, size = state
    stack = _StackT(ss_sp=sp or None, ss_flags=flags & SS_DISABLE, ss_size=size)
    return _LIBC.sigaltstack(ctypes.byref(stack), None) == 0


@contextlib.contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the block, then give the calling thread back the alternate signal stack it had before."""
    before = current_signal_stack()
    try:
        yield
    finally:
        if before is not None and current_signal_stack() != before and not set_signal_stack(before):
            # Never leave a stack its owner may unmap: signals then run on the thread's own stack.
            set_signal_stack((0, SS_DISABLE, 0))
            logger.warning("could not restore the thread's signal stack; disabled it instead")
