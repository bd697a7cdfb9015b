"""Shared, expensive fixtures of the export tests (built once per session)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

for noisy in ("onnx_ir", "onnxscript", "nncf"):
    logging.getLogger(noisy).setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="session")
def checkpoint(workdir: Path) -> Path:
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    return make_tiny_checkpoint(workdir / "checkpoint", seed=0)


@pytest.fixture(scope="session")
def dataset(workdir: Path) -> Path:
    """A miniature GenImage tree: 2 generators x {real, fake} x 12 images x {train, val}."""
    from pinclip_sdk.training.data.dataset_testing import make_genimage_dataset

    return make_genimage_dataset(workdir / "genimage", n_per_class=12, size=32, seed=0)


@pytest.fixture(scope="session")
def full_bundle(workdir: Path, checkpoint: Path, dataset: Path) -> Path:
    """Every target, FP16 and INT8, gated on held-out generated images."""
    from pinclip_sdk.export import ExportConfig, export_bundle

    config = ExportConfig(
        targets=("onnxruntime", "openvino", "tensorrt"),
        int8=True,
        calib=dataset,
        calib_size=32,
        gate_size=64,
        model_id="tiny-test",
    )
    return export_bundle(checkpoint, workdir / "full.pinclip", config).root
