"""Parity and accuracy gate: every artifact must agree with the FP32 reference on labelled images.

Per artifact: decision agreement with the FP32 reference at the bundle threshold, AUC and accuracy
(and their deltas), max and mean absolute logit error, batch-1 and batch-N latency, and what ran
it: backend, recorded load options, `evaluated_with`. An artifact passes when agreement >= its
precision's minimum and the AUC drop <= `max_auc_drop`. `run_gate` returns the numbers;
`raise_on_failure` turns failures into one `GateFailedError` that names each failing artifact and
its numbers.

Artifacts run through the runtime's own backend classes (`pinclip_sdk.backends`) with the load
options the bundle records (`gate_artifacts.open_gate_file` / `open_gate_artifact`), so the gate
measures what a `Detector` runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pinclip_sdk.errors import ConfigError, GateFailedError
from pinclip_sdk.export.gate_artifacts import GateArtifact
from pinclip_sdk.prediction import sigmoid
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.views import image_logits

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateConfig:
    """Gate thresholds; agreements are fractions (0.999 = 99.9%), `max_auc_drop` in AUC units
    (0.005 = 0.5 points)."""

    fp32_min_agreement: float = 0.999
    fp16_min_agreement: float = 0.999
    int8_min_agreement: float = 0.99
    max_auc_drop: float = 0.005
    latency_batch: int = 8
    latency_repeats: int = 10

    def __post_init__(self) -> None:
        for name in ("fp32_min_agreement", "fp16_min_agreement", "int8_min_agreement"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"GateConfig.{name} must be a fraction in [0, 1], got {value}")
        if not 0.0 <= self.max_auc_drop <= 1.0:
            raise ConfigError(
                f"GateConfig.max_auc_drop must be in [0, 1] (0.005 = 0.5 points), got {self.max_auc_drop}"
            )
        if self.latency_batch < 1 or self.latency_repeats < 1:
            raise ConfigError("GateConfig.latency_batch and latency_repeats must be >= 1")

    def min_agreement(self, precision: str) -> float:
        return {
            "fp32": self.fp32_min_agreement,
            "fp16": self.fp16_min_agreement,
            "int8": self.int8_min_agreement,
        }[precision]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decisions(logits: np.ndarray, threshold: float) -> np.ndarray:
    """The per-image decisions (`p_fake >= threshold`, True = fake) the gate compares, computed as
    the Detector computes them (`prediction.sigmoid`)."""
    return sigmoid(np.asarray(logits)) >= threshold


def _auc(labels: np.ndarray | None, scores: np.ndarray) -> float | None:
    if labels is None or len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def _accuracy(labels: np.ndarray | None, decisions: np.ndarray) -> float | None:
    return None if labels is None else float(np.mean(decisions == labels.astype(bool)))


def artifact_metrics(
    logits: np.ndarray, reference: np.ndarray, labels: np.ndarray | None, threshold: float
) -> dict[str, Any]:
    """Agreement and accuracy numbers of `logits` against the FP32 `reference` logits."""
    called = decisions(logits, threshold)
    ref_called = decisions(reference, threshold)
    error = np.abs(logits.astype(np.float64) - reference.astype(np.float64))
    auc, ref_auc = _auc(labels, logits), _auc(labels, reference)
    accuracy, ref_accuracy = _accuracy(labels, called), _accuracy(labels, ref_called)
    return {
        "n_images": len(logits),
        "agreement": float(np.mean(called == ref_called)),
        "disagreements": int(np.sum(called != ref_called)),
        "auc": auc,
        "auc_delta": None if auc is None or ref_auc is None else auc - ref_auc,
        "accuracy": accuracy,
        "accuracy_delta": None if accuracy is None or ref_accuracy is None else accuracy - ref_accuracy,
        "max_abs_logit_error": float(error.max()),
        "mean_abs_logit_error": float(error.mean()),
    }


def gate_failures(metrics: dict[str, Any], precision: str, config: GateConfig) -> list[str]:
    """Human-readable reasons an artifact fails, empty when it passes."""
    failures = []
    minimum = config.min_agreement(precision)
    if metrics["agreement"] < minimum:
        failures.append(
            f"decision agreement {metrics['agreement']:.2%} < {minimum:.2%} "
            f"({metrics['disagreements']} of {metrics['n_images']} images flip)"
        )
    delta = metrics["auc_delta"]
    if delta is not None and -delta > config.max_auc_drop:
        failures.append(f"AUC drop {-delta * 100:.2f} pt > {config.max_auc_drop * 100:.2f} pt")
    if not math.isfinite(metrics["max_abs_logit_error"]):
        failures.append("non-finite logits")
    return failures


def run_gate(
    artifacts: Sequence[GateArtifact],
    reference: GateArtifact,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    threshold: float,
    config: GateConfig,
    spec: PreprocessSpec | None = None,
) -> dict[str, Any]:
    """Score `inputs` with the reference and every artifact; return per-artifact results.

    `labels` may be `None` (random inputs): agreement and logit errors are still checked. With the
    bundle's `spec`, labelled inputs of the tiles view (k rows per image) are scored per image, as
    the runtime scores them: the tiles' logits reduced by `spec.tile_reduce`.
    """
    if len(inputs) == 0:
        raise ConfigError("the gate needs at least one image")
    labels = None if labels is None else np.asarray(labels)

    def per_image(logits: np.ndarray) -> np.ndarray:
        return logits if spec is None or labels is None else image_logits(logits, spec)

    reference_logits = per_image(reference.scores(inputs))
    results: dict[str, Any] = {
        "reference": {
            "artifact": reference.name,
            "auc": _auc(labels, reference_logits),
            "accuracy": _accuracy(labels, decisions(reference_logits, threshold)),
            **_latencies(reference, inputs, config),
        },
        "artifacts": {},
    }
    for artifact in artifacts:
        is_reference = artifact is reference
        logits = reference_logits if is_reference else per_image(artifact.scores(inputs))
        metrics = artifact_metrics(logits, reference_logits, labels, threshold)
        metrics.update(_copy_latency(results) if is_reference else _latencies(artifact, inputs, config))
        metrics.update(artifact.describe())
        failures = gate_failures(metrics, artifact.precision, config)
        metrics["min_agreement"] = config.min_agreement(artifact.precision)
        metrics["passed"] = not failures
        metrics["failures"] = failures
        results["artifacts"][artifact.name] = metrics
        _logger.info(
            "gate %s (%s): agreement %.4f auc_delta %s max_err %.3g -> %s",
            artifact.name,
            artifact.evaluated_with,
            metrics["agreement"],
            metrics["auc_delta"],
            metrics["max_abs_logit_error"],
            "pass" if not failures else "FAIL",
        )
    results["passed"] = all(a["passed"] for a in results["artifacts"].values())
    return results


def _latencies(artifact: GateArtifact, inputs: np.ndarray, config: GateConfig) -> dict[str, float]:
    batch = inputs[: config.latency_batch]
    if len(batch) < config.latency_batch:
        batch = np.resize(inputs, (config.latency_batch,) + inputs.shape[1:]).astype(np.float32)
    return {
        "latency_ms_batch1": artifact.latency_ms(inputs[:1], repeats=config.latency_repeats),
        f"latency_ms_batch{config.latency_batch}": artifact.latency_ms(batch, repeats=config.latency_repeats),
    }


def _copy_latency(results: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in results["reference"].items() if k.startswith("latency_ms")}


def raise_on_failure(results: dict[str, Any], report_path: str | None = None) -> None:
    """Raise `GateFailedError` naming every failing artifact and its numbers."""
    failed = {name: a for name, a in results["artifacts"].items() if not a["passed"]}
    if not failed:
        return
    lines = [f"{name}: " + "; ".join(a["failures"]) for name, a in failed.items()]
    where = f" (details: {report_path})" if report_path else ""
    raise GateFailedError("artifact(s) failed the parity/accuracy gate" + where + ": " + " | ".join(lines))
