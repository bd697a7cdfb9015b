"""Shared fixtures of the proxy-benchmark tests: one tiny build, reused by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinclip_sdk.training.proxy import ProxyConfig, ProxySummary, build_proxy

# Tiny but complete: every family, both splits, both classes; a few generator steps each.
TINY = ProxyConfig(seed=3, size=32, train_per_class=8, val_per_class=6, generator_steps=8, patch=16)


@pytest.fixture(scope="session", autouse=True)
def _single_intra_op_thread():
    """Tiny tensors: intra-op threads only add hand-off cost on a busy 2-core machine."""
    from pinclip_sdk.training.threads import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_proxy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ProxySummary]:
    root = tmp_path_factory.mktemp("proxy") / "bench"
    return root, build_proxy(root, TINY, progress=False)
