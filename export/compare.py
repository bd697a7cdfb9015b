"""`compare_bundle`: the export gate, on demand, over a bundle's artifacts and any labelled images.

Artifacts load as a `Detector` loads them (`gate_artifacts.open_gate_artifact`: the backend class,
the bundle's recorded load options); TensorRT artifacts run as engines where TensorRT can run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pinclip_sdk.bundle import Artifact, Bundle
from pinclip_sdk.errors import ConfigError
from pinclip_sdk.export.export_config import ALIASES
from pinclip_sdk.export.gate import GateConfig, run_gate
from pinclip_sdk.export.gate_artifacts import close_all, open_gate_artifact
from pinclip_sdk.export.gate_data import build_gate_set

_logger = logging.getLogger(__name__)


def select_artifacts(bundle: Bundle, backends: Sequence[str] | None) -> list[Artifact]:
    """Artifacts matching `backends` entries: a backend (`openvino`), a name (`openvino-int8`) or
    `backend/precision`; all of them when `backends` is empty."""
    if not backends:
        return list(bundle.artifacts)
    chosen: list[Artifact] = []
    for raw in backends:
        key = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        matches = [a for a in bundle.artifacts if key in (a.backend, a.name, f"{a.backend}/{a.precision}")]
        if not matches:
            available = ", ".join(a.name for a in bundle.artifacts)
            raise ConfigError(f"{bundle.root}: no artifact matches {raw!r}; the bundle has: {available}")
        chosen += [a for a in matches if a not in chosen]
    return chosen


def compare_bundle(
    bundle_path: str | Path,
    data: str | Path | None,
    backends: Sequence[str] | None = None,
    gate: GateConfig | None = None,
    size: int = 512,
    threshold: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Score `data` (labelled images; `None` = random inputs) with the FP32 reference and the chosen
    artifacts; return the gate result (same numbers as the export report)."""
    bundle = Bundle.load(bundle_path)
    gate = gate or GateConfig()
    artifacts = select_artifacts(bundle, backends)
    reference_artifact = bundle.find("onnxruntime", "fp32")
    gate_set = build_gate_set(
        bundle.manifest.preprocess, Path(data) if data is not None else None, None, None, size, seed
    )
    value = bundle.manifest.threshold.value if threshold is None else threshold
    reference = open_gate_artifact(bundle, reference_artifact)
    opened = [reference]
    try:
        for a in artifacts:
            opened.append(reference if a.name == reference.name else open_gate_artifact(bundle, a))
        result = run_gate(
            opened[1:], reference, gate_set.inputs, gate_set.labels, value, gate, bundle.manifest.preprocess
        )
    finally:
        close_all(opened)
    result["gate_set"] = gate_set.summary
    result["threshold"] = value
    result["bundle"] = str(bundle.root)
    return result
