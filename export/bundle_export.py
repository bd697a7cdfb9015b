"""`export_bundle`: checkpoint -> gated `*.pinclip` bundle (the Python face of `pinclip export`).

Steps: DetectorModule -> FP32 ONNX (parity with PyTorch, parameter check) -> calibration set ->
per-target artifacts -> gate on labelled images -> report -> manifest. The manifest is written
last and only when every artifact passes its gate: a failed export leaves the report for
inspection but no loadable bundle.

Example:
    >>> from pinclip_sdk.export import ExportConfig, export_bundle  # doctest: +SKIP
    >>> bundle = export_bundle("runs/ckpt", "model.pinclip",
    ...                        ExportConfig(targets=("onnxruntime", "openvino"), int8=True, calib="data/val"))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pinclip_sdk.bundle import Bundle, BundleWriter, Threshold
from pinclip_sdk.export.artifacts import ArtifactBuilder
from pinclip_sdk.export.detector_module import DetectorModule
from pinclip_sdk.export.export_config import ExportConfig
from pinclip_sdk.export.gate import raise_on_failure, run_gate
from pinclip_sdk.export.gate_artifacts import close_all, open_gate_file
from pinclip_sdk.export.gate_data import build_gate_set
from pinclip_sdk.export.provenance import checkpoint_provenance, library_versions
from pinclip_sdk.export.report import write_report

_logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def export_bundle(
    checkpoint: str | Path,
    output: str | Path,
    config: ExportConfig | None = None,
    progress: Progress | None = None,
) -> Bundle:
    """Export a training checkpoint to a gated bundle at `output` (a `*.pinclip` directory).

    Raises:
        ConfigError: invalid config (checked before any work).
        ExportError / CalibrationError: a step failed.
        GateFailedError: an artifact missed its gate (the report is left in `output`).
        BundleError: `output` exists and `config.overwrite` is false.
    """
    config = config or ExportConfig()
    progress = progress or _noop
    progress("loading checkpoint")
    detector = DetectorModule.from_checkpoint(checkpoint)
    return export_detector(detector, output, config, checkpoint_provenance(checkpoint), progress)


def export_detector(
    detector: DetectorModule,
    output: str | Path,
    config: ExportConfig,
    provenance: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Bundle:
    """Export an in-memory `DetectorModule` (see `export_bundle`)."""
    progress = progress or _noop
    output = Path(output)
    writer = BundleWriter(output, overwrite=config.overwrite)
    model_id = config.model_id or _default_model_id(output, provenance or {})
    builder = ArtifactBuilder(detector, writer, config, model_id, progress)
    try:
        report = _build_and_gate(builder, detector, config, model_id, progress)
    finally:
        builder.close()
    progress("writing manifest")
    provenance = {
        **(provenance or {}),
        "calibration": report.get("calibration", {}).get("files"),
        "gate_set": report["gate_set"],
        "libraries": library_versions(),
        "exporter": report["onnx"]["exporter"],
    }
    keys = ("agreement", "auc_delta", "max_abs_logit_error", "passed", "evaluated_with")
    metrics = {name: {k: a[k] for k in keys} for name, a in report["gate"]["artifacts"].items()}
    bundle = writer.finish(
        model_id=model_id,
        backbone=detector.backbone,
        preprocess=detector.preprocess_spec,
        threshold=Threshold(),
        provenance=provenance,
        metrics={"gate": metrics, "reference": report["gate"]["reference"]},
    )
    _logger.info("bundle written: %s (%d artifacts)", output, len(bundle.artifacts))
    return bundle


def _build_and_gate(
    builder: ArtifactBuilder,
    detector: DetectorModule,
    config: ExportConfig,
    model_id: str,
    progress: Progress,
) -> dict[str, Any]:
    builder.build_all()
    progress("gate: scoring labelled images with every artifact")
    gate_set = build_gate_set(
        detector.preprocess_spec,
        config.gate_data,
        config.calib,
        builder.int8_calibration_files,
        config.gate_size,
        config.seed,
        config.layout,
    )
    threshold = Threshold().value
    # each artifact as its bundle will record it: same backend class, same load options
    opened = []
    try:
        for a in builder.artifacts:
            path = builder.writer.root / a.main_file
            opened.append(open_gate_file(a.name, path, a.backend, a.precision, a.load_options))
        reference = next(g for g in opened if g.name == "onnxruntime-fp32")
        gate = run_gate(
            opened,
            reference,
            gate_set.inputs,
            gate_set.labels,
            threshold,
            config.gate,
            detector.preprocess_spec,
        )
    finally:
        close_all(opened)
    report = {
        "model_id": model_id,
        "threshold": threshold,
        "gate_config": config.gate.to_dict(),
        "gate_set": gate_set.summary,
        "gate": gate,
        "onnx": builder.onnx_info,
        "artifacts": builder.artifact_info,
        "calibration": builder.int8_calibration_info,
    }
    json_path, _ = write_report(builder.writer.root, report)
    raise_on_failure(gate, str(json_path))
    return report


def _default_model_id(output: Path, provenance: dict[str, Any]) -> str:
    stem = output.name.removesuffix(".pinclip") or "pinclip"
    weights = provenance.get("checkpoint", {}).get("weights_sha256", "")
    return f"{stem}-{weights[:8]}" if weights else stem
