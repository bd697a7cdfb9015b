"""Test helpers for other areas: a real, gated bundle from the tiny PiN-CLIP checkpoint.

`make_tiny_bundle` trains the tiny checkpoint (`training.testing.make_tiny_checkpoint`), exports it
with `export_bundle` and returns the bundle path. Without INT8 and without `data` the gate checks
logit parity on random inputs (no images needed); with `int8=True` a miniature GenImage tree is
generated for calibration and the gate (preprocessed through the C++ core). It takes ~10-30 s on
two cores: share it through a session-scoped fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pinclip_sdk.errors import ConfigError


def make_tiny_bundle(
    directory: str | Path,
    targets: Sequence[str] = ("onnxruntime", "openvino"),
    int8: bool = False,
    *,
    data: str | Path | None = None,
    fp16: bool = False,
    seed: int = 0,
    head: Literal["linear", "cosine"] = "linear",
    image_size: int = 32,
    name: str = "tiny.pinclip",
    overwrite: bool = False,
) -> Path:
    """Export the tiny checkpoint to `directory/name` and return the bundle path.

    Args:
        directory: where the checkpoint, generated images and the bundle go (created).
        targets: `onnxruntime`, `openvino`, `tensorrt` (TensorRT-ready ONNX only; no GPU needed).
        int8: add the INT8 artifacts (calibrated on `data`, or on a generated GenImage tree).
        data: labelled images for calibration and the gate (any layout `discover` reads).
        fp16: add `onnxruntime-fp16` (TensorRT always gets its FP16 ONNX).
        seed: seeds the checkpoint and the generated images.
        head: detection head of the tiny model.
        image_size: input side of the tiny model (32 or 64).
    """
    from pinclip_sdk.export.bundle_export import export_bundle
    from pinclip_sdk.export.export_config import ExportConfig
    from pinclip_sdk.export.gate import GateConfig
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = make_tiny_checkpoint(
        directory / f"checkpoint-{seed}", seed=seed, head=head, image_size=image_size
    )
    if int8 and data is None:
        from pinclip_sdk.training.data.dataset_testing import make_genimage_dataset

        data = make_genimage_dataset(directory / f"images-{seed}", n_per_class=12, size=image_size, seed=seed)
    if data is not None and not Path(data).exists():
        raise ConfigError(f"make_tiny_bundle: data {data} does not exist")
    # A few dozen gate images make AUC coarse (one swapped pair of 32 x 32 moves it 0.1 pt), and the
    # tiny model sits near chance: the helper's gate is looser than the export defaults. The defaults
    # themselves are exercised by tests/export.
    gate = GateConfig(int8_min_agreement=0.95, max_auc_drop=0.03, latency_repeats=2)
    config = ExportConfig(
        targets=tuple(targets),
        int8=int8,
        fp16=fp16,
        calib=Path(data) if data is not None else None,
        calib_size=32,
        gate_size=64,
        gate=gate,
        model_id=f"tiny-{seed}",
        overwrite=overwrite,
        seed=seed,
    )
    bundle = export_bundle(checkpoint, directory / name, config)
    return bundle.root
