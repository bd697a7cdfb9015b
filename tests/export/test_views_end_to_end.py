"""A model trained with a native view is scored with that view everywhere: `pinclip eval`, INT8
calibration, the export gate and `Detector` see the same pixels and so give the same AP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from pinclip_sdk import Detector
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.cli import main
from pinclip_sdk.export.gate import GateConfig

WIDE_OPEN = GateConfig(fp32_min_agreement=0.0, int8_min_agreement=0.0, max_auc_drop=1.0, latency_repeats=1)
VIEWS = {
    "tiles": {"view": "tiles", "tile_grid": (2, 2), "tile_reduce": "max"},
    "patches": {"view": "patches", "patch_size": 8},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 px images for a 16 px model: the views differ from a resize and from each other."""
    from pinclip_sdk.training.data.dataset_testing import make_genimage_dataset

    root = tmp_path_factory.mktemp("views")
    return make_genimage_dataset(root / "gi", generators=("SDv1.4",), n_per_class=10, size=48, seed=3)


@pytest.fixture(scope="module", params=sorted(VIEWS))
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: Path):
    from pinclip_sdk.export import ExportConfig, export_bundle
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    root = tmp_path_factory.mktemp(request.param)
    checkpoint = make_tiny_checkpoint(root / "ckpt", seed=1, image_size=16, view=VIEWS[request.param])
    config = ExportConfig(
        targets=("onnxruntime",),
        int8=True,
        fp16=False,
        calib=data,
        calib_size=8,
        gate_data=data,
        gate_size=40,
        gate=WIDE_OPEN,
        model_id=f"views-{request.param}",
    )
    bundle = export_bundle(checkpoint, root / "b.pinclip", config).root
    return request.param, checkpoint, bundle


def _eval_scores(checkpoint: Path, data: Path, out: Path) -> dict[str, float]:
    code = main(
        ["eval", str(checkpoint), str(data), "--out", str(out), "--no-progress", "--workers", "0", "--json"]
    )
    assert code == 0
    with (out / "scores.csv").open() as handle:
        return {str(Path(row["path"]).resolve()): float(row["logit"]) for row in csv.DictReader(handle)}


def test_bundle_records_the_view(exported) -> None:
    name, _, bundle_root = exported
    manifest = Bundle.load(bundle_root).manifest
    assert manifest.preprocess.view == name
    assert manifest.preprocess.to_dict()["view"] == name
    if name == "tiles":
        assert "max of its tiles' logits" in manifest.output["semantics"]


def test_eval_gate_and_detector_agree(exported, data: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    name, checkpoint, bundle_root = exported
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "cache"))
    eval_logits = _eval_scores(checkpoint, data, tmp_path / "eval")
    capsys.readouterr()
    from pinclip_sdk.training.data import discover

    samples = discover(data)
    files = [Path(s.path) for s in samples]
    labels = np.array([s.label for s in samples])
    with Detector(bundle_root, "onnxruntime", precision="fp32") as detector:
        predictions = detector.predict_batch(files, batch_size=4)
        single = detector.predict(files[0])
    assert all(p.ok for p in predictions)
    detector_logits = np.array([p.logit for p in predictions])
    torch_logits = np.array([eval_logits[str(p.resolve())] for p in files])
    np.testing.assert_allclose(detector_logits, torch_logits, atol=2e-4)  # one view, two stacks
    assert single.logit == pytest.approx(predictions[0].logit, abs=1e-6)
    assert average_precision_score(labels, detector_logits) == pytest.approx(
        average_precision_score(labels, torch_logits), abs=1e-9
    )
    report = json.loads((bundle_root / "report.json").read_text())
    gate_files = report["gate_set"]["n_images"]
    assert gate_files == len(files)  # the gate scored every image once, tiles folded per image
    assert report["gate"]["reference"]["auc"] == pytest.approx(
        roc_auc_score(labels, detector_logits), abs=1e-9
    )
