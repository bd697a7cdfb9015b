"""Builds each bundle artifact from the detector (one method per artifact, a table picks them)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.bundle import Artifact, BundleWriter
from pinclip_sdk.errors import ExportError
from pinclip_sdk.export.detector_module import DetectorModule
from pinclip_sdk.export.export_config import ExportConfig
from pinclip_sdk.export.int8_calibration import (
    CalibrationFiles,
    Int8CalibrationSource,
    select_calibration_files,
)
from pinclip_sdk.export.onnx_export import check_parity, export_onnx, graph_parameter_report, onnx_parity
from pinclip_sdk.export.openvino_export import convert_openvino, quantize_openvino
from pinclip_sdk.export.ort_quant import ORT_CPU_INT8, quantize_qdq
from pinclip_sdk.export.typed_onnx import export_fp16_onnx, quantize_tensorrt_int8
from pinclip_sdk.targets import TARGETS

_logger = logging.getLogger(__name__)

# artifact name -> its files inside the bundle (main file first), from `pinclip_sdk.targets`
FILES: dict[str, tuple[str, ...]] = {t.name: t.files for t in TARGETS}
EXPORTER = "torch.onnx.export(dynamo=True), MHA fast path off"
# artifact name -> the backend load options the bundle records, the gate runs it with and every
# load applies under the caller's (`Artifact.load_options`; why: `pinclip_sdk.targets`)
LOAD_OPTIONS: dict[str, dict[str, Any]] = {t.name: dict(t.load_options) for t in TARGETS if t.load_options}


class ArtifactBuilder:
    """Writes the artifacts of an `ExportConfig` into a `BundleWriter`, recording what it did."""

    def __init__(
        self,
        detector: DetectorModule,
        writer: BundleWriter,
        config: ExportConfig,
        model_id: str,
        progress: Callable[[str], None],
    ) -> None:
        self.detector = detector
        self.writer = writer
        self.config = config
        self.progress = progress
        self.metadata = {
            "pinclip.model_id": model_id,
            "pinclip.preprocess": detector.preprocess_spec.to_json(),
        }
        self.artifacts: list[Artifact] = []
        self.artifact_info: dict[str, Any] = {}
        self.onnx_info: dict[str, Any] = {}
        self.int8_calibration_info: dict[str, Any] = {}
        self.int8_calibration_files: CalibrationFiles | None = None
        self._source: Int8CalibrationSource | None = None
        self._builders: dict[str, Callable[[], dict[str, Any]]] = {
            "onnxruntime-fp32": self._onnx_fp32,
            "onnxruntime-fp16": self._onnx_fp16,
            "onnxruntime-int8": self._onnxruntime_int8,
            "openvino-fp32": self._openvino_fp32,
            "openvino-int8": self._openvino_int8,
            "tensorrt-fp16": self._tensorrt_fp16,
            "tensorrt-int8": self._tensorrt_int8,
        }

    def path(self, name: str, index: int = 0) -> Path:
        return self.writer.root / FILES[name][index]

    def build_all(self) -> list[Artifact]:
        for name in self.config.artifact_names():
            self.progress(f"building {name}")
            info = self._builders[name]()
            backend, precision = name.rsplit("-", 1)
            artifact = self.writer.add_artifact(
                name, backend, precision, FILES[name], meta=info, load_options=LOAD_OPTIONS.get(name, {})
            )
            self.artifacts.append(artifact)
            self.artifact_info[name] = info
        return self.artifacts

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    # ---------------------------------------------------------------- calibration

    def source(self) -> Int8CalibrationSource:
        """The calibration batches, selected and preprocessed once for every INT8 artifact."""
        if self._source is None:
            if self.config.calib is None:
                raise ExportError("INT8 artifacts need calibration images (calib=DIR)")
            self.progress("calibration: selecting and preprocessing images")
            files = select_calibration_files(
                self.config.calib, self.config.calib_size, self.config.seed, self.config.layout
            )
            self.int8_calibration_files = files
            self._source = Int8CalibrationSource.from_files(
                files, self.detector.preprocess_spec, self.config.calib_batch
            )
            self._source.as_array()
            self.int8_calibration_info = {
                "files": files.summary(),
                "batch_size": self.config.calib_batch,
                "preprocessing": "pinclip_sdk.preprocess.Preprocessor.batch (C++ core, exact mode)",
                "method": self.config.calib_method,
            }
        return self._source

    # ---------------------------------------------------------------- artifacts

    def _onnx_fp32(self) -> dict[str, Any]:
        path = export_onnx(
            self.detector,
            self.path("onnxruntime-fp32"),
            self.detector.image_size,
            self.config.opset,
            self.metadata,
        )
        parity = onnx_parity(path, self.detector, self.detector.image_size)
        check_parity(parity, "onnxruntime-fp32")
        parameters = graph_parameter_report(path, self.detector)
        if not parameters["ok"]:
            raise ExportError(
                f"{path}: graph parameters are not exactly the detector's: foreign "
                f"{parameters['foreign_initializers'][:5]}, missing {parameters['missing_module_tensors']}"
            )
        self.onnx_info = {
            "exporter": EXPORTER,
            "opset": self.config.opset,
            "parity": parity,
            "parameters": parameters,
        }
        return {"opset": self.config.opset, "exporter": EXPORTER, "parity_vs_pytorch": parity}

    def _onnx_fp16(self) -> dict[str, Any]:
        info = export_fp16_onnx(
            self.detector, self.path("onnxruntime-fp16"), self.config.opset, self.metadata
        )
        info["parity_vs_pytorch"] = onnx_parity(
            self.path("onnxruntime-fp16"), self.detector, self.detector.image_size
        )
        info["intended_for"] = "onnxruntime CUDA/TensorRT execution providers"
        return info

    def _onnxruntime_int8(self) -> dict[str, Any]:
        recipe = _with_method(ORT_CPU_INT8, self.config.calib_method)
        info = quantize_qdq(
            self.path("onnxruntime-fp32"), self.path("onnxruntime-int8"), self.source(), recipe
        )
        info["calibration_file_list_sha256"] = (
            self.int8_calibration_files.sha256 if self.int8_calibration_files else None
        )
        return info

    def _openvino_fp32(self) -> dict[str, Any]:
        convert_openvino(self.path("onnxruntime-fp32"), self.path("openvino-fp32"))
        return {"source": "onnxruntime-fp32", "weights": "float32 (uncompressed)"}

    def _openvino_int8(self) -> dict[str, Any]:
        source = self.source()
        validation = None
        if self.config.openvino_accuracy_control and self.int8_calibration_files is not None:
            # NNCF measures the AUC drop on the calibration images (labels known, already preprocessed)
            validation = (source.as_array(), np.asarray(self.int8_calibration_files.labels))
        info = quantize_openvino(
            self.path("openvino-fp32"),
            self.path("openvino-int8"),
            source,
            validation=validation,
            max_drop=self.config.gate.max_auc_drop,
        )
        info["calibration_file_list_sha256"] = (
            self.int8_calibration_files.sha256 if self.int8_calibration_files else None
        )
        return info

    def _tensorrt_fp16(self) -> dict[str, Any]:
        source = self.path("onnxruntime-fp16")
        if "onnxruntime-fp16" in self.artifact_info and source.is_file():
            self.path("tensorrt-fp16").parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, self.path("tensorrt-fp16"))
            info = dict(self.artifact_info["onnxruntime-fp16"])
        else:
            info = export_fp16_onnx(
                self.detector, self.path("tensorrt-fp16"), self.config.opset, self.metadata
            )
        info["intended_for"] = "TensorRT strongly typed network (10.3+ with STRONGLY_TYPED, 11.x)"
        return info

    def _tensorrt_int8(self) -> dict[str, Any]:
        info = quantize_tensorrt_int8(
            self.path("onnxruntime-fp32"), self.path("tensorrt-int8"), self.source(), self.config.calib_method
        )
        info["calibration_file_list_sha256"] = (
            self.int8_calibration_files.sha256 if self.int8_calibration_files else None
        )
        info["intended_for"] = "TensorRT strongly typed network, explicit quantization"
        return info


def _with_method(recipe: Any, method: str) -> Any:
    from dataclasses import replace

    return replace(recipe, calibration_method=method)
