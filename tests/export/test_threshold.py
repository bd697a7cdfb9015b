"""One threshold calibration, in p_fake: `calibrate_decision_threshold`, used by `pinclip calibrate`
(bundles) and `pinclip eval --target-fpr` (training models)."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk.errors import CalibrationError
from pinclip_sdk.export.threshold import calibrate_decision_threshold
from pinclip_sdk.prediction import DecisionRule, sigmoid


def test_threshold_is_on_p_fake_and_calls_at_most_the_target_fake() -> None:
    rng = np.random.default_rng(0)
    p_fake = sigmoid(rng.normal(-2.0, 1.5, size=200))
    chosen = calibrate_decision_threshold(p_fake, 0.05)
    assert set(chosen) == {"p_fake", "target_fpr", "achieved_fpr", "n_reals", "resolvable"}
    assert 0.0 < chosen["p_fake"] < 1.0
    rule = DecisionRule(chosen["p_fake"])  # what a Detector loading the bundle decides with
    called_fake = [rule.label(float(p)) == "fake" for p in p_fake]
    assert np.mean(called_fake) == chosen["achieved_fpr"] <= 0.05
    assert sum(called_fake) == 10  # the lowest threshold allowed: exactly floor(0.05 * 200) reals above it
    assert chosen["n_reals"] == 200
    assert chosen["resolvable"]


def test_saturated_and_few_reals() -> None:
    chosen = calibrate_decision_threshold(np.array([0.1, 0.2, 1.0]), 0.01)
    assert chosen["p_fake"] == 1.0  # kept inside [0, 1]
    assert not chosen["resolvable"]  # 3 reals cannot resolve 1%


@pytest.mark.parametrize(
    ("p_fake", "target", "match"),
    [([0.2, 0.3], 0.0, "target FPR"), ([0.2, 0.3], 1.0, "target FPR"), ([], 0.1, "no real scores")],
)
def test_errors(p_fake: list[float], target: float, match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        calibrate_decision_threshold(np.array(p_fake), target)
