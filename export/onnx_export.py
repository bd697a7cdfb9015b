"""PyTorch -> ONNX for the detector: FP32 reference graph and the strongly typed FP16 graph.

Exporter choice (torch 2.14): the dynamo exporter (`torch.onnx.export(..., dynamo=True)`).
- The TorchScript exporter is deprecated ("will be removed") and, when the model runs under
  `no_grad` in eval mode, traces `nn.MultiheadAttention`'s fused fast path into
  `aten::_native_multi_head_attention`, which it cannot export (immich #12496, pytorch #143107);
  with the fast path off it still emits Where/Equal/Mod/ConstantOfShape shape arithmetic for the
  dynamic batch (the graph behind the dynamic-Reshape reports in #143107).
- The dynamo exporter goes through `torch.export`, which decomposes attention into
  MatMul/Softmax, keeps native `LayerNormalization` (opset >= 17) and names initializers after the
  module's parameters. We still switch the MHA fast path off while exporting (belt and braces).
Every export is checked: `onnx.checker` (full), input/output contract, parameters, parity.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from pinclip_sdk.errors import ExportError
from pinclip_sdk.export.constants import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME

_logger = logging.getLogger(__name__)

PARITY_MIN_COSINE = 0.99999
_MAX_DYNAMIC_BATCH = 4096


@contextlib.contextmanager
def mha_fastpath_disabled() -> Iterator[None]:
    """Turn `nn.MultiheadAttention`'s fused inference path off for the duration (restored after)."""
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def export_onnx(
    module: torch.nn.Module,
    path: str | Path,
    image_size: tuple[int, int],
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Export `module` (`pixel_values [N,3,H,W] -> logits [N]`) to ONNX with a dynamic batch.

    Raises:
        ExportError: the exporter failed or the graph breaks the I/O contract or `onnx.checker`.
    """
    if opset < 17:
        raise ExportError(f"opset {opset} < 17: LayerNormalization needs opset 17+ for TensorRT precision")
    path = Path(path)
    height, width = image_size
    example = torch.zeros(2, 3, height, width)
    batch = torch.export.Dim("batch", min=1, max=_MAX_DYNAMIC_BATCH)
    module = module.eval()
    captured = io.StringIO()
    try:
        with mha_fastpath_disabled(), torch.no_grad(), contextlib.redirect_stdout(captured):
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamic_shapes=({0: batch},),
                verbose=False,
                optimize=True,
            )
    except Exception as exc:  # the exporter raises many unrelated types
        raise ExportError(
            f"ONNX export of {type(module).__name__} failed: {type(exc).__name__}: {exc}"
        ) from exc
    model = program.model_proto
    for key, value in sorted((metadata or {}).items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    check_onnx_contract(path)
    _logger.info("exported %s (opset %d, %.1f MB)", path.name, opset, path.stat().st_size / 1e6)
    return path


def check_onnx_contract(path: str | Path) -> None:
    """`onnx.checker` (full) plus the bundle's I/O contract: `pixel_values` [N,3,H,W] -> `logits` [N]."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path}: onnx.checker failed: {exc}") from exc
    model = onnx.load(str(path), load_external_data=False)
    inputs = [(i.name, _dims(i)) for i in model.graph.input]
    outputs = [(o.name, _dims(o)) for o in model.graph.output]
    if len(inputs) != 1 or inputs[0][0] != INPUT_NAME or len(inputs[0][1]) != 4 or inputs[0][1][1] != 3:
        raise ExportError(f"{path}: expected one input {INPUT_NAME} [N,3,H,W], graph has {inputs}")
    if len(outputs) != 1 or outputs[0][0] != OUTPUT_NAME or len(outputs[0][1]) != 1:
        raise ExportError(f"{path}: expected one output {OUTPUT_NAME} [N], graph has {outputs}")
    if isinstance(inputs[0][1][0], int) or inputs[0][1][0] != outputs[0][1][0]:
        raise ExportError(
            f"{path}: the batch dimension must be dynamic and shared, got {inputs} -> {outputs}"
        )


def _dims(value_info: onnx.ValueInfoProto) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _fingerprint(array: np.ndarray) -> str:
    """Layout-independent identity of a weight: the sorted values (exporters transpose/reshape)."""
    values = np.sort(np.asarray(array, dtype=np.float32).ravel())
    return hashlib.sha256(np.round(values, 6).tobytes()).hexdigest()


def graph_parameter_report(path: str | Path, module: torch.nn.Module) -> dict[str, Any]:
    """Match the graph's float initializers against `module`'s parameters and buffers.

    Every module tensor must be in the graph (exporters may share identical tensors, e.g. the
    ones of fresh LayerNorms, so matching is by value set) and every float initializer of more than
    one element must be one of the module's tensors: nothing else (a generator, a text tower)
    may survive in the graph.
    """
    model = onnx.load(str(path))
    module_prints = {
        _fingerprint(t.detach().float().cpu().numpy())
        for t in list(module.parameters()) + list(module.buffers())
        if t.is_floating_point()
    }
    graph_prints: dict[str, str] = {}
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if np.issubdtype(array.dtype, np.floating) and array.size > 1:
            graph_prints[init.name] = _fingerprint(array)
    foreign = sorted(name for name, fp in graph_prints.items() if fp not in module_prints)
    missing = len(module_prints - set(graph_prints.values()) - _small_prints(module))
    return {
        "module_parameters": int(sum(p.numel() for p in module.parameters())),
        "graph_float_initializers": len(graph_prints),
        "graph_initializer_elements": int(sum(np.prod(i.dims) for i in model.graph.initializer)),
        "foreign_initializers": foreign,
        "missing_module_tensors": missing,
        "ok": not foreign and missing == 0,
    }


def _small_prints(module: torch.nn.Module) -> set[str]:
    """Fingerprints of one-element tensors (they may be folded into constants, e.g. a head bias)."""
    return {
        _fingerprint(t.detach().float().cpu().numpy())
        for t in list(module.parameters()) + list(module.buffers())
        if t.is_floating_point() and t.numel() <= 1
    }


def onnx_parity(
    path: str | Path, module: torch.nn.Module, image_size: tuple[int, int], batches: tuple[int, ...] = (1, 8)
) -> dict[str, Any]:
    """Run the ONNX graph (onnxruntime CPU) and `module` on the same random batches."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    height, width = image_size
    generator = torch.Generator().manual_seed(1234)
    results: dict[str, Any] = {}
    for batch in batches:
        pixels = torch.randn(batch, 3, height, width, generator=generator)
        with torch.no_grad():
            expected = module(pixels).float().numpy()
        actual = session.run([OUTPUT_NAME], {INPUT_NAME: pixels.numpy()})[0]
        if actual.shape != expected.shape:
            raise ExportError(
                f"{path}: output shape {actual.shape} != PyTorch {expected.shape} at batch {batch}"
            )
        results[f"batch_{batch}"] = {
            "cosine": _cosine(actual, expected),
            "max_abs_diff": float(np.abs(actual - expected).max()),
        }
    return results


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denom = np.linalg.norm(a64) * np.linalg.norm(b64)
    if denom == 0.0:
        return 1.0 if np.array_equal(a64, b64) else 0.0
    return float(a64 @ b64 / denom)


def check_parity(parity: dict[str, Any], name: str, min_cosine: float = PARITY_MIN_COSINE) -> None:
    """Raise `ExportError` when any batch of `onnx_parity` falls below `min_cosine`."""
    for batch, stats in parity.items():
        if stats["cosine"] < min_cosine:
            raise ExportError(
                f"{name}: ONNX disagrees with PyTorch at {batch}: cosine {stats['cosine']:.7f} "
                f"< {min_cosine}, max |diff| {stats['max_abs_diff']:.3g}"
            )
