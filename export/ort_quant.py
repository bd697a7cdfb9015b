"""Static Q/DQ INT8 with onnxruntime's quantiser: the CPU artifact and the TensorRT-ready Q/DQ ONNX.

Both quantise only the Linear layers (MatMul/Gemm with a weight initializer: qkv, out_proj, fc1,
fc2), per-channel weights, per-tensor activations, calibrated on the same `Int8CalibrationSource`.
Kept in higher precision: the patch-embedding Conv, every LayerNorm, Softmax and the attention
batched MatMuls (activation x activation), and the final projection + head (the nodes after the
last LayerNormalization). The recipes differ where their runtimes differ:

- onnxruntime CPU (`ORT_CPU_INT8`): activations QUInt8 asymmetric, weights QInt8 symmetric,
  `reduce_range=True` (7-bit weights). On AVX2 without VNNI, onnxruntime runs U8S8 products with
  VPMADDUBSW, whose int16 pair sums can saturate; 7-bit weights make saturation impossible at a
  small, gated accuracy cost, and U8S8 stays the fast path on AVX2, AVX-512 and VNNI alike.
- TensorRT (`TRT_INT8`): symmetric INT8 activations and weights (TensorRT only accepts zero point
  0), dedicated Q/DQ pairs per consumer so TensorRT can fuse each Linear, no onnxruntime-specific
  graph optimisation (only standard ONNX ops). This is the fallback to NVIDIA ModelOpt ONNX PTQ,
  which is not installed here: its `[onnx]` extra pins onnxruntime-gpu 1.24 and onnx 1.21.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from pinclip_sdk.errors import CalibrationError, ExportError
from pinclip_sdk.export.constants import CalibrationMethodName
from pinclip_sdk.export.int8_calibration import Int8CalibrationSource

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QdqRecipe:
    """Settings handed to `onnxruntime.quantization.quantize_static` (QDQ format)."""

    name: str
    activation_symmetric: bool
    activation_signed: bool
    reduce_range: bool
    dedicated_qdq_pair: bool
    ort_optimize: bool
    calibration_method: CalibrationMethodName = "minmax"
    extra: dict[str, Any] = field(default_factory=dict)


ORT_CPU_INT8 = QdqRecipe(
    "onnxruntime-cpu",
    activation_symmetric=False,
    activation_signed=False,
    reduce_range=True,
    dedicated_qdq_pair=False,
    ort_optimize=True,
)
TRT_INT8 = QdqRecipe(
    "tensorrt",
    activation_symmetric=True,
    activation_signed=True,
    reduce_range=False,
    dedicated_qdq_pair=True,
    ort_optimize=False,
)


def linear_nodes(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """Split MatMul/Gemm nodes into (quantise, keep): Linear layers vs attention BMMs and the head."""
    initializers = {i.name for i in model.graph.initializer}
    constants = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    weights = initializers | constants
    nodes = list(model.graph.node)
    last_norm = max((i for i, n in enumerate(nodes) if n.op_type == "LayerNormalization"), default=-1)
    quantise, keep = [], []
    for index, node in enumerate(nodes):
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        has_weight = any(name in weights for name in node.input[:2])
        (quantise if has_weight and index < last_norm else keep).append(node.name)
    if not quantise:
        raise ExportError(
            "no Linear (MatMul/Gemm with a weight) found before the final LayerNorm to quantise"
        )
    return quantise, keep


def _name_nodes(model: onnx.ModelProto) -> None:
    """Give unnamed nodes stable names: node exclusion works by name."""
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"


def _calibration_method(name: CalibrationMethodName) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if name not in methods:
        raise ExportError(f"unknown calibration method {name!r}; choose one of {sorted(methods)}")
    return methods[name]


def quantize_qdq(
    fp32_path: str | Path,
    output_path: str | Path,
    source: Int8CalibrationSource,
    recipe: QdqRecipe,
    exclude_nodes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write a static Q/DQ INT8 ONNX of `fp32_path`; return what was quantised (for the report).

    Raises:
        CalibrationError: the calibration data produced no statistics.
        ExportError: the quantiser failed.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    output_path = Path(output_path)
    with tempfile.TemporaryDirectory(prefix="pinclip-qdq-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_optimization=not recipe.ort_optimize)
        model = onnx.load(str(prepared))
        _name_nodes(model)
        onnx.save_model(model, str(prepared))
        quantise, keep = linear_nodes(model)
        keep = sorted(set(keep) | set(exclude_nodes))
        quantise = [n for n in quantise if n not in keep]
        activation = QuantType.QInt8 if recipe.activation_signed else QuantType.QUInt8
        extra = {
            "ActivationSymmetric": recipe.activation_symmetric,
            "WeightSymmetric": True,
            "DedicatedQDQPair": recipe.dedicated_qdq_pair,
            **recipe.extra,
        }
        try:
            quantize_static(
                str(prepared),
                str(output_path),
                source.ort_reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=recipe.reduce_range,
                activation_type=activation,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=quantise,
                nodes_to_exclude=keep,
                op_types_to_quantize=["MatMul", "Gemm"],
                calibrate_method=_calibration_method(recipe.calibration_method),
                extra_options=extra,
            )
        except ValueError as exc:
            if "No data is collected" in str(exc):
                raise CalibrationError(
                    "onnxruntime calibration collected no data: the source is empty"
                ) from exc
            raise ExportError(f"onnxruntime quantisation ({recipe.name}) failed: {exc}") from exc
    onnx.checker.check_model(str(output_path))
    _logger.info("INT8 Q/DQ (%s): %d Linear layers quantised, %d kept", recipe.name, len(quantise), len(keep))
    return {
        "tool": "onnxruntime.quantization.quantize_static",
        "recipe": recipe.name,
        "format": "QDQ",
        "weights": "int8 symmetric per-channel" + (" (7-bit, reduce_range)" if recipe.reduce_range else ""),
        "activations": ("int8" if recipe.activation_signed else "uint8")
        + (" symmetric" if recipe.activation_symmetric else " asymmetric")
        + " per-tensor",
        "calibration_method": recipe.calibration_method,
        "quantized_nodes": len(quantise),
        "kept_nodes": keep,
    }
