"""CI smoke test of the main job: the whole quickstart pipeline at reduced size (~15 s)."""

from __future__ import annotations

import json

import pytest

from pinclip_sdk import Bundle
from pinclip_sdk.cli import main as pinclip


@pytest.mark.slow
def test_quickstart_smoke_runs_the_whole_pipeline(tmp_path, capsys):
    out = tmp_path / "qs"
    assert pinclip(["quickstart", "--smoke", "--out", str(out)]) == 0  # what scripts/quickstart.sh runs
    printed = capsys.readouterr().out
    for banner in ("[1/5] build the proxy benchmark", "[3/5] export", "[5/5] Detector"):
        assert banner in printed
    assert "NOT a real-world detector" in printed
    assert "--set model.backbone=ViT-L-14 --set model.pretrained=openai" in printed

    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "smoke"
    # A near-chance smoke model: which decisions flip under INT8 depends on the CPU's INT8 rounding,
    # so only what is stable on every CPU is asserted here (the full quickstart gates on >= 99%).
    assert set(report["int8_agreement"]) == {"onnxruntime", "openvino"}
    assert all(0.0 <= value <= 1.0 for value in report["int8_agreement"].values())
    assert all(delta < 0.1 for delta in report["int8_max_abs_p_fake_delta"].values())
    families = report["metrics"]["onnxruntime-int8"]["generators"]
    assert set(families) == {
        f"proxy_{f}" for f in ("tconv", "pixelshuffle", "bilinear", "nearest", "denoiser")
    }
    assert report["metrics"]["onnxruntime-fp32"]["mean"]["n_generators"] == 5
    assert set(report["latency_median_ms"]["openvino-int8"]) == {"decode", "preprocess", "inference"}
    assert report["threshold"]["method"] == "target_fpr"

    bundle = Bundle.load(out / "model.pinclip")
    assert {a.name for a in bundle.artifacts} >= {
        "onnxruntime-fp32",
        "onnxruntime-int8",
        "openvino-fp32",
        "openvino-int8",
    }
    assert bundle.manifest.threshold.value == pytest.approx(report["threshold_p_fake"])
    markdown = (out / "report.md").read_text()
    assert "| **mean** |" in markdown
    assert "proxy_tconv (train)" in markdown


@pytest.mark.parametrize("argv", [["--family", "bogus"], ["--steps", "0"]])
def test_bad_options_are_usage_errors_before_any_work(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        pinclip(["quickstart", "--smoke", "--out", str(tmp_path / "qs"), *argv])
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err
    assert not (tmp_path / "qs").exists()


def test_unusable_output_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert pinclip(["quickstart", "--smoke", "--out", str(blocker / "qs")]) == 1
    assert f"--out {blocker / 'qs'}: cannot create the output folder" in capsys.readouterr().err
