"""Torch intra-op thread count for a block of work, restored afterwards.

Small models (the tiny test ViT, the proxy generators) gain nothing from intra-op threads, and on a
busy CPU the thread hand-offs cost more than the work; callers pin a count and restore the old one.
Torch is imported on use, so modules that must stay torch-free at import time can use this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` torch intra-op threads, restoring the previous setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
