"""`build_engines` and the trtexec command lines (with fake tensorrt / CUDA modules)."""

from __future__ import annotations

import shlex

import pytest

from pinclip_sdk.engine_cache import BatchProfile
from pinclip_sdk.errors import BundleError, ConfigError
from pinclip_sdk.export.engine_prebuild import (
    build_engines,
    main,
    trtexec_benchmark_command,
    trtexec_build_command,
)


def test_build_engines_builds_each_precision_once(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    results = build_engines(tiny_bundle.root, precisions=("fp16", "int8"), opt_batch=4, max_batch=8)
    assert [r.precision for r in results] == ["fp16", "int8"]
    assert all(r.built for r in results)
    assert all(r.engine_path.parent == engine_cache for r in results)
    assert results[0].device["gpu_name"] == "Orin"
    assert fake_trt.calls["builds"] == 2
    again = build_engines(tiny_bundle.root, precisions=("fp16", "int8"), opt_batch=4, max_batch=8)
    assert [r.engine_path for r in again] == [r.engine_path for r in results]
    assert not any(r.built for r in again)
    build = shlex.split(results[1].trtexec_build)
    assert build[1] == f"--onnx={tiny_bundle.root / 'tensorrt' / 'model.int8.onnx'}"
    assert "--optShapes=pixel_values:4x3x32x32" in build
    assert f"--timingCacheFile={engine_cache / 'timing' / 'trt10.3.0-orin-sm87.cache'}" in build
    assert "--shapes=pixel_values:4x3x32x32" in results[1].trtexec_benchmark
    assert f"--loadEngine={results[1].engine_path}" in results[1].trtexec_engine_benchmark


def test_build_engines_checks_precisions_before_building(fake_trt, fake_cuda, tiny_bundle, engine_cache):
    with pytest.raises(ConfigError, match="fp32"):
        build_engines(tiny_bundle.root, precisions=("fp16", "fp32"))
    with pytest.raises(ConfigError, match="min <= opt"):
        build_engines(tiny_bundle.root, precisions=("fp16",), min_batch=4, opt_batch=2)
    assert fake_trt.calls["builds"] == 0


def test_build_engines_names_missing_artifacts(tmp_path, tiny_onnx):
    from pinclip_sdk.bundle import BundleWriter
    from pinclip_sdk.spec import PreprocessSpec

    writer = BundleWriter(tmp_path / "b.pinclip")
    (writer.root / "m.onnx").write_bytes(tiny_onnx("m.onnx").read_bytes())
    writer.add_artifact("tensorrt-fp16", "tensorrt", "fp16", ["m.onnx"])
    writer.finish("m", {"name": "tiny"}, PreprocessSpec(size=32))
    with pytest.raises(BundleError, match=r"no tensorrt artifact for int8 \(the bundle has fp16\)"):
        build_engines(writer.root)


def test_trtexec_commands_are_strongly_typed_without_precision_flags():
    build = trtexec_build_command("m.onnx", "pixel_values", (3, 224, 224), BatchProfile(1, 1, 8))
    assert build == [
        "trtexec",
        "--onnx=m.onnx",
        "--stronglyTyped",
        "--minShapes=pixel_values:1x3x224x224",
        "--optShapes=pixel_values:1x3x224x224",
        "--maxShapes=pixel_values:8x3x224x224",
        "--memPoolSize=workspace:1024M",
    ]
    bench = trtexec_benchmark_command("m.onnx", "pixel_values", (3, 224, 224))
    assert bench[:4] == ["trtexec", "--onnx=m.onnx", "--stronglyTyped", "--shapes=pixel_values:1x3x224x224"]
    assert {"--useCudaGraph", "--noDataTransfers", "--useSpinWait"} <= set(bench)
    assert not {"--fp16", "--int8", "--best"} & set(build + bench)


def test_main_prints_engines_and_commands(fake_trt, fake_cuda, tiny_bundle, engine_cache, capsys):
    assert main([str(tiny_bundle.root), "--precisions", "fp16"]) == 0
    out = capsys.readouterr().out
    assert "fp16: " in out
    assert "trtexec --onnx=" in out
    assert "--loadEngine=" in out
    assert main([str(tiny_bundle.root), "--precisions", "fp32"]) == 1
    assert "pinclip: error:" in capsys.readouterr().err
