"""A `Detector` loaded from an exported bundle makes exactly the export gate's per-image decisions.

The export below records what its gate scored: the gate images (`build_gate_set`) and each
artifact's logits (`GateArtifact.scores`). Each CPU artifact of the bundle (onnxruntime and
OpenVINO, FP32 and INT8) is then loaded by a `Detector` as an application loads it (no backend
options: the bundle's recorded load options apply) and scores the same inputs and image files.
Both run on this machine with the same backend class and options, so the logits, and with them the
decisions at the bundle threshold, must be identical: no tolerance, and nothing that depends on
how this CPU rounds INT8 (the gate's own limits are opened wide, so the export cannot fail on them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.export.gate import GateConfig, decisions
from pinclip_sdk.export.gate_artifacts import GATE_BATCH

CPU_ARTIFACTS = ("onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8")
WIDE_OPEN = GateConfig(fp32_min_agreement=0.0, int8_min_agreement=0.0, max_auc_drop=1.0, latency_repeats=1)


@pytest.fixture(scope="module")
def gated(workdir: Path, checkpoint: Path, dataset: Path) -> dict[str, Any]:
    """Export ONNX Runtime + OpenVINO FP32/INT8, keeping the gate's images and per-artifact logits."""
    from pinclip_sdk.export import ExportConfig, bundle_export, export_bundle, gate_artifacts

    captured: dict[str, Any] = {"logits": {}}
    real_scores = gate_artifacts.GateArtifact.scores
    real_gate_set = bundle_export.build_gate_set

    def scores(self: Any, inputs: np.ndarray, batch_size: int = GATE_BATCH) -> np.ndarray:
        logits = real_scores(self, inputs, batch_size)
        captured["logits"][self.name] = logits.copy()
        return logits

    def build_gate_set(*args: Any, **kwargs: Any) -> Any:
        captured["gate_set"] = real_gate_set(*args, **kwargs)
        return captured["gate_set"]

    config = ExportConfig(
        targets=("onnxruntime", "openvino"),
        int8=True,
        fp16=False,
        calib=dataset,
        calib_size=32,
        gate_size=64,
        gate=WIDE_OPEN,
        model_id="gate-parity",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gate_artifacts.GateArtifact, "scores", scores)
        patch.setattr(bundle_export, "build_gate_set", build_gate_set)
        captured["bundle"] = export_bundle(checkpoint, workdir / "parity.pinclip", config).root
    return captured


def test_the_gate_scored_every_cpu_artifact_on_labelled_files(gated: dict[str, Any]) -> None:
    gate_set = gated["gate_set"]
    assert set(gated["logits"]) == set(CPU_ARTIFACTS)
    assert len(gate_set.paths) == len(gate_set.inputs) == len(gated["logits"]["onnxruntime-int8"]) >= 32
    report = json.loads((gated["bundle"] / "report.json").read_text())
    reference = decisions(gated["logits"]["onnxruntime-fp32"], report["threshold"])
    for name in CPU_ARTIFACTS:  # the captured logits are the ones the report's numbers came from
        flips = int(np.sum(decisions(gated["logits"][name], report["threshold"]) != reference))
        assert report["gate"]["artifacts"][name]["disagreements"] == flips


@pytest.mark.parametrize("name", CPU_ARTIFACTS)
def test_detector_reproduces_the_gate_decisions(
    gated: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PINCLIP_CACHE_DIR", str(tmp_path / "cache"))
    bundle = Bundle.load(gated["bundle"])
    artifact = next(a for a in bundle.artifacts if a.name == name)
    gate_set, gate_logits = gated["gate_set"], gated["logits"][name]
    threshold = bundle.manifest.threshold.value
    with Detector(bundle.root, artifact.backend, precision=artifact.precision) as detector:
        assert (detector.choice.backend, detector.choice.precision) == (artifact.backend, artifact.precision)
        inputs = gate_set.inputs
        direct = np.concatenate(
            [detector.backend.infer(inputs[i : i + GATE_BATCH]) for i in range(0, len(inputs), GATE_BATCH)]
        )
        predictions = detector.predict_batch(list(gate_set.paths), batch_size=GATE_BATCH)
        info = detector.info()
    np.testing.assert_array_equal(direct, gate_logits)  # the gate's pixels, the Detector's backend
    assert all(p.ok for p in predictions)
    # decoded and preprocessed by the Detector itself: the same pixels, so the same logits
    np.testing.assert_array_equal(np.array([p.logit for p in predictions], np.float32), gate_logits)
    expected = decisions(gate_logits, threshold).tolist()
    assert [p.p_fake >= threshold for p in predictions] == expected
    assert [p.label == "fake" for p in predictions] == expected  # the bundle has no uncertain band
    if artifact.backend == "openvino":
        assert artifact.load_options == {"inference_precision_hint": "f32"}
        assert info["backend_info"]["inference_precision_hint"] == "f32"  # recorded, applied by default
