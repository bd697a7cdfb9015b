"""`Prediction`, the result of scoring one image, and the decision rule that labels it.

A prediction carries the calibrated probability, the label it implies under the bundle's
threshold (optional "uncertain" band: docs/design.md#d5-calibrated-thresholds), which model made it and how
long each stage took. Items that fail (an undecodable file in a batch) come back as a prediction
with `label == "error"` and `error` set, so a batch never aborts on one bad input.

`VideoPrediction` is the verdict on a video: one `FrameScore` per sampled frame and their aggregate
(`AGGREGATES`: mean of logits, max, or the fraction of frames at or above the frame threshold), see
docs/video.md. Both carry `evidence`, the provenance findings read from the file when asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from pinclip_sdk.errors import ConfigError

LABELS = ("real", "fake", "uncertain", "error")
LABEL_SOURCES = ("model", "provenance")  # what set the label: the score, or trusted provenance
AGGREGATES = ("mean_logit", "max", "fraction_above")
# `fraction_above` labels a video fake when at least this share of frames is at or above the frame threshold
FRACTION_FAKE = 0.5


@overload
def sigmoid(logit: float) -> float: ...


@overload
def sigmoid(logit: np.ndarray) -> np.ndarray: ...


def sigmoid(logit: float | np.ndarray) -> float | np.ndarray:
    """p_fake from a logit: a float for a number, a float64 array for an array.

    Numerically stable (a logit of -1000 must not overflow: only `exp(-|x|)` is evaluated) and one
    implementation for the Detector, the export gate and threshold calibration, so all three turn
    the same logit into bit-identical p_fake and make the same decision at a threshold.
    """
    x = np.asarray(logit, dtype=np.float64)
    z = np.exp(-np.abs(x))
    p_fake = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return float(p_fake) if p_fake.ndim == 0 else p_fake


@dataclass(frozen=True)
class DecisionRule:
    """Turns p_fake into a label: `fake` at or above `threshold`, `uncertain` inside `uncertain_band`.

    Args:
        threshold: decision threshold on p_fake, in (0, 1).
        uncertain_band: `(lo, hi)` with `lo <= threshold <= hi`; p_fake in `[lo, hi)` is
            labelled `uncertain` instead of real or fake. None disables the band.
    """

    threshold: float = 0.5
    uncertain_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 0.0 < float(self.threshold) < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold!r}")
        object.__setattr__(self, "threshold", float(self.threshold))
        band = self.uncertain_band
        if band is not None:
            try:
                lo, hi = (float(v) for v in band)
            except (TypeError, ValueError):
                raise ConfigError(f"uncertain_band must be (lo, hi), got {band!r}") from None
            if not 0.0 <= lo <= self.threshold <= hi <= 1.0 or lo == hi:
                raise ConfigError(
                    f"uncertain_band {band!r} must satisfy 0 <= lo <= threshold ({self.threshold}) <= hi <= 1"
                    " with lo < hi"
                )
            object.__setattr__(self, "uncertain_band", (lo, hi))

    def label(self, p_fake: float) -> str:
        band = self.uncertain_band
        if band is not None and band[0] <= p_fake < band[1]:
            return "uncertain"
        return "fake" if p_fake >= self.threshold else "real"


@dataclass(frozen=True)
class Prediction:
    """The detector's verdict on one image.

    Attributes:
        p_fake: probability that the image is AI-generated (sigmoid of the model's logit); NaN on error.
        label: `real`, `fake`, `uncertain` (inside the bundle's uncertain band) or `error`.
        threshold: the decision threshold on `p_fake` that produced `label`.
        model_id: the bundle's model id (which model made this call).
        timings: milliseconds per stage (`decode`, `preprocess`, `inference`, `total`; streams add `latency`).
        logit: the raw model output.
        source: a short description of the input (a path, or the input's type).
        error: why the item failed (`label == "error"`), else None.
        evidence: provenance findings read from the file (each a dict: `source`, `says`,
            `declares_generated`, `validation`, `error`), `()` when it says nothing, None when not read.
        label_source: `model` (the score decided) or `provenance` (trusted provenance declaring
            generated media set `fake`, with `Detector(provenance_sets_label=True)` only).
    """

    p_fake: float
    label: str
    threshold: float
    model_id: str
    timings: dict[str, float] = field(default_factory=dict)
    logit: float = math.nan
    source: str | None = None
    error: str | None = None
    evidence: tuple[dict[str, Any], ...] | None = None
    label_source: str = "model"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes None), as written by `pinclip detect --format jsonl`."""
        return {**_verdict_fields(self, "image"), "logit": _number(self.logit)}

    @classmethod
    def failed(
        cls,
        error: str,
        *,
        threshold: float,
        model_id: str,
        source: str | None = None,
        evidence: tuple[dict[str, Any], ...] | None = None,
        **timings: float,
    ) -> Prediction:
        """The result standing for an item that could not be scored."""
        return cls(math.nan, "error", threshold, model_id, dict(timings), math.nan, source, error, evidence)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def _verdict_fields(result: Prediction | VideoPrediction, kind: str) -> dict[str, Any]:
    """The row fields images and videos share (NaN as None, timings rounded)."""
    return {
        "kind": kind,
        "source": result.source,
        "label": result.label,
        "label_source": result.label_source,
        "p_fake": _number(result.p_fake),
        "threshold": result.threshold,
        "model_id": result.model_id,
        "timings_ms": {k: round(v, 3) for k, v in result.timings.items()},
        "evidence": None if result.evidence is None else list(result.evidence),
        "error": result.error,
    }


@dataclass(frozen=True)
class FrameScore:
    """One scored video frame: its timestamp `t` (seconds), decoded-frame `index`, `p_fake` and `logit`."""

    t: float
    index: int
    p_fake: float
    logit: float

    def to_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 3), "p_fake": round(self.p_fake, 6)}


@dataclass(frozen=True)
class VideoPrediction:
    """The detector's verdict on a video: per-frame scores and their aggregate.

    Attributes:
        p_fake: the aggregate: sigmoid of the mean frame logit (`mean_logit`), the highest frame
            p_fake (`max`), or the fraction of frames with p_fake >= `frame_threshold`
            (`fraction_above`); NaN when no frame was scored.
        label: `real`, `fake`, `uncertain` (mean_logit / max inside the uncertain band) or `error`.
        threshold: the threshold on `p_fake` that produced `label`: the calibrated frame threshold
            for `mean_logit` and `max`, `FRACTION_FAKE` for `fraction_above`.
        frame_threshold: the calibrated per-frame threshold.
        model_id: the bundle's model id.
        frames: the scored frames in time order.
        aggregate: which of `AGGREGATES` made `p_fake`.
        timings: milliseconds (`decode`: demux + decode + RGB conversion, `preprocess`, `inference`
            summed over frames; `total` wall time).
        partial: decoding stopped before the end of the stream (`error` says why); the frames
            decoded before it are scored and aggregated.
        error: why the video failed (`label == "error"`) or stopped early (`partial`), else None.
        evidence, label_source: as in `Prediction`.
        source: a short description of the input.
    """

    p_fake: float
    label: str
    threshold: float
    frame_threshold: float
    model_id: str
    frames: tuple[FrameScore, ...] = ()
    aggregate: str = "mean_logit"
    timings: dict[str, float] = field(default_factory=dict)
    partial: bool = False
    error: str | None = None
    evidence: tuple[dict[str, Any], ...] | None = None
    label_source: str = "model"
    source: str | None = None

    @property
    def ok(self) -> bool:
        return self.label != "error"

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as `pinclip detect --format jsonl` writes it (`frames`: `{"t", "p_fake"}`)."""
        return {
            **_verdict_fields(self, "video"),
            "frame_threshold": self.frame_threshold,
            "aggregate": self.aggregate,
            "frames": [frame.to_dict() for frame in self.frames],
            "partial": self.partial,
        }


def aggregate_frames(
    frames: tuple[FrameScore, ...], rule: DecisionRule, method: str = "mean_logit"
) -> tuple[float, str, float]:
    """`(p_fake, label, threshold)` of a video from its frame scores by `method` (see `VideoPrediction`)."""
    if method not in AGGREGATES:
        raise ConfigError(f"aggregate {method!r} is not one of {AGGREGATES}")
    if not frames:
        return math.nan, "error", rule.threshold
    if method == "fraction_above":
        share = sum(frame.p_fake >= rule.threshold for frame in frames) / len(frames)
        return share, "fake" if share >= FRACTION_FAKE else "real", FRACTION_FAKE
    if method == "max":
        p_fake = max(frame.p_fake for frame in frames)
    else:
        p_fake = sigmoid(math.fsum(frame.logit for frame in frames) / len(frames))
    return p_fake, rule.label(p_fake), rule.threshold
