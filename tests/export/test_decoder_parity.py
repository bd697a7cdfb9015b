"""One decoder from training to the edge: `pinclip eval` (checkpoint, PyTorch) and `pinclip detect`
(its FP32 bundle) score a folder of RGBA / palette / LA / CMYK / 16-bit / 1-bit / EXIF-rotated files
alike: same decisions, same AP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from pinclip_sdk.cli import main
from pinclip_sdk.training.data import dataset_testing as mk


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd_modes")
    rng = np.random.default_rng(11)
    for label, name in ((0, "real"), (1, "fake")):
        for _ in range(3):
            mk.write_odd_mode_images(root / name, rng, label, size=36)
    return root


def test_eval_and_detect_agree_on_every_mode(
    odd_folder: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "fp32.pinclip"
    argv = ["export", str(checkpoint), "-o", str(bundle), "--targets", "onnxruntime", "--no-fp16"]
    assert main([*argv, "--gate-data", str(odd_folder)]) == 0
    capsys.readouterr()

    assert main(["eval", str(checkpoint), str(odd_folder), "--json", "--no-progress", "--workers", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 2 * 3 * len(mk.ODD_MODE_FILES)
    assert report["metrics"]["mean"]["n_generators"] == 1
    (eval_metrics,) = report["metrics"]["generators"].values()

    results = tmp_path / "detect.jsonl"
    argv = ["detect", str(odd_folder), "--model", str(bundle), "--backend", "onnxruntime", "--precision"]
    assert main([*argv, "fp32", "--threshold", "0.5", "--format", "jsonl", "--output", str(results)]) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    assert len(rows) == report["n_images"]
    assert all(row.get("error") is None for row in rows)
    labels = np.array([1 if Path(row["source"]).parent.name == "fake" else 0 for row in rows])
    p_fake = np.array([row["p_fake"] for row in rows])
    decisions = p_fake >= 0.5

    assert average_precision_score(labels, p_fake) == pytest.approx(eval_metrics["ap"], abs=1e-6)
    assert float(np.mean(decisions[labels == 0] == 0)) == pytest.approx(eval_metrics["real_acc"], abs=1e-9)
    assert float(np.mean(decisions[labels == 1] == 1)) == pytest.approx(eval_metrics["fake_acc"], abs=1e-9)
