"""`Prediction`, the result of scoring one image, and the decision rule that labels it.

A prediction carries the calibrated probability, the label it implies under the bundle's
threshold (optional "uncertain" band: docs/design.md#d5-calibrated-thresholds), which model made it and how
long each stage took. Items that fail (an undecodable file in a batch) come back as a prediction
with `label == "error"` and `error` set, so a batch never aborts on one bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from pinclip_sdk.errors import ConfigError

LABELS = ("real", "fake", "uncertain", "error")


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
    """

    p_fake: float
    label: str
    threshold: float
    model_id: str
    timings: dict[str, float] = field(default_factory=dict)
    logit: float = math.nan
    source: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN becomes None), as written by `pinclip detect --format jsonl`."""
        return {
            "source": self.source,
            "label": self.label,
            "p_fake": None if math.isnan(self.p_fake) else round(self.p_fake, 6),
            "logit": None if math.isnan(self.logit) else round(self.logit, 6),
            "threshold": self.threshold,
            "model_id": self.model_id,
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
            "error": self.error,
        }

    @classmethod
    def failed(
        cls, error: str, *, threshold: float, model_id: str, source: str | None = None, **timings: float
    ) -> Prediction:
        """The result standing for an item that could not be scored."""
        return cls(math.nan, "error", threshold, model_id, dict(timings), math.nan, source, error)
