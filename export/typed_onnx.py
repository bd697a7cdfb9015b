"""TensorRT-ready ONNX, produced on any CPU: strongly typed FP16 and INT8 Q/DQ.

TensorRT 10.1 deprecated and 11.x removed implicit INT8 and the FP16/INT8 builder flags, so the
precision must be in the graph (docs/design.md#d3-precision-lives-in-the-onnx-graph):

- FP16: exported from PyTorch in half precision (`Fp16Detector`): every tensor type is explicit,
  LayerNorms compute in float32 (FP16 LayerNorm is where ViT engines collapse, TensorRT #2709 /
  #4723), the head runs in float32, input and output stay float32. A strongly typed TensorRT
  network (10.x with `STRONGLY_TYPED`, always on 11.x) runs exactly these precisions. The same
  graph is the onnxruntime FP16 artifact for GPU execution providers.
- INT8: Q/DQ on the Linear layers only (see `ort_quant.TRT_INT8`); everything else stays in the
  FP32 types of the source graph, which strongly typed TensorRT honours.

Engines are built from these files on the target (`export/engine_prebuild.py`, `pinclip_sdk.engine_cache`).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import onnx

from pinclip_sdk.errors import ExportError
from pinclip_sdk.export.constants import CalibrationMethodName
from pinclip_sdk.export.detector_module import DetectorModule, Fp16Detector
from pinclip_sdk.export.int8_calibration import Int8CalibrationSource
from pinclip_sdk.export.onnx_export import DEFAULT_OPSET, export_onnx
from pinclip_sdk.export.ort_quant import TRT_INT8, quantize_qdq

_logger = logging.getLogger(__name__)


def export_fp16_onnx(
    detector: DetectorModule,
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write the strongly typed FP16 graph; return a summary of its tensor types."""
    path = export_onnx(Fp16Detector(detector).eval(), path, detector.image_size, opset, metadata)
    model = onnx.load(str(path))
    types = Counter(onnx.TensorProto.DataType.Name(i.data_type) for i in model.graph.initializer)
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    if types.get("FLOAT16", 0) == 0:
        raise ExportError(f"{path}: FP16 export holds no float16 weights ({dict(types)})")
    return {
        "tool": "torch.onnx (dynamo) of the half-precision detector",
        "initializer_types": dict(types),
        "layer_norms": len(norms),
        "layer_norm_precision": "float32",
        "head_precision": "float32",
        "io": "float32",
    }


def quantize_tensorrt_int8(
    fp32_path: str | Path,
    path: str | Path,
    source: Int8CalibrationSource,
    method: CalibrationMethodName = "minmax",
) -> dict[str, Any]:
    """Write the INT8 Q/DQ ONNX for TensorRT (symmetric, per-channel weights, Linear layers only)."""
    from dataclasses import replace

    info = quantize_qdq(fp32_path, path, source, replace(TRT_INT8, calibration_method=method))
    model = onnx.load(str(path))
    zero_points = [
        i
        for i in model.graph.initializer
        if "zero_point" in i.name and any(onnx.numpy_helper.to_array(i).ravel())
    ]
    if zero_points:
        raise ExportError(f"{path}: TensorRT needs zero points of 0, found {len(zero_points)} non-zero")
    info["precision_outside_qdq"] = (
        "float32 (strongly typed; LayerNorm, Softmax, attention BMMs, patch embed, head)"
    )
    return info
