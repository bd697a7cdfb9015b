"""Names and defaults shared by the export modules (import-light: no torch, no onnx)."""

from __future__ import annotations

from typing import Literal

INPUT_NAME = "pixel_values"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18  # >= 17 for a native LayerNormalization; 18 is what torch 2.14's dynamo exporter targets
CalibrationMethodName = Literal["minmax", "entropy", "percentile"]
