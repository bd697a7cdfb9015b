"""`pinclip export | calibrate | compare` end to end, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pinclip_sdk.bundle import Bundle
from pinclip_sdk.cli import main


@pytest.fixture(scope="module")
def cli_bundle(workdir: Path, checkpoint: Path, dataset: Path) -> tuple[Path, str]:
    output = workdir / "cli.pinclip"
    argv = ["export", str(checkpoint), "-o", str(output), "--targets", "ort", "--no-fp16", "--int8"]
    argv += ["--calib", str(dataset), "--calib-size", "32", "--gate-size", "48"]
    return output, argv  # type: ignore[return-value]


def test_export_calibrate_compare(cli_bundle: tuple[Path, list[str]], dataset: Path, capsys) -> None:
    output, argv = cli_bundle
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "all passed the gate" in out.out
    assert f"pinclip calibrate {output} --reals" in out.out
    assert f"pinclip compare {output}" in out.out
    assert "building onnxruntime-int8" in out.err  # progress on stderr
    assert {a.name for a in Bundle.load(output).artifacts} == {"onnxruntime-fp32", "onnxruntime-int8"}

    assert main(["export", *argv[1:]]) == 1  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err

    assert (
        main(
            [
                "calibrate",
                str(output),
                "--reals",
                str(dataset),
                "--target-fpr",
                "0.1",
                "--uncertain-fpr",
                "0.3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "for target FPR 0.1" in out
    assert "uncertain band" in out
    threshold = Bundle.load(output).manifest.threshold
    assert threshold.method == "target_fpr"
    assert 0.0 <= threshold.value <= 1.0
    assert threshold.evidence["achieved_fpr"] <= 0.1
    assert threshold.evidence["n_reals"] == 48
    assert threshold.uncertain_band[0] <= threshold.uncertain_band[1] == threshold.value
    from pinclip_sdk.bundle import validate_manifest

    validate_manifest(json.loads((output / "manifest.json").read_text()))

    argv = ["compare", str(output), str(dataset), "--backends", "onnxruntime-int8", "--size", "48", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"]
    assert list(result["artifacts"]) == ["onnxruntime-int8"]
    assert result["threshold"] == threshold.value
    assert result["gate_set"]["n_images"] == 48

    assert main(["compare", str(output), "--backends", "openvino"]) == 1
    assert "no artifact matches 'openvino'" in capsys.readouterr().err


def test_export_fails_on_a_broken_artifact(
    workdir: Path, checkpoint: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A quantiser that writes a wrong model makes the export exit 1, name the artifact, write no manifest."""
    import pinclip_sdk.export.artifacts as artifacts

    original = artifacts.quantize_qdq

    def broken_quantize(fp32_path, output_path, *args, **kwargs):
        info = original(fp32_path, output_path, *args, **kwargs)
        model = onnx.load(str(fp32_path))
        largest = max(model.graph.initializer, key=lambda i: int(np.prod(i.dims)))
        array = numpy_helper.to_array(largest)
        largest.CopyFrom(numpy_helper.from_array((-3.0 * array).astype(array.dtype), largest.name))
        onnx.save(model, str(output_path))
        return info

    monkeypatch.setattr(artifacts, "quantize_qdq", broken_quantize)
    output = workdir / "broken.pinclip"
    argv = ["export", str(checkpoint), "-o", str(output), "--targets", "onnxruntime", "--no-fp16", "--int8"]
    argv += ["--calib", str(dataset), "--calib-size", "32", "--gate-size", "48"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "onnxruntime-int8: decision agreement" in err
    assert "failed the parity/accuracy gate" in err
    assert not (output / "manifest.json").exists()
    report = json.loads((output / "report.json").read_text())
    assert report["gate"]["artifacts"]["onnxruntime-int8"]["passed"] is False


def test_unknown_target_is_a_usage_error(checkpoint: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "x.pinclip"), "--targets", "tensorrtt"]) == 1
    assert "Did you mean 'tensorrt'?" in capsys.readouterr().err
    assert not (tmp_path / "x.pinclip").exists()


def test_int8_without_calibration_data_is_refused(checkpoint: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(checkpoint), "-o", str(tmp_path / "y.pinclip"), "--int8"]) == 1
    assert "INT8 needs calibration images" in capsys.readouterr().err


def test_export_triton_format(workdir: Path, checkpoint: Path, capsys) -> None:
    repository = workdir / "triton_repo"
    argv = [
        "export",
        str(checkpoint),
        "-o",
        str(repository),
        "--format",
        "triton",
        "--targets",
        "onnxruntime",
    ]
    assert main([*argv, "--no-fp16"]) == 0
    out = capsys.readouterr().out
    assert f"tritonserver --model-repository {repository}" in out
    bundle = workdir / "triton_repo.pinclip"
    assert {a.name for a in Bundle.load(bundle).artifacts} == {"onnxruntime-fp32"}
    configs = list(repository.glob("*/config.pbtxt"))
    assert configs
    assert "dynamic_batching" in configs[0].read_text()


def test_export_triton_from_a_bundle_as_documented(workdir: Path, checkpoint: Path, capsys) -> None:
    """docs/triton.md: `pinclip export --format triton model.pinclip -o triton-repo`."""
    bundle_path = workdir / "for_triton.pinclip"
    argv = ["export", str(checkpoint), "-o", str(bundle_path), "--targets", "onnxruntime", "--no-fp16"]
    assert main(argv) == 0
    repository = workdir / "triton-repo"
    assert main(["export", "--format", "triton", str(bundle_path), "-o", str(repository)]) == 0
    assert f"tritonserver --model-repository {repository}" in capsys.readouterr().out
    bundle = Bundle.load(bundle_path)
    [artifact] = bundle.artifacts
    [model] = list(repository.glob("*/1/model.onnx"))
    assert model.read_bytes() == (bundle.root / artifact.files[0].path).read_bytes()
    argv = ["export", "--format", "triton", str(bundle_path), "-o", str(repository), "--targets", "openvino"]
    assert main(argv) == 1
    assert "has no artifact for --targets openvino" in capsys.readouterr().err
