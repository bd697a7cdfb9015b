"""Shared fixtures of the training tests: a miniature GenImage tree and tiny run configs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pinclip_sdk.training.config import DataConfig, OptimConfig, TrainConfig
from pinclip_sdk.training.testing import tiny_model_config


@pytest.fixture(scope="session", autouse=True)
def _single_intra_op_thread():
    """Tiny tensors: intra-op threads only add hand-off cost, 20x on a busy 2-core machine."""
    from pinclip_sdk.training.threads import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def genimage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<Gen>/<subset>/{train,val}/{ai,nature}`: 2 generators x 8 images per class and split."""
    from pinclip_sdk.training.data.dataset_testing import make_genimage_dataset

    root = tmp_path_factory.mktemp("genimage")
    return make_genimage_dataset(root, generators=("SDv1.4", "Midjourney"), n_per_class=8, size=32)


@pytest.fixture
def tiny_config(genimage_root: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    """Factory: a tiny, fast run on the miniature GenImage tree; keyword overrides replace fields."""

    def make(noise: str = "pin", finetune: str = "lora", **changes) -> TrainConfig:
        base = TrainConfig(
            model=tiny_model_config(noise=noise, finetune=finetune),
            data=DataConfig(
                train_path=str(genimage_root),
                batch_size=8,
                eval_batch_size=32,
                num_workers=0,
                augment={"jpeg_prob": 0.0, "blur_prob": 0.0},
            ),
            optim=OptimConfig(lr=3e-3, warmup_steps=2),
            out_dir=str(tmp_path / "run"),
            epochs=2,
            log_every=1,
            progress=False,
        )
        return dataclasses.replace(base, **changes)

    return make
