"""Triton model repository: config.pbtxt parsed back with Triton's own field names, models that load.

`config.pbtxt` is checked with protobuf's text-format parser against the subset of Triton's
`inference.ModelConfig` schema we write (field names, numbers and types copied from
triton-inference-server/common `protobuf/model_config.proto`), so a misspelt field, a wrong type
or unbalanced braces fail here as they would fail in `tritonserver`.
"""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from pinclip_sdk.errors import BundleError, ConfigError
from pinclip_sdk.export.triton import render_pbtxt, write_triton_repository

F = descriptor_pb2.FieldDescriptorProto

# (message, [(field, number, type, label, type_name)])  -- label "r" = repeated
_MESSAGES = {
    "ModelTensorReshape": [("shape", 1, F.TYPE_INT64, "r", None)],
    "ModelInput": [
        ("name", 1, F.TYPE_STRING, "", None),
        ("data_type", 2, F.TYPE_ENUM, "", ".inference.DataType"),
        ("dims", 4, F.TYPE_INT64, "r", None),
        ("reshape", 5, F.TYPE_MESSAGE, "", ".inference.ModelTensorReshape"),
    ],
    "ModelOutput": [
        ("name", 1, F.TYPE_STRING, "", None),
        ("data_type", 2, F.TYPE_ENUM, "", ".inference.DataType"),
        ("dims", 3, F.TYPE_INT64, "r", None),
        ("reshape", 5, F.TYPE_MESSAGE, "", ".inference.ModelTensorReshape"),
    ],
    "ModelInstanceGroup": [
        ("name", 1, F.TYPE_STRING, "", None),
        ("count", 2, F.TYPE_INT32, "", None),
        ("gpus", 3, F.TYPE_INT32, "r", None),
        ("kind", 4, F.TYPE_ENUM, "", ".inference.ModelInstanceGroup.Kind"),
    ],
    "ModelDynamicBatching": [
        ("preferred_batch_size", 1, F.TYPE_INT32, "r", None),
        ("max_queue_delay_microseconds", 2, F.TYPE_UINT64, "", None),
    ],
    "ModelParameter": [("string_value", 1, F.TYPE_STRING, "", None)],
    "Accelerator": [
        ("name", 1, F.TYPE_STRING, "", None),
        ("parameters", 2, F.TYPE_MESSAGE, "r", ".inference.Accelerator.ParametersEntry"),
    ],
    "ExecutionAccelerators": [
        ("gpu_execution_accelerator", 1, F.TYPE_MESSAGE, "r", ".inference.Accelerator"),
        ("cpu_execution_accelerator", 2, F.TYPE_MESSAGE, "r", ".inference.Accelerator"),
    ],
    "ModelOptimizationPolicy": [
        ("execution_accelerators", 4, F.TYPE_MESSAGE, "", ".inference.ExecutionAccelerators")
    ],
    "ModelConfig": [
        ("name", 1, F.TYPE_STRING, "", None),
        ("platform", 2, F.TYPE_STRING, "", None),
        ("max_batch_size", 4, F.TYPE_INT32, "", None),
        ("input", 5, F.TYPE_MESSAGE, "r", ".inference.ModelInput"),
        ("output", 6, F.TYPE_MESSAGE, "r", ".inference.ModelOutput"),
        ("instance_group", 7, F.TYPE_MESSAGE, "r", ".inference.ModelInstanceGroup"),
        ("default_model_filename", 8, F.TYPE_STRING, "", None),
        ("dynamic_batching", 11, F.TYPE_MESSAGE, "", ".inference.ModelDynamicBatching"),
        ("optimization", 12, F.TYPE_MESSAGE, "", ".inference.ModelOptimizationPolicy"),
        ("parameters", 14, F.TYPE_MESSAGE, "r", ".inference.ModelConfig.ParametersEntry"),
        ("backend", 17, F.TYPE_STRING, "", None),
    ],
}
_MAPS = {  # message -> (entry name, value type, value type_name)
    "Accelerator": ("ParametersEntry", F.TYPE_STRING, None),
    "ModelConfig": ("ParametersEntry", F.TYPE_MESSAGE, ".inference.ModelParameter"),
}


