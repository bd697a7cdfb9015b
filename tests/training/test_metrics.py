"""Detection metrics against hand-computed values and brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from pinclip_sdk.errors import CalibrationError, ConfigError
from pinclip_sdk.training.metrics import (
    detection_metrics,
    false_positive_rate,
    threshold_for_fpr,
    tpr_at_fpr,
)


def _hand_case():
    # A: own reals; B: no reals of its own, scored against the shared pool ("coco" has no fakes).
    rows = [
        ("A", 0, 0.1), ("A", 0, 0.4), ("A", 0, 0.6), ("A", 1, 0.7), ("A", 1, 0.3), ("A", 1, 0.9),
        ("coco", 0, 0.2), ("coco", 0, 0.8), ("B", 1, 0.85), ("B", 1, 0.5),
    ]  # fmt: skip
    generators, labels, scores = zip(*rows, strict=True)
    return list(labels), list(scores), list(generators)


def test_hand_computed_values():
    result = detection_metrics(*_hand_case(), threshold=0.5)
    a, b = result["generators"]["A"], result["generators"]["B"]
    assert set(result["generators"]) == {"A", "B"}
    assert (a["n_real"], a["n_fake"], a["reals"]) == (3, 3, "own")
    assert a["real_acc"] == pytest.approx(2 / 3)
    assert a["fake_acc"] == pytest.approx(2 / 3)
    assert a["acc"] == pytest.approx(4 / 6)
    assert a["auc"] == pytest.approx(7 / 9)
    assert a["ap"] == pytest.approx((1 + 1 + 3 / 5) / 3)
    assert a["tpr_at_1pct_fpr"] == pytest.approx(2 / 3)
    assert (b["n_real"], b["n_fake"], b["reals"]) == (2, 2, "shared")
    assert b["real_acc"] == pytest.approx(1 / 2)
    assert b["fake_acc"] == pytest.approx(1.0)  # 0.5 >= threshold counts as fake
    assert b["acc"] == pytest.approx(3 / 4)
    assert b["auc"] == pytest.approx(3 / 4)
    assert b["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert b["tpr_at_5pct_fpr"] == pytest.approx(1 / 2)
    mean = result["mean"]
    assert mean["n_generators"] == 2
    assert mean["real_acc"] == pytest.approx((2 / 3 + 1 / 2) / 2)  # over generators, not pooled
    assert mean["auc"] == pytest.approx((7 / 9 + 3 / 4) / 2)
    assert result["shared_reals"] == 2
    assert result["real_only_groups"] == ["coco"]


def test_matches_sklearn_and_brute_force_on_random_scores():
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 2, n)
    scores = rng.normal(labels * 1.2, 1.0)
    generators = rng.choice(["x", "y", "z"], n)
    result = detection_metrics(labels, scores, generators, threshold=0.3)
    for name, metrics in result["generators"].items():
        mask = generators == name
        y, s = labels[mask], scores[mask]
        assert metrics["ap"] == pytest.approx(average_precision_score(y, s))
        assert metrics["auc"] == pytest.approx(roc_auc_score(y, s))
        assert metrics["acc"] == pytest.approx(np.mean((s >= 0.3) == (y == 1)))
        assert metrics["real_acc"] == pytest.approx(np.mean(s[y == 0] < 0.3))
        for fpr, key in ((0.01, "tpr_at_1pct_fpr"), (0.05, "tpr_at_5pct_fpr")):
            brute = max(
                np.mean(s[y == 1] >= t) for t in np.append(s, np.inf) if np.mean(s[y == 0] >= t) <= fpr
            )
            assert metrics[key] == pytest.approx(brute)
    means = [result["generators"][g]["acc"] for g in "xyz"]
    assert result["mean"]["acc"] == pytest.approx(np.mean(means))


def test_nan_scores_are_excluded_and_counted():
    labels, scores, generators = _hand_case()
    scores[0] = float("nan")
    result = detection_metrics(labels, scores, generators, threshold=0.5)
    assert result["excluded"] == 1
    assert result["generators"]["A"]["n_real"] == 2


def test_single_class_generator_has_no_rank_metrics():
    result = detection_metrics([1, 1], [0.2, 0.9], ["g", "g"], threshold=0.5)
    g = result["generators"]["g"]
    assert g["reals"] == "none"
    assert g["fake_acc"] == pytest.approx(0.5)
    assert g["real_acc"] is None
    assert g["auc"] is None
    assert result["mean"]["auc"] is None


def test_reals_only_report_real_accuracy():
    result = detection_metrics([0, 0, 0, 0], [0.1, 0.2, 0.7, 0.3], None, threshold=0.5)
    assert result["generators"]["all"]["real_acc"] == pytest.approx(0.75)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="3 labels, 2 scores"):
        detection_metrics([0, 1, 1], [0.1, 0.2], None)
    with pytest.raises(ConfigError, match="labels must be 0"):
        detection_metrics([0, 2], [0.1, 0.2], None)


def test_threshold_for_fpr_hits_the_target_on_the_calibration_reals():
    reals = np.arange(1, 101, dtype=float)
    threshold = threshold_for_fpr(reals, 0.05)
    assert 95 < threshold <= np.nextafter(95, np.inf)
    assert false_positive_rate(reals, threshold) == pytest.approx(0.05)
    rng = np.random.default_rng(1)
    for target in (0.01, 0.05, 0.2):
        sample = rng.normal(size=1000)
        t = threshold_for_fpr(sample, target)
        assert false_positive_rate(sample, t) <= target
        assert false_positive_rate(sample, np.nextafter(t, -np.inf)) > target  # the lowest such threshold


def test_threshold_for_fpr_with_ties_and_too_few_reals(caplog):
    assert false_positive_rate([0.5] * 10, threshold_for_fpr([0.5] * 10, 0.2)) == 0.0
    with caplog.at_level("WARNING"):
        t = threshold_for_fpr([0.1, 0.2, 0.3], 0.01)
    assert t > 0.3
    assert "cannot resolve" in caplog.text


@pytest.mark.parametrize(
    ("reals", "fpr", "match"),
    [([], 0.05, "no real"), ([0.1], 0.0, "in \\(0, 1\\)"), ([0.1, np.nan], 0.1, "NaN")],
)
def test_threshold_for_fpr_errors(reals, fpr, match):
    with pytest.raises(CalibrationError, match=match):
        threshold_for_fpr(reals, fpr)


def test_tpr_at_fpr_perfect_separation():
    assert tpr_at_fpr(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), 0.01) == 1.0
