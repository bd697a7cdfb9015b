"""Field-standard detection metrics (docs/design.md#d6-metrics-follow-the-field), numpy + scikit-learn only.

Per generator: real accuracy, fake accuracy, accuracy at the threshold, AP, AUC and TPR at 1% and
5% FPR; then unweighted means over generators (the "mAcc"/"Mean" of GenImage, AIGIBench, NPR), not
metrics pooled over all images.

Reals and generators: a generator's reals are the reals carrying its name (GenImage and AIGIBench
pair each generator with its own reals). A generator with no reals of its own is scored against
the *shared pool*: every real whose generator name no fake carries (e.g. `real/` next to
`fake/<generator>/`, or image-list rows of reals with no generator). Shared reals therefore count in
each such generator's real accuracy, AP and AUC; the report says which generators used the pool.

Thresholds are chosen on held-out reals for a target false-positive rate (`threshold_for_fpr`),
never on the test labels; a score at or above the threshold means "fake".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from pinclip_sdk.errors import CalibrationError, ConfigError

logger = logging.getLogger(__name__)

LOW_FPRS = (0.01, 0.05)
METRIC_KEYS = ("real_acc", "fake_acc", "acc", "ap", "auc", "tpr_at_1pct_fpr", "tpr_at_5pct_fpr")


def _finite_scores(scores: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{what}: {int((~np.isfinite(array)).sum())} score(s) are NaN or infinite")
    return array


def threshold_for_fpr(real_scores: Sequence[float] | np.ndarray, target_fpr: float) -> float:
    """The lowest threshold at which at most `target_fpr` of these reals score `>=` it (are called fake).

    Use reals held out from the test set: the threshold is then a deployable operating point, not a
    test-label-tuned one. With fewer than `1 / target_fpr` reals the rate cannot be resolved and the
    threshold lands just above every real (logged as a warning).

    Raises:
        CalibrationError: no reals, non-finite scores, or `target_fpr` outside (0, 1).
    """
    if not 0.0 < float(target_fpr) < 1.0:
        raise CalibrationError(f"target_fpr must be in (0, 1), got {target_fpr!r}")
    scores = _finite_scores(real_scores, "threshold_for_fpr")
    if scores.size == 0:
        raise CalibrationError("threshold_for_fpr: no real scores to calibrate on")
    allowed = math.floor(target_fpr * scores.size + 1e-9)
    if allowed == 0:
        logger.warning(
            "%d reals cannot resolve an FPR of %g (need >= %d); threshold set above every real",
            scores.size,
            target_fpr,
            math.ceil(1 / target_fpr),
        )
    descending = np.sort(scores)[::-1]
    if allowed >= scores.size:
        return float(-np.inf)
    # Reals at or above nextafter(s_k) are those strictly above s_k: at most `allowed` of them.
    return float(np.nextafter(descending[allowed], np.inf))


def false_positive_rate(real_scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """Fraction of reals called fake (`score >= threshold`)."""
    scores = _finite_scores(real_scores, "false_positive_rate")
    return float(np.mean(scores >= threshold)) if scores.size else float("nan")


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """Highest true-positive rate over thresholds whose false-positive rate is at most `fpr`."""
    fprs, tprs, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(tprs[fprs <= fpr + 1e-12].max())


def _group_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Metrics of one generator's images; rank metrics are `None` unless both classes are present."""
    fake = labels == 1
    called_fake = scores >= threshold
    both = bool(fake.any() and (~fake).any())
    out: dict[str, float | None] = {
        "real_acc": float(np.mean(~called_fake[~fake])) if (~fake).any() else None,
        "fake_acc": float(np.mean(called_fake[fake])) if fake.any() else None,
        "acc": float(np.mean(called_fake == fake)) if labels.size else None,
        "ap": float(average_precision_score(labels, scores)) if both else None,
        "auc": float(roc_auc_score(labels, scores)) if both else None,
    }
    for fpr, key in zip(LOW_FPRS, METRIC_KEYS[-2:], strict=True):
        out[key] = tpr_at_fpr(labels, scores, fpr) if both else None
    return out


def _means(per_generator: dict[str, dict]) -> dict[str, float | int | None]:
    means: dict[str, float | int | None] = {}
    for key in METRIC_KEYS:
        values = [m[key] for m in per_generator.values() if m[key] is not None]
        means[key] = float(np.mean(values)) if values else None
    means["n_generators"] = len(per_generator)
    return means


def detection_metrics(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    generators: Sequence[str] | None = None,
    threshold: float = 0.0,
) -> dict:
    """Per-generator and mean detection metrics at `threshold` (in the units of `scores`).

    Args:
        labels: 0 real, 1 fake.
        scores: higher = more likely fake (logits or probabilities); NaN scores (unreadable images)
            are left out and counted under `excluded`.
        generators: generator of each image; `None` treats the set as one generator `all`.
        threshold: an image is called fake when `score >= threshold` (0.0 = p_fake 0.5 for logits).

    Returns:
        `{"threshold", "generators": {name: {n_real, n_fake, reals, real_acc, fake_acc, acc, ap, auc,
        tpr_at_1pct_fpr, tpr_at_5pct_fpr}}, "mean": {...same keys, n_generators}, "shared_reals",
        "real_only_groups", "excluded"}`; `reals` is `own`, `shared` or `none`; undefined metrics are `None`.
    """
    labels = np.asarray(labels, dtype=np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    names = np.asarray(["all"] * labels.size if generators is None else list(generators), dtype=object)
    if not (labels.size == scores.size == names.size):
        raise ConfigError(
            f"detection_metrics: {labels.size} labels, {scores.size} scores, {names.size} generators"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ConfigError("detection_metrics: labels must be 0 (real) or 1 (fake)")
    keep = ~np.isnan(scores)
    excluded = int((~keep).sum())
    labels, scores, names = labels[keep], scores[keep], names[keep]
    fake_names = sorted({str(n) for n in names[labels == 1]})
    shared = (labels == 0) & ~np.isin(names, fake_names)
    per_generator: dict[str, dict] = {}
    for name in fake_names:
        own_reals = (labels == 0) & (names == name)
        reals = own_reals if own_reals.any() else shared
        group = ((labels == 1) & (names == name)) | reals
        metrics = _group_metrics(labels[group], scores[group], threshold)
        source = "own" if own_reals.any() else ("shared" if shared.any() else "none")
        per_generator[name] = {
            "n_real": int(reals.sum()),
            "n_fake": int(((labels == 1) & (names == name)).sum()),
            "reals": source,
            **metrics,
        }
    if not fake_names and labels.size:  # reals only: real accuracy is all there is to report
        per_generator["all"] = {
            "n_real": int(labels.size),
            "n_fake": 0,
            "reals": "own",
            **_group_metrics(labels, scores, threshold),
        }
    return {
        "threshold": float(threshold),
        "generators": per_generator,
        "mean": _means(per_generator),
        "shared_reals": int(shared.sum()) if fake_names else 0,
        # groups of reals with no fakes: they form the shared pool (used only by generators without reals)
        "real_only_groups": sorted({str(n) for n in names[shared]}) if fake_names else [],
        "excluded": excluded,
    }