def _model_config_class():
    """Build `inference.ModelConfig` (the subset above) as a protobuf message class."""
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="pinclip_test_model_config.proto", package="inference"
    )
    file_proto.syntax = "proto3"
    data_type = file_proto.enum_type.add(name="DataType")
    for number, name in enumerate(["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32"]):
        data_type.value.add(name=name, number=number)
    for name, number in [("TYPE_FP16", 10), ("TYPE_FP32", 11), ("TYPE_FP64", 12)]:
        data_type.value.add(name=name, number=number)
    for name, fields in _MESSAGES.items():
        message = file_proto.message_type.add(name=name)
        for field_name, number, field_type, label, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type)
            field.label = F.LABEL_REPEATED if label == "r" else F.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
        if name == "ModelInstanceGroup":
            kind = message.enum_type.add(name="Kind")
            for number, kind_name in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
                kind.value.add(name=kind_name, number=number)
        if name in _MAPS:
            entry_name, value_type, value_type_name = _MAPS[name]
            entry = message.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
            value = entry.field.add(name="value", number=2, type=value_type, label=F.LABEL_OPTIONAL)
            if value_type_name:
                value.type_name = value_type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


ModelConfig = _model_config_class()


def parse_config(path):
    return text_format.Parse(path.read_text(), ModelConfig())


@pytest.fixture(scope="module")
def repository(tiny_bundle, tmp_path_factory):
    backends = ("onnxruntime", "openvino", "tensorrt", "onnxruntime_tensorrt")
    return write_triton_repository(tiny_bundle.root, tmp_path_factory.mktemp("triton") / "repo", backends)


def test_onnxruntime_model_config_and_inference(repository, tiny_bundle):
    model_dir = repository / "pinclip_onnxruntime"
    config = parse_config(model_dir / "config.pbtxt")
    assert config.name == "pinclip_onnxruntime"
    assert config.platform == "onnxruntime_onnx"
    assert config.backend == "onnxruntime"
    assert config.max_batch_size == 8
    assert config.default_model_filename == "model.onnx"
    (tensor_in,) = config.input
    assert (tensor_in.name, list(tensor_in.dims)) == ("pixel_values", [3, 32, 32])
    assert tensor_in.data_type == 11  # TYPE_FP32
    (tensor_out,) = config.output
    assert (tensor_out.name, list(tensor_out.dims), list(tensor_out.reshape.shape)) == ("logits", [1], [])
    assert tensor_out.HasField("reshape")
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert (group.count, group.kind) == (1, 2)  # KIND_CPU
    # the model file in 1/ is the bundle's artifact and runs in onnxruntime
    import onnxruntime as ort

    model_file = model_dir / "1" / "model.onnx"
    assert (
        model_file.read_bytes() == (tiny_bundle.root / tiny_bundle.find("onnxruntime").main_file).read_bytes()
    )
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).standard_normal((5, 3, 32, 32), dtype=np.float32)
    (logits,) = session.run(["logits"], {"pixel_values": batch})
    np.testing.assert_allclose(logits, batch.reshape(5, -1).mean(axis=1), rtol=1e-5, atol=1e-6)
    sidecar = json.loads((model_dir / "pinclip.json").read_text())
    assert sidecar["preprocess"]["size"] == [32, 32]
    assert sidecar["threshold"]["value"] == 0.5
    assert sidecar["artifact"] == "onnxruntime-fp32"


def test_openvino_model_config_and_files(repository):
    model_dir = repository / "pinclip_openvino"
    config = parse_config(model_dir / "config.pbtxt")
    assert config.backend == "openvino"
    assert config.platform == ""
    assert config.default_model_filename == "model.xml"
    assert config.parameters["PERFORMANCE_HINT"].string_value == "THROUGHPUT"
    assert config.instance_group[0].kind == 2
    import openvino as ov

    compiled = ov.Core().compile_model(str(model_dir / "1" / "model.xml"), "CPU")
    batch = np.ones((2, 3, 32, 32), np.float32)
    np.testing.assert_allclose(compiled(batch)[0].reshape(-1), [1.0, 1.0], rtol=1e-6)


