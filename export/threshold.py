"""Calibrate a bundle's decision threshold on held-out real images for a target false-positive rate.

docs/design.md#d5-calibrated-thresholds: thresholds are chosen on held-out reals, for the FPR a
moderation service can accept, and stored in the bundle with the evidence (how many reals, which
files by hash, the rate achieved). The reals are preprocessed by the runtime's C++ core and scored
with the bundle's FP32 reference artifact, loaded as a `Detector` loads it.

`calibrate_decision_threshold` is the SDK's one threshold calibration, in p_fake (the unit of the
bundle's threshold and of the Detector's decision): `pinclip calibrate` and `pinclip eval
--target-fpr` (`training.evaluate.calibrate_model_threshold`) both use it.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.bundle import Bundle, Threshold, replace_threshold
from pinclip_sdk.errors import CalibrationError, DatasetError
from pinclip_sdk.export.gate_artifacts import open_gate_artifact
from pinclip_sdk.export.gate_data import preprocess_files
from pinclip_sdk.export.int8_calibration import hash_file_list
from pinclip_sdk.imageio import is_image_file
from pinclip_sdk.prediction import sigmoid
from pinclip_sdk.views import image_logits

_logger = logging.getLogger(__name__)

REFERENCE_ARTIFACT = ("onnxruntime", "fp32")


def real_image_files(reals: str | Path, layout: str = "auto") -> list[Path]:
    """The real (label 0) images of `reals`: a dataset in any layout, or a plain folder of images."""
    from pinclip_sdk.training.data import discover

    root = Path(reals)
    if not root.exists():
        raise DatasetError(f"{root}: no such file or folder of real images")
    try:
        samples = discover(root, layout=layout, allow_single_class=True)
        files = [Path(s.path) for s in samples if s.label == 0]
    except DatasetError:
        files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p.name))
    if not files:
        raise DatasetError(f"{root}: no real images found (expected a folder of images or a dataset)")
    return sorted(files)


def threshold_for_fpr(p_fake: np.ndarray, target_fpr: float) -> float:
    """Lowest threshold on p_fake calling at most `target_fpr` of these reals fake (training.metrics'),
    kept inside [0, 1]."""
    from pinclip_sdk.training.metrics import threshold_for_fpr as _threshold_for_fpr

    return float(np.clip(_threshold_for_fpr(p_fake, target_fpr), 0.0, 1.0))


def calibrate_decision_threshold(real_p_fake: np.ndarray, target_fpr: float) -> dict[str, Any]:
    """The decision threshold on p_fake that calls at most `target_fpr` of these reals fake.

    In p_fake, because that is what a bundle stores and a Detector compares (`p_fake >= threshold`):
    a threshold chosen on logits and converted rounds differently near the reals it separates.

    Returns:
        `{"p_fake", "target_fpr", "achieved_fpr", "n_reals", "resolvable"}`: `achieved_fpr` on
        these reals; `resolvable` whether there are enough reals (>= 1 / target_fpr) for the rate.

    Raises:
        CalibrationError: `target_fpr` outside (0, 1), no reals, or a non-finite score.
    """
    if not 0.0 < target_fpr < 1.0:
        raise CalibrationError(f"target FPR must be in (0, 1), got {target_fpr}")
    p_fake = np.asarray(real_p_fake, dtype=np.float64).reshape(-1)
    value = threshold_for_fpr(p_fake, target_fpr)
    return {
        "p_fake": value,
        "target_fpr": float(target_fpr),
        "achieved_fpr": float(np.mean(p_fake >= value)),
        "n_reals": int(p_fake.size),
        "resolvable": p_fake.size >= math.ceil(1 / target_fpr),
    }


def calibrate_threshold(
    bundle_path: str | Path,
    reals: str | Path,
    target_fpr: float = 0.01,
    uncertain_band: tuple[float, float] | None = None,
    uncertain_fpr: float | None = None,
    layout: str = "auto",
) -> Bundle:
    """Set the bundle's threshold for `target_fpr` on the reals in `reals`; return the reloaded bundle.

    Args:
        uncertain_band: explicit `[lo, hi)` band of p_fake reported as "uncertain".
        uncertain_fpr: alternatively, a looser FPR (> target): the band runs from its threshold up to
            the calibrated one, so reals scoring there are "uncertain" rather than "fake".

    Raises:
        CalibrationError: bad FPR values or a band that does not contain the threshold's neighbourhood.
        DatasetError: no real images.
    """
    if not 0.0 < target_fpr < 1.0:
        raise CalibrationError(f"target FPR must be in (0, 1), got {target_fpr}")
    bundle = Bundle.load(bundle_path)
    files = real_image_files(reals, layout)
    scorer = open_gate_artifact(bundle, bundle.find(*REFERENCE_ARTIFACT))
    try:
        spec = bundle.manifest.preprocess
        p_fake = sigmoid(image_logits(scorer.scores(preprocess_files(files, spec)), spec))
    finally:
        scorer.close()
    chosen = calibrate_decision_threshold(p_fake, target_fpr)
    value = chosen.pop("p_fake")
    band = _band(p_fake, value, target_fpr, uncertain_band, uncertain_fpr)
    evidence: dict[str, Any] = {
        **chosen,
        "reals_source": str(reals),
        "reals_file_list_sha256": hash_file_list(files, Path(reals)),
        "scored_with": scorer.name,
        "evaluated_with": scorer.evaluated_with,
        "p_fake_quantiles": {q: float(np.quantile(p_fake, float(q))) for q in ("0.5", "0.9", "0.99")},
        "calibrated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if not evidence["resolvable"]:
        _logger.warning(
            "%d reals cannot resolve an FPR of %g; use >= %d", len(files), target_fpr, 1 / target_fpr
        )
    threshold = Threshold(value=value, method="target_fpr", uncertain_band=band, evidence=evidence)
    return replace_threshold(bundle, threshold)


def _band(
    p_fake: np.ndarray,
    value: float,
    target_fpr: float,
    explicit: tuple[float, float] | None,
    looser_fpr: float | None,
) -> tuple[float, float] | None:
    if explicit is not None and looser_fpr is not None:
        raise CalibrationError("give either an explicit uncertain band or an uncertain FPR, not both")
    if looser_fpr is not None:
        if not target_fpr < looser_fpr < 1.0:
            raise CalibrationError(f"uncertain FPR {looser_fpr} must be in ({target_fpr}, 1)")
        low = threshold_for_fpr(p_fake, looser_fpr)
        return (min(low, value), value)
    if explicit is not None:
        low, high = (float(v) for v in explicit)
        if not 0.0 <= low < high <= 1.0:
            raise CalibrationError(f"uncertain band must satisfy 0 <= lo < hi <= 1, got {explicit}")
        return (low, high)
    return None
