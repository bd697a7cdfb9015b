"""`ExportConfig` and the target capability table (checked before any work starts)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.export.constants import DEFAULT_OPSET, CalibrationMethodName
from pinclip_sdk.export.gate import GateConfig
from pinclip_sdk.export.int8_calibration import DEFAULT_INT8_CALIBRATION_SIZE
from pinclip_sdk.targets import ALIASES, BACKENDS, targets_of

# export target (a backend) -> the artifacts it can produce, by precision (`pinclip_sdk.targets`);
# the fp32 ONNX is always written (the reference)
TARGETS: dict[str, dict[str, str]] = {
    backend: {t.precision: t.name for t in targets_of(backend)} for backend in BACKENDS
}


def parse_targets(targets: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Normalise target names (aliases allowed); an unknown name is a `ConfigError` with suggestions."""
    names = [t.strip().lower() for t in (targets.split(",") if isinstance(targets, str) else targets)]
    result: list[str] = []
    for name in filter(None, names):
        name = ALIASES.get(name, name)
        if name not in TARGETS:
            close = difflib.get_close_matches(name, list(TARGETS) + list(ALIASES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown export target {name!r}. Available: {', '.join(TARGETS)}.{hint}")
        if name not in result:
            result.append(name)
    if not result:
        raise ConfigError(f"no export target given; choose from {', '.join(TARGETS)}")
    return tuple(result)


@dataclass(frozen=True)
class ExportConfig:
    """What `export_bundle` produces and how it checks it.

    Args:
        targets: runtimes to build for: `onnxruntime`, `openvino`, `tensorrt`.
        int8: also build INT8 artifacts (needs `calib`).
        fp16: build the FP16 ONNX for onnxruntime GPU providers (TensorRT always gets FP16).
        calib: INT8 calibration images (any layout `training.data.discover` reads).
        calib_size: INT8 calibration images, balanced real/fake.
        calib_batch: images per INT8 calibration batch.
        calib_method: onnxruntime INT8 calibration method for the Q/DQ models.
        gate_data: labelled held-out images for the gate; default: `calib` images not used for
            INT8 calibration; with neither, the gate compares logits on random inputs only (no AUC).
        gate_size: at most this many gate images (balanced).
        gate: the gate's thresholds.
        opset: ONNX opset (>= 17).
        openvino_accuracy_control: use NNCF's accuracy-aware INT8 (slower).
        model_id: id written into the manifest; default: the output folder's stem.
        overwrite: replace an existing output folder.
    """

    targets: tuple[str, ...] = ("onnxruntime", "openvino")
    int8: bool = False
    fp16: bool = True
    calib: Path | None = None
    calib_size: int = DEFAULT_INT8_CALIBRATION_SIZE
    calib_batch: int = 8
    calib_method: CalibrationMethodName = "minmax"
    gate_data: Path | None = None
    gate_size: int = 512
    gate: GateConfig = field(default_factory=GateConfig)
    opset: int = DEFAULT_OPSET
    openvino_accuracy_control: bool = False
    model_id: str | None = None
    overwrite: bool = False
    seed: int = 0
    layout: Literal["auto"] | str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", parse_targets(self.targets))
        for name in ("calib", "gate_data"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        if self.int8 and self.calib is None:
            raise ConfigError("INT8 needs calibration images: pass calib=DIR (CLI: --calib DIR)")
        if self.calib_size < 2 or self.calib_batch < 1 or self.gate_size < 2:
            raise ConfigError("calib_size and gate_size must be >= 2 and calib_batch >= 1")
        if self.calib_method not in ("minmax", "entropy", "percentile"):
            raise ConfigError(f"calib_method {self.calib_method!r} is not minmax, entropy or percentile")
        if self.opset < 17:
            raise ConfigError(f"opset {self.opset} < 17: LayerNormalization needs opset 17+")

    def artifact_names(self) -> list[str]:
        """Artifacts this config produces, in build order."""
        names = ["onnxruntime-fp32"]
        if "onnxruntime" in self.targets:
            names += ["onnxruntime-fp16"] if self.fp16 else []
            names += ["onnxruntime-int8"] if self.int8 else []
        if "openvino" in self.targets:
            names += ["openvino-fp32"] + (["openvino-int8"] if self.int8 else [])
        if "tensorrt" in self.targets:
            names += ["tensorrt-fp16"] + (["tensorrt-int8"] if self.int8 else [])
        return names
