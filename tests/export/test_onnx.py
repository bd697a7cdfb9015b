"""The FP32 ONNX: contract, checker, parity with PyTorch, and exactly the detector's parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper


@pytest.fixture(scope="module")
def fp32_onnx(full_bundle: Path) -> Path:
    return full_bundle / "onnxruntime" / "detector.fp32.onnx"


def test_contract_and_checker(fp32_onnx: Path) -> None:
    onnx.checker.check_model(str(fp32_onnx), full_check=True)
    model = onnx.load(str(fp32_onnx))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "pixel_values"
    assert out.name == "logits"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str)
    assert in_dims[1:] == [3, 32, 32]
    assert out_dims == [in_dims[0]]
    assert "LayerNormalization" in {n.op_type for n in model.graph.node}


def test_parity_with_pytorch_recorded(full_bundle: Path) -> None:
    report = json.loads((full_bundle / "report.json").read_text())
    parity = report["onnx"]["parity"]
    assert set(parity) == {"batch_1", "batch_8"}
    for stats in parity.values():
        assert stats["cosine"] >= 0.99999
        assert stats["max_abs_diff"] < 1e-4


def test_parity_and_parameters_recomputed(fp32_onnx: Path, checkpoint: Path) -> None:
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.export.onnx_export import graph_parameter_report, onnx_parity

    detector = DetectorModule.from_checkpoint(checkpoint)
    parity = onnx_parity(fp32_onnx, detector, detector.image_size)
    assert all(s["cosine"] >= 0.99999 for s in parity.values())
    params = graph_parameter_report(fp32_onnx, detector)
    assert params["ok"], params
    assert params["foreign_initializers"] == []
    assert params["missing_module_tensors"] == 0


def _prints(arrays: list[np.ndarray]) -> set[bytes]:
    return {np.round(np.sort(a.astype(np.float32).ravel()), 6).tobytes() for a in arrays if a.size > 1}


def test_nothing_of_the_generator_survives(fp32_onnx: Path, checkpoint: Path) -> None:
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.training.checkpoint import load_model

    model, _ = load_model(checkpoint)
    graph = onnx.load(str(fp32_onnx))
    initializers = [numpy_helper.to_array(i) for i in graph.graph.initializer]
    float_inits = [a for a in initializers if np.issubdtype(a.dtype, np.floating)]
    generator = _prints([p.detach().numpy() for p in model.noise_generator.parameters()])
    assert generator
    assert not generator & _prints(float_inits)
    assert not _prints([model.prompt_embeddings.numpy()]) & _prints(float_inits)  # linear head: no prompts
    detector = DetectorModule.from_checkpoint(checkpoint)
    graph_elements = sum(a.size for a in float_inits if a.size > 1)
    module_elements = sum(p.numel() for p in detector.parameters() if p.numel() > 1)
    generator_elements = sum(p.numel() for p in model.noise_generator.parameters())
    # identical tensors may be shared in the graph, never added: graph <= detector < detector + generator
    assert graph_elements <= module_elements < module_elements + generator_elements


def test_export_refuses_old_opset(tmp_path: Path, checkpoint: Path) -> None:
    from pinclip_sdk.errors import ExportError
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.export.onnx_export import export_onnx

    detector = DetectorModule.from_checkpoint(checkpoint)
    with pytest.raises(ExportError, match="opset 13 < 17"):
        export_onnx(detector, tmp_path / "x.onnx", detector.image_size, opset=13)


def test_fastpath_restored() -> None:
    import torch

    from pinclip_sdk.export.onnx_export import mha_fastpath_disabled

    before = torch.backends.mha.get_fastpath_enabled()
    with mha_fastpath_disabled():
        assert not torch.backends.mha.get_fastpath_enabled()
    assert torch.backends.mha.get_fastpath_enabled() == before


def test_cosine_head_exports_exactly_the_detector_parameters(tmp_path: Path) -> None:
    """Cosine head: the prompts reach the graph as the module's unit-prompt buffer; INT8 prep can read it."""
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.export.onnx_export import export_onnx, graph_parameter_report, onnx_parity
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    detector = DetectorModule.from_checkpoint(make_tiny_checkpoint(tmp_path / "ckpt", head="cosine"))
    assert detector.prompt_embeddings is None  # folded into the head
    path = export_onnx(detector, tmp_path / "cosine.onnx", detector.image_size, 18, {})
    params = graph_parameter_report(path, detector)
    assert params["ok"], params
    parity = onnx_parity(path, detector, detector.image_size)
    assert all(s["max_abs_diff"] < 1e-4 for s in parity.values()), parity
    # INT8 quantisation starts with onnxruntime's symbolic shape inference: it must follow the head
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(path), str(tmp_path / "prepared.onnx"))
