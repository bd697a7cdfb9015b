"""`pinclip eval` end to end on a real tiny checkpoint and a generated GenImage tree."""

from __future__ import annotations

import json

import pytest

from pinclip_sdk.cli import main
from pinclip_sdk.training.data import dataset_testing as mk


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    base = tmp_path_factory.mktemp("evalcli")
    checkpoint = make_tiny_checkpoint(base / "ckpt", seed=0)
    data = mk.make_genimage_dataset(base / "gi", generators=("SDv1.4", "GLIDE"), n_per_class=4)
    return checkpoint, data


def test_eval_default_threshold_json(setup, capsys):
    checkpoint, data = setup
    assert (
        main(
            [
                "eval",
                str(checkpoint),
                str(data),
                "--split",
                "val",
                "--json",
                "--no-progress",
                "--workers",
                "0",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "genimage"
    assert report["n_images"] == 16
    assert report["threshold"] == {"p_fake": 0.5, "logit": 0.0, "method": "default"}
    assert set(report["metrics"]["generators"]) == {"SDv1.4", "GLIDE"}
    for metrics in report["metrics"]["generators"].values():
        assert metrics["n_real"] == metrics["n_fake"] == 4
        assert 0.0 <= metrics["auc"] <= 1.0
    assert report["metrics"]["mean"]["n_generators"] == 2


def test_eval_target_fpr_robustness_and_files(setup, tmp_path, capsys):
    checkpoint, data = setup
    out = tmp_path / "report"
    argv = [
        "eval",
        str(checkpoint),
        str(data),
        "--split",
        "val",
        "--target-fpr",
        "0.25",
        "--calib",
        str(data),
        "--calib-split",
        "train",
        "--robustness",
        "--jpeg",
        "none,50",
        "--blur",
        "0,2",
        "--downscale",
        "1",
        "--out",
        str(out),
        "--no-progress",
        "--workers",
        "0",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "target FPR 0.25 on 8 calibration reals" in text
    assert "**Mean (2)**" in text
    for name in (
        "metrics.json",
        "metrics.md",
        "robustness.json",
        "robustness.md",
        "robustness.png",
        "scores.csv",
    ):
        assert (out / name).is_file(), name
    report = json.loads((out / "metrics.json").read_text())
    threshold = report["threshold"]
    assert threshold["method"] == "target_fpr"
    assert threshold["achieved_fpr"] <= 0.25
    robustness = json.loads((out / "robustness.json").read_text())
    assert robustness["threshold"] == pytest.approx(threshold["logit"])  # the same fixed threshold
    assert len(robustness["conditions"]) == 4
    assert len((out / "scores.csv").read_text().splitlines()) == 17


def test_eval_refuses_calibrating_on_the_evaluated_reals(setup, capsys):
    checkpoint, data = setup
    argv = [
        "eval",
        str(checkpoint),
        str(data),
        "--split",
        "val",
        "--target-fpr",
        "0.1",
        "--calib",
        str(data),
        "--calib-split",
        "val",
        "--no-progress",
        "--workers",
        "0",
    ]
    assert main(argv) == 1
    assert "calibration reals are also in the evaluated set" in capsys.readouterr().err


def test_eval_usage_errors(setup, capsys):
    checkpoint, data = setup
    assert main(["eval", str(checkpoint), str(data), "--target-fpr", "0.1"]) == 2
    assert "--target-fpr and --calib go together" in capsys.readouterr().err
    assert main(["eval", str(checkpoint), str(data), "--calib", str(data)]) == 2
    capsys.readouterr()
    assert (
        main(["eval", str(checkpoint), str(data), "--threshold", "1.5", "--no-progress", "--workers", "0"])
        == 1
    )
    assert "must be in (0, 1)" in capsys.readouterr().err
    assert main(["eval", str(checkpoint / "nope"), str(data), "--no-progress", "--workers", "0"]) == 1


def test_eval_without_split_scores_each_split_separately(setup, capsys):
    checkpoint, data = setup
    assert main(["eval", str(checkpoint), str(data), "--json", "--no-progress", "--workers", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["metrics"]["generators"]) == {"train/SDv1.4", "train/GLIDE", "val/SDv1.4", "val/GLIDE"}
    assert "split/generator" in report["notes"][0]


def test_eval_on_fakes_only_reports_fake_accuracy(setup, tmp_path, capsys):
    checkpoint, _ = setup
    root = mk.make_folder_dataset(tmp_path / "new_generator", n_per_class=3)
    import shutil

    shutil.rmtree(root / "real")
    assert main(["eval", str(checkpoint), str(root), "--json", "--no-progress", "--workers", "0"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]["generators"]["new_generator"]
    assert (metrics["n_real"], metrics["n_fake"], metrics["reals"]) == (0, 3, "none")
    assert metrics["fake_acc"] is not None
    assert metrics["auc"] is None
