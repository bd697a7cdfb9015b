"""Triton model repository: every config.pbtxt parsed with Triton's own ModelConfig, models that load.

`config.pbtxt` is parsed with protobuf's text-format parser into `inference.ModelConfig` from
`tritonclient.grpc.model_config_pb2` (generated from Triton's `model_config.proto`), the parser
and schema `tritonserver` itself uses: a field Triton does not know, a value of the wrong type or
unbalanced braces fail here as they would fail when the server loads the model.
"""

from __future__ import annotations

import json
import stat

import numpy as np
import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from pinclip_sdk.errors import BundleError, ConfigError
from pinclip_sdk.export.triton import render_pbtxt, write_triton_repository
from pinclip_sdk.hashing import sha256_file

ModelConfig = model_config_pb2.ModelConfig
BACKENDS = ("onnxruntime", "openvino", "tensorrt", "onnxruntime_tensorrt")
# model folder -> (platform, backend, instance kind, artifact, files in 1/), written out by hand
# from Triton's documentation rather than read from export/triton.py, so a change there shows here
EXPECTED = {
    "pinclip_onnxruntime": (
        "onnxruntime_onnx",
        "onnxruntime",
        "KIND_CPU",
        "onnxruntime-fp32",
        ("model.onnx",),
    ),
    "pinclip_openvino": ("", "openvino", "KIND_CPU", "openvino-fp32", ("model.xml", "model.bin")),
    "pinclip_tensorrt": ("tensorrt_plan", "tensorrt", "KIND_GPU", "tensorrt-fp16", ()),
    "pinclip_onnxruntime_tensorrt": (
        "onnxruntime_onnx",
        "onnxruntime",
        "KIND_GPU",
        "tensorrt-fp16",
        ("model.onnx",),
    ),
}
_ONNX_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16"}


def parse_config(path):
    return text_format.Parse(path.read_text(encoding="utf-8"), ModelConfig())


def data_type(value: int) -> str:
    return model_config_pb2.DataType.Name(value)


def kind(group) -> str:
    return model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind)


@pytest.fixture(scope="module")
def repository(tiny_bundle, tmp_path_factory):
    return write_triton_repository(tiny_bundle.root, tmp_path_factory.mktemp("triton") / "repo", BACKENDS)


def test_triton_parser_rejects_unknown_fields_and_wrong_types():
    """The check below is only as strict as the parser: prove it refuses what Triton refuses."""
    text_format.Parse('name: "m"\nmax_batch_size: 8\ninstance_group [ { kind: KIND_GPU } ]', ModelConfig())
    for bad in (
        "max_batch_sizes: 8",  # misspelt field
        'max_batch_size: "8"',  # string for an int32
        "max_batch_size: 8.5",
        'input [ { name: "x" data_type: FP32 } ]',  # not a DataType name
        "instance_group [ { kind: GPU } ]",
        "dynamic_batching { preferred_batch_size: 4 ",  # unbalanced
    ):
        with pytest.raises(text_format.ParseError):
            text_format.Parse(bad, ModelConfig())


def test_repository_holds_one_folder_per_backend(repository):
    assert sorted(p.name for p in repository.iterdir()) == sorted([*EXPECTED, "README.md"])


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_config_matches_the_bundle(repository, tiny_bundle, folder):
    """Every config.pbtxt parses as Triton's ModelConfig and says what the bundle says."""
    platform, backend, instance_kind, artifact_name, _ = EXPECTED[folder]
    config = parse_config(repository / folder / "config.pbtxt")
    manifest = tiny_bundle.manifest
    artifact = next(a for a in tiny_bundle.artifacts if a.name == artifact_name)
    height, width = manifest.preprocess.size
    assert (config.name, config.platform, config.backend) == (folder, platform, backend)
    assert config.max_batch_size == 8
    (tensor_in,) = config.input
    assert tensor_in.name == manifest.input.get("name", "pixel_values") == "pixel_values"
    assert list(tensor_in.dims) == [3, height, width]  # without the batch dimension
    (tensor_out,) = config.output
    assert tensor_out.name == manifest.output.get("name", "logits") == "logits"
    assert (list(tensor_out.dims), list(tensor_out.reshape.shape)) == ([1], [])  # [N] logits
    assert tensor_out.HasField("reshape")
    if artifact.main_file.endswith(".onnx"):
        graph = onnx.load(str(tiny_bundle.root / artifact.main_file), load_external_data=False).graph
        assert data_type(tensor_in.data_type) == _ONNX_TYPES[graph.input[0].type.tensor_type.elem_type]
        assert data_type(tensor_out.data_type) == _ONNX_TYPES[graph.output[0].type.tensor_type.elem_type]
    else:
        assert (data_type(tensor_in.data_type), data_type(tensor_out.data_type)) == ("TYPE_FP32", "TYPE_FP32")
    assert config.HasField("dynamic_batching")
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert (group.count, kind(group)) == (1, instance_kind)
    sidecar = json.loads((repository / folder / "pinclip.json").read_text())
    assert (sidecar["artifact"], sidecar["sha256"]) == (artifact.name, artifact.files[0].sha256)


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_model_files_are_the_bundle_files_byte_for_byte(repository, tiny_bundle, folder):
    *_, artifact_name, names = EXPECTED[folder]
    model_dir = repository / folder
    artifact = next(a for a in tiny_bundle.artifacts if a.name == artifact_name)
    assert sorted(p.name for p in (model_dir / "1").iterdir()) == sorted(names)
    copies = [model_dir / "1" / name for name in names]
    if folder == "pinclip_tensorrt":  # the plan is built on the serving GPU from this ONNX
        copies = [model_dir / "onnx" / "model.onnx"]
        assert (model_dir / "build_plan.sh").stat().st_mode & stat.S_IXUSR
    assert len(copies) == len(artifact.files)
    for copy, entry in zip(copies, artifact.files, strict=True):
        assert copy.read_bytes() == (tiny_bundle.root / entry.path).read_bytes()
        assert sha256_file(copy) == entry.sha256
    if names:
        assert parse_config(model_dir / "config.pbtxt").default_model_filename == names[0]


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
    assert data_type(tensor_in.data_type) == "TYPE_FP32"
    (tensor_out,) = config.output
    assert (tensor_out.name, list(tensor_out.dims), list(tensor_out.reshape.shape)) == ("logits", [1], [])
    assert tensor_out.HasField("reshape")
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert (group.count, kind(group)) == (1, "KIND_CPU")
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
    assert kind(config.instance_group[0]) == "KIND_CPU"
    import openvino as ov

    compiled = ov.Core().compile_model(str(model_dir / "1" / "model.xml"), "CPU")
    batch = np.ones((2, 3, 32, 32), np.float32)
    np.testing.assert_allclose(compiled(batch)[0].reshape(-1), [1.0, 1.0], rtol=1e-6)


def test_tensorrt_model_gets_onnx_and_a_build_script(repository, tiny_bundle):
    model_dir = repository / "pinclip_tensorrt"
    config = parse_config(model_dir / "config.pbtxt")
    assert (config.platform, config.backend) == ("tensorrt_plan", "tensorrt")
    assert config.default_model_filename == "model.plan"
    assert kind(config.instance_group[0]) == "KIND_GPU"
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
    assert kind(config.instance_group[0]) == "KIND_GPU"
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
