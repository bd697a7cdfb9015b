"""Scoring, the robustness grid and reports, on a stand-in model with known behaviour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pinclip_sdk.training import reporting
from pinclip_sdk.training.data import Sample, discover
from pinclip_sdk.training.data import dataset_testing as mk
from pinclip_sdk.training.evaluate import evaluate_samples, score_samples
from pinclip_sdk.training.metrics import detection_metrics
from pinclip_sdk.training.robustness import (
    Degradation,
    RobustnessConfig,
    grid,
    run_robustness,
    stratified_subset,
)

from .fixtures_data import HighFrequencyModel


@pytest.fixture(scope="module")
def genimage(tmp_path_factory):
    root = mk.make_genimage_dataset(
        tmp_path_factory.mktemp("gi"), generators=("SDv1.4", "ADM"), n_per_class=6, splits=("val",)
    )
    return discover(root)


def test_score_samples_order_eval_mode_and_unreadable(genimage, tmp_path):
    model = HighFrequencyModel()
    model.train()
    bad = mk.write_corrupt_image(tmp_path / "broken.png")
    samples = [*genimage[:5], Sample(bad, 1, "SDv1.4", "val"), *genimage[5:]]
    logits = score_samples(model, samples, model.preprocess_spec, batch_size=4, progress=False)
    assert logits.shape == (len(samples),)
    assert np.isnan(logits[5])
    assert np.isfinite(np.delete(logits, 5)).all()
    one_by_one = score_samples(model, samples[:5], model.preprocess_spec, batch_size=1, progress=False)
    np.testing.assert_allclose(logits[:5], one_by_one, rtol=1e-6)
    assert not any(model.calls_in_training_mode)
    assert model.training  # restored
    result, scores = evaluate_samples(
        model, samples, model.preprocess_spec, 0.0, batch_size=8, progress=False
    )
    assert result["unreadable"] == {"count": 1, "first": [str(bad)]}
    assert result["excluded"] == 1
    assert scores.unreadable[0][0] == str(bad)


def test_stand_in_separates_clean_images(genimage):
    model = HighFrequencyModel()
    result, _ = evaluate_samples(model, genimage, model.preprocess_spec, 0.0, progress=False)
    assert result["mean"]["auc"] == pytest.approx(1.0)
    assert result["mean"]["acc"] == pytest.approx(1.0)


def test_degradations():
    from PIL import Image

    image = Image.new("RGB", (40, 30), (120, 60, 30))
    assert Degradation().is_clean
    assert Degradation()(image) is image
    small = Degradation(jpeg_quality=50, blur_sigma=1.0, downscale=0.5)(image)
    assert small.size == (20, 15)
    assert Degradation(jpeg_quality=50, blur_sigma=1.0, downscale=0.5).name == "jpeg50+blur1+x0.5"
    assert len(grid(RobustnessConfig((None, 50), (0.0, 1.0, 2.0), (1.0, 0.5)))) == 12
    with pytest.raises(Exception, match="JPEG quality 0"):
        RobustnessConfig(jpeg_qualities=(0,))
    with pytest.raises(Exception, match="downscale"):
        RobustnessConfig(downscales=(2.0,))


def test_robustness_grid_keeps_the_threshold_fixed(genimage):
    model = HighFrequencyModel()
    cfg = RobustnessConfig(jpeg_qualities=(None, 40), blur_sigmas=(0.0, 2.0), downscales=(1.0,))
    threshold = 0.0
    result = run_robustness(
        model, genimage, model.preprocess_spec, threshold, cfg, batch_size=16, progress=False
    )
    assert result["threshold"] == threshold
    assert [c["name"] for c in result["conditions"]] == ["clean", "blur2", "jpeg40", "jpeg40+blur2"]
    by_name = {c["name"]: c for c in result["conditions"]}
    clean, blurred = by_name["clean"]["mean"], by_name["blur2"]["mean"]
    assert clean["fake_acc"] == pytest.approx(1.0)
    # blur removes the high-frequency grid: at the same threshold, fakes are now called real
    assert blurred["fake_acc"] < 0.5
    assert blurred["real_acc"] == pytest.approx(1.0)
    # each cell equals an independent evaluation at that fixed threshold
    logits = score_samples(
        model, genimage, model.preprocess_spec, progress=False, image_transform=Degradation(blur_sigma=2.0)
    )
    expected = detection_metrics(
        [s.label for s in genimage], logits, [s.generator for s in genimage], threshold
    )
    assert by_name["blur2"]["mean"] == expected["mean"]
    markdown = reporting.robustness_markdown(result)
    assert markdown.count("\n") == 2 + 4 - 1
    assert "| 40 | 2 | 1 |" in markdown


def test_stratified_subset_covers_every_group(genimage):
    subset = stratified_subset(genimage, 8, seed=3)
    assert len(subset) == 8
    assert {(s.generator, s.label) for s in subset} == {(g, lab) for g in ("SDv1.4", "ADM") for lab in (0, 1)}
    assert subset == stratified_subset(genimage, 8, seed=3)


def test_reports_written(genimage, tmp_path):
    model = HighFrequencyModel()
    result, scores = evaluate_samples(model, genimage, model.preprocess_spec, 0.0, progress=False)
    cfg = RobustnessConfig(jpeg_qualities=(None, 50), blur_sigmas=(0.0, 1.0), downscales=(1.0, 0.5))
    rob = run_robustness(model, genimage, model.preprocess_spec, 0.0, cfg, progress=False)
    report = {
        "threshold": {"p_fake": 0.5, "logit": 0.0, "method": "default"},
        "metrics": result,
        "robustness": {**rob, "threshold_p_fake": 0.5},
    }
    written = reporting.write_reports(tmp_path, report)
    names = sorted(p.name for p in written)
    assert names == ["metrics.json", "metrics.md", "robustness.json", "robustness.md", "robustness.png"]
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["mean"]["auc"] == pytest.approx(1.0)
    assert (tmp_path / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "metrics.md").read_text()
    assert "| SDv1.4 | 6 | 6 | 100.0 |" in table
    assert "**Mean (2)**" in table
    reporting.write_scores(tmp_path / "scores.csv", genimage, scores.logits)
    assert (tmp_path / "scores.csv").read_text().splitlines()[0] == "path,label,generator,split,logit,p_fake"