def test_tensorrt_model_gets_onnx_and_a_build_script(repository, tiny_bundle):
    model_dir = repository / "pinclip_tensorrt"
    config = parse_config(model_dir / "config.pbtxt")
    assert (config.platform, config.backend) == ("tensorrt_plan", "tensorrt")
    assert config.default_model_filename == "model.plan"
    assert config.instance_group[0].kind == 1  # KIND_GPU
    assert not (model_dir / "1" / "model.plan").exists()  # built on the serving GPU, not here
    onnx_copy = model_dir / "onnx" / "model.onnx"
    assert (
        onnx_copy.read_bytes()
        == (tiny_bundle.root / tiny_bundle.find("tensorrt", "fp16").main_file).read_bytes()
    )
    script = (model_dir / "build_plan.sh").read_text()
    assert script.startswith("#!/bin/sh")
    assert "nvcr.io/nvidia/tensorrt:" in script
    assert (model_dir / "build_plan.sh").stat().st_mode & stat.S_IXUSR
    for flag in (
        "--stronglyTyped",
        "--minShapes=pixel_values:1x3x32x32",
        "--maxShapes=pixel_values:8x3x32x32",
    ):
        assert flag in script
    assert '--saveEngine=$HERE/1/model.plan"' in script
    assert "--fp16" not in script
    assert "--int8" not in script
    readme = (repository / "README.md").read_text()
    assert "build_plan.sh" in readme
    assert "| pinclip_tensorrt | tensorrt | tensorrt-fp16 | fp16 |" in readme


def test_onnxruntime_tensorrt_execution_provider_model(repository):
    config = parse_config(repository / "pinclip_onnxruntime_tensorrt" / "config.pbtxt")
    assert config.backend == "onnxruntime"
    assert config.instance_group[0].kind == 1
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["trt_engine_cache_enable"] == "1"
    assert accelerator.parameters["trt_profile_max_shapes"] == "pixel_values:8x3x32x32"
    assert "precision_mode" not in accelerator.parameters  # precision is in the graph


def test_precisions_max_batch_and_existing_models(tiny_bundle, tmp_path):
    repo = write_triton_repository(
        tiny_bundle.root,
        tmp_path,
        ["tensorrt"],
        max_batch=16,
        precisions={"tensorrt": "int8"},
        instance_count=2,
    )
    config = parse_config(repo / "pinclip_tensorrt" / "config.pbtxt")
    assert config.max_batch_size == 16
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]
    assert config.instance_group[0].count == 2
    assert json.loads((repo / "pinclip_tensorrt" / "pinclip.json").read_text())["precision"] == "int8"
    with pytest.raises(ConfigError, match="exists; pass overwrite=True"):
        write_triton_repository(tiny_bundle.root, tmp_path, ["tensorrt"])
    write_triton_repository(tiny_bundle.root, tmp_path, ["tensorrt"], overwrite=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backends": ["tensorrtt"]}, ConfigError, "unknown; choose from"),
        ({"max_batch": 0}, ConfigError, "max_batch"),
        ({"model_name": "bad name"}, ConfigError, "model_name"),
        ({"backends": ["openvino"], "precisions": {"openvino": "fp16"}}, BundleError, "no openvino/fp16"),
        (
            {"backends": ["openvino"], "precisions": {"tensorrt": "fp16"}},
            ConfigError,
            "not among the backends",
        ),
    ],
)
def test_bad_requests_are_refused(tiny_bundle, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_triton_repository(tiny_bundle.root, tmp_path / "repo", **kwargs)


def test_render_pbtxt_quotes_strings_and_leaves_enums_bare():
    from pinclip_sdk.export.triton import Ident

    text = render_pbtxt({"name": 'a "b"', "kind": Ident("KIND_GPU"), "dims": [1, 2], "flag": True})
    assert text == 'name: "a \\"b\\""\nkind: KIND_GPU\ndims: [ 1, 2 ]\nflag: true\n'


def test_build_plan_script_runs_trtexec_with_the_model_paths(repository, tmp_path):
    """Run build_plan.sh with a stand-in trtexec that records its arguments and writes the plan."""
    import subprocess

    fake = tmp_path / "trtexec"
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n'
        'for a in "$@"; do case "$a" in --saveEngine=*) echo plan > "${a#--saveEngine=}";; esac; done\n'
    )
    fake.chmod(0o755)
    model_dir = repository / "pinclip_tensorrt"
    env = {"PATH": "/usr/bin:/bin", "TRTEXEC": str(fake), "ARGS_OUT": str(tmp_path / "args")}
    subprocess.run(["sh", str(model_dir / "build_plan.sh")], env=env, check=True, timeout=30)
    args = (tmp_path / "args").read_text().splitlines()
    assert args[0] == f"--onnx={model_dir / 'onnx' / 'model.onnx'}"
    assert "--stronglyTyped" in args
    assert (model_dir / "1" / "model.plan").read_text() == "plan\n"
    (model_dir / "1" / "model.plan").unlink()
