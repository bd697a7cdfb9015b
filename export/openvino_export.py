"""OpenVINO IR from the FP32 ONNX: FP32 and INT8 (NNCF post-training quantisation).

One graph stays the source of truth: the IR is converted from the same FP32 ONNX that TensorRT and
onnxruntime use. Weights are saved uncompressed (`compress_to_fp16=False`): the FP32 IR is the
reference and NNCF's accuracy control wants an uncompressed model. INT8 uses
`ModelType.TRANSFORMER` (SmoothQuant + fast bias correction, no quantisers on LayerNorm/Softmax
inputs that hurt transformers) on the shared `Int8CalibrationSource`; the head (nodes after the last
LayerNorm) stays in float via an `IgnoredScope`. openvino is imported through the runtime's
`import_openvino` (telemetry off), before NNCF imports it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.backends.openvino import import_openvino
from pinclip_sdk.errors import ExportError
from pinclip_sdk.export.int8_calibration import Int8CalibrationSource
from pinclip_sdk.signal_stack import kept_signal_stack

_logger = logging.getLogger(__name__)


def convert_openvino(onnx_path: str | Path, xml_path: str | Path) -> tuple[Path, Path]:
    """Convert the FP32 ONNX to an FP32 IR; return the `.xml` and `.bin` paths."""
    ov = import_openvino()

    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    except Exception as exc:  # OpenVINO raises its own RuntimeError subclasses
        raise ExportError(f"OpenVINO conversion of {onnx_path} failed: {exc}") from exc
    return xml_path, xml_path.with_suffix(".bin")


def _head_names(model: Any) -> list[str]:
    """Names of MatMul ops after the last MVN/LayerNorm in topological order (projection + head)."""
    ops = list(model.get_ordered_ops())
    norm_types = {"MVN", "LayerNormalization", "NormalizeL2"}
    last_norm = max((i for i, op in enumerate(ops) if op.get_type_name() in norm_types), default=-1)
    return [op.get_friendly_name() for op in ops[last_norm + 1 :] if op.get_type_name() == "MatMul"]


@contextlib.contextmanager
def _nncf_output_to_stderr() -> Iterator[None]:
    """NNCF prints progress bars and INFO lines to stdout; during quantisation send them to stderr
    (stdout carries `pinclip` results), and only when the root logger is at INFO or lower (`pinclip -v`):
    by default NNCF's logger is held to WARNING and its progress bars are dropped. Restored afterwards."""
    import logging as _logging

    nncf_logger = _logging.getLogger("nncf")
    show = _logging.getLogger().getEffectiveLevel() <= _logging.INFO
    level = nncf_logger.level
    handlers = [h for h in nncf_logger.handlers if isinstance(h, _logging.StreamHandler)]
    previous = [h.stream for h in handlers]
    try:
        for handler in handlers:
            if handler.stream in (sys.stdout, sys.__stdout__):
                handler.setStream(sys.stderr)
        if not show:
            nncf_logger.setLevel(max(level, _logging.WARNING))
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sys.stderr if show else sink):
            yield
    finally:
        nncf_logger.setLevel(level)
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def _auc_validation(batch_size: int) -> Callable[[Any, Any], float]:
    """NNCF `validation_fn`: AUC of the compiled model's logits over (inputs, labels) items."""

    def validate(compiled: Any, items: Any) -> float:
        from sklearn.metrics import roc_auc_score

        logits, labels = [], []
        for inputs, item_labels in items:
            logits.append(np.asarray(compiled(inputs)[0]).reshape(-1))
            labels.append(np.asarray(item_labels).reshape(-1))
        return float(roc_auc_score(np.concatenate(labels), np.concatenate(logits)))

    return validate


def quantize_openvino(
    fp32_xml: str | Path,
    xml_path: str | Path,
    source: Int8CalibrationSource,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    max_drop: float = 0.005,
) -> dict[str, Any]:
    """NNCF INT8 of the FP32 IR, written to `xml_path`; returns what was done (for the report).

    With `validation` (`inputs [N,3,H,W]`, `labels [N]` of both classes) it runs
    `nncf.quantize_with_accuracy_control`, reverting layers until the AUC drop is <= `max_drop`.
    """
    ov = import_openvino()  # before nncf, which imports openvino itself
    import nncf

    model = ov.Core().read_model(str(fp32_xml))
    # the head, and the patch-embedding Conv as in the onnxruntime recipe: quantising it tripled the mean
    # logit error of a tiny ViT (0.070 -> 0.016 kept float) and flipped 0.8% of decisions
    ignored = nncf.IgnoredScope(names=_head_names(model), types=["Convolution"], validate=False)
    subset = source.num_batches
    common = {"subset_size": subset, "model_type": nncf.ModelType.TRANSFORMER, "ignored_scope": ignored}
    # NNCF compiles and drops models on cores of its own: keep the thread's signal stack across it,
    # with those plugins destroyed inside the block (docs/design.md#d11-no-dangling-signal-stacks).
    try:
        with kept_signal_stack(), _nncf_output_to_stderr():
            if validation is not None:
                inputs, labels = validation
                step = source.batch_size
                items = [(inputs[i : i + step], labels[i : i + step]) for i in range(0, len(inputs), step)]
                quantized = nncf.quantize_with_accuracy_control(
                    model,
                    source.nncf_dataset(),
                    nncf.Dataset(items, lambda item: item[0]),
                    validation_fn=_auc_validation(step),
                    max_drop=max_drop,
                    drop_type=nncf.DropType.ABSOLUTE,
                    **common,
                )
            else:
                quantized = nncf.quantize(model, source.nncf_dataset(), **common)
            ov.save_model(quantized, str(xml_path), compress_to_fp16=False)
            gc.collect()
    except Exception as exc:
        raise ExportError(f"NNCF INT8 quantisation of {fp32_xml} failed: {exc}") from exc
    fake_quantize = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    _logger.info(
        "OpenVINO INT8: %d FakeQuantize ops, kept float: %s and every %s",
        fake_quantize,
        ignored.names,
        ignored.types,
    )
    return {
        "tool": f"nncf {nncf.__version__} "
        + ("quantize_with_accuracy_control" if validation else "quantize"),
        "model_type": "TRANSFORMER",
        "subset_size_batches": subset,
        "fake_quantize_ops": int(fake_quantize),
        "ignored": list(ignored.names) + [f"type:{t}" for t in ignored.types],
        **({"accuracy_control": {"metric": "AUC", "max_drop": max_drop}} if validation else {}),
    }
