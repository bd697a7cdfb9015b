"""Fixtures for the TensorRT and Triton tests: a tiny bundle and fake tensorrt / CUDA modules.

The fakes stand in for the `tensorrt` module and cuda-python's runtime on CPU-only machines. They
implement only what `pinclip_sdk.engine_cache` and the TensorRT backend call, with the same
names and call shapes as the real APIs, and record what they were asked so tests can check the
build settings. The fake parser reads the real ONNX (with `onnx`) so input names and shapes come
from the tested file; the fake engine computes "logits" as the mean of each image, so the
backend's buffer handling (staging, chunking, padding, dtype casts) is checked end to end.
"""

from __future__ import annotations

import ctypes
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pinclip_sdk.bundle import Bundle, BundleWriter
from pinclip_sdk.spec import PreprocessSpec

IMAGE_SIZE = 32

PLAN_MAGIC = b"FAKEPLAN"


def make_fake_tensorrt(version: str = "10.3.0", strongly_typed: bool = True) -> types.ModuleType:
    """A module object that quacks like `tensorrt` for building, deserializing and running."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = {"builds": 0, "network_flags": [], "timing_in": [], "profiles": [], "workspace": []}

    class Logger:
        WARNING = 2

        def __init__(self, severity: int = 2) -> None:
            self.severity = severity

    class DataType:
        FLOAT = "float32"
        HALF = "float16"

    class TensorIOMode:
        INPUT = "input"
        OUTPUT = "output"

    flag_members = {"STRONGLY_TYPED": 1} if strongly_typed else {}
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(**flag_members)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.Logger, trt.DataType, trt.TensorIOMode = Logger, DataType, TensorIOMode
    trt.nptype = lambda dtype: np.dtype(dtype).type

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: list[Tensor] = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, index: int) -> Tensor:
            return self.inputs[index]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network, self.errors = network, []

        def parse_from_file(self, path: str) -> bool:
            import onnx

            try:
                model = onnx.load(path)
            except Exception as exc:  # noqa: BLE001 - the real parser reports, never raises
                self.errors.append(f"ModelImporter.cpp: failed to parse {path}: {exc}")
                return False
            for value in model.graph.input:
                dims = tuple(d.dim_value if d.dim_value else -1 for d in value.type.tensor_type.shape.dim)
                self.network.inputs.append(Tensor(value.name, dims))
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> str:
            return self.errors[index]

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.entries = json.loads(data) if data else []

        def serialize(self) -> bytes:
            return json.dumps(self.entries).encode()

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, min_shape: tuple, opt_shape: tuple, max_shape: tuple) -> None:
            self.shapes[name] = (tuple(min_shape), tuple(opt_shape), tuple(max_shape))

    class BuilderConfig:
        def __init__(self) -> None:
            self.timing: TimingCache | None = None
            self.profiles: list[Profile] = []

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            trt.calls["workspace"].append((pool, size))

        def create_timing_cache(self, data: bytes) -> TimingCache:
            trt.calls["timing_in"].append(bytes(data))
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            assert ignore_mismatch is False
            self.timing = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.timing

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

    class Builder:
        fail_build = False

        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            trt.calls["network_flags"].append(flags)
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            if Builder.fail_build:
                return None
            trt.calls["builds"] += 1
            (profile,) = config.profiles
            trt.calls["profiles"].append(profile.shapes)
            config.timing.entries.append(f"tactics-{trt.calls['builds']}")
            spec = {"inputs": [[t.name, list(t.shape)] for t in network.inputs], "profile": profile.shapes}
            return PLAN_MAGIC + json.dumps(spec).encode()

    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    trt.Runtime = _make_runtime(trt)
    return trt


def _make_runtime(trt: types.ModuleType) -> type:
    class Engine:
        def __init__(self, spec: dict[str, Any]) -> None:
            ((self.input_name, _),) = spec["inputs"]
            self.max_shape = tuple(spec["profile"][self.input_name][2])
            self.min_shape = tuple(spec["profile"][self.input_name][0])

        num_io_tensors = 2

        def get_tensor_name(self, index: int) -> str:
            return (self.input_name, "logits")[index]

        def get_tensor_mode(self, name: str) -> str:
            return trt.TensorIOMode.INPUT if name == self.input_name else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> str:
            return trt.DataType.FLOAT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return (-1, *self.max_shape[1:]) if name == self.input_name else (-1,)

        def create_execution_context(self) -> Context:
            return Context(self)

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.addresses, self.shape = engine, {}, None
            self.executions = 0

        def set_tensor_address(self, name: str, pointer: int) -> bool:
            self.addresses[name] = pointer
            return True

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            shape = tuple(shape)
            bounds = zip(shape, self.engine.min_shape, self.engine.max_shape, strict=True)
            ok = len(shape) == len(self.engine.max_shape) and all(lo <= s <= hi for s, lo, hi in bounds)
            self.shape = shape if ok else None
            return ok

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shape if name == self.engine.input_name else (self.shape[0],)

        def execute_async_v3(self, stream_handle: int) -> bool:
            assert isinstance(stream_handle, int)
            count = int(np.prod(self.shape))
            source = (ctypes.c_float * count).from_address(self.addresses[self.engine.input_name])
            images = np.ctypeslib.as_array(source).reshape(self.shape)
            target = (ctypes.c_float * self.shape[0]).from_address(self.addresses["logits"])
            np.ctypeslib.as_array(target)[:] = images.reshape(self.shape[0], -1).mean(axis=1)
            self.executions += 1
            return True

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, plan: bytes) -> Engine | None:
            plan = bytes(plan)
            if not plan.startswith(PLAN_MAGIC):
                return None
            return Engine(json.loads(plan[len(PLAN_MAGIC) :]))

    return Runtime


class FakeCudaError(int):
    """Mimics cuda-python's `cudaError_t` (an int enum with a `name`)."""

    @property
    def name(self) -> str:
        return "cudaSuccess" if self == 0 else "cudaErrorNoDevice"


class FakeCudaRuntime(types.SimpleNamespace):
    """Host memory standing in for device memory; every allocation is tracked until freed."""

    def __init__(
        self, devices: int = 1, gpu_name: str = "Orin", capability: tuple[int, int] = (8, 7)
    ) -> None:
        super().__init__()
        self.devices, self.gpu_name, self.capability = devices, gpu_name, capability
        self.live: dict[int, Any] = {}
        self.streams: set[int] = set()
        self.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)

    ok = FakeCudaError(0)

    def cudaGetDeviceCount(self) -> tuple:
        return (self.ok, self.devices) if self.devices else (FakeCudaError(100), 0)

    def cudaGetDeviceProperties(self, index: int) -> tuple:
        major, minor = self.capability
        prop = types.SimpleNamespace(
            name=self.gpu_name.encode(), major=major, minor=minor, totalGlobalMem=8 << 30
        )
        return self.ok, prop

    def cudaRuntimeGetVersion(self) -> tuple:
        return self.ok, 12060

    def cudaSetDevice(self, index: int) -> tuple:
        return (self.ok,)

    def _alloc(self, nbytes: int) -> tuple:
        buffer = ctypes.create_string_buffer(nbytes)
        self.live[ctypes.addressof(buffer)] = buffer
        return self.ok, ctypes.addressof(buffer)

    cudaMalloc = _alloc
    cudaMallocHost = _alloc

    def cudaFree(self, pointer: int) -> tuple:
        del self.live[pointer]
        return (self.ok,)

    cudaFreeHost = cudaFree

    def cudaStreamCreate(self) -> tuple:
        handle = 4096 + len(self.streams)
        self.streams.add(handle)
        return self.ok, handle

    def cudaStreamDestroy(self, stream: int) -> tuple:
        self.streams.remove(stream)
        return (self.ok,)

    def cudaStreamSynchronize(self, stream: int) -> tuple:
        return (self.ok,)

    def cudaMemcpyAsync(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> tuple:
        ctypes.memmove(dst, src, nbytes)
        return (self.ok,)


def write_tiny_onnx(
    path: Path, size: int = 32, batch: int | str = "N", input_name: str = "pixel_values"
) -> Path:
    """A real 2-node ONNX (mean over C, H, W -> logits [N]) with the SDK's input/output contract."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", [input_name], ["pooled"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Identity", ["pooled"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_tiny_bundle(root: Path, with_openvino: bool = True) -> Bundle:
    """A bundle around a real 2-node ONNX: onnxruntime-fp32, openvino-fp32, tensorrt-fp16/int8."""
    writer = BundleWriter(root)
    fp32 = write_tiny_onnx(root / "onnx" / "model.fp32.onnx", IMAGE_SIZE)
    writer.add_artifact("onnxruntime-fp32", "onnxruntime", "fp32", [fp32])
    if with_openvino:
        import openvino as ov

        xml = root / "openvino" / "model.xml"
        ov.save_model(ov.convert_model(str(fp32)), str(xml), compress_to_fp16=False)
        writer.add_artifact("openvino-fp32", "openvino", "fp32", [xml, xml.with_suffix(".bin")])
    for precision in ("fp16", "int8"):
        path = write_tiny_onnx(root / "tensorrt" / f"model.{precision}.onnx", IMAGE_SIZE)
        import onnx

        model = onnx.load(str(path))
        model.doc_string = f"tensorrt {precision} stand-in"  # distinct files, distinct sha256
        onnx.save(model, str(path))
        writer.add_artifact(f"tensorrt-{precision}", "tensorrt", precision, [path])
    return writer.finish(
        model_id="pinclip_tiny.test",
        backbone={"name": "pinclip-tiny-vit"},
        preprocess=PreprocessSpec(size=IMAGE_SIZE),
    )


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny.pinclip")


@pytest.fixture
def make_trt():
    """Factory for fake tensorrt modules of a given version (not installed in sys.modules)."""
    return make_fake_tensorrt


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch):
    """A fake `tensorrt` importable as `import tensorrt` for the duration of the test."""
    trt = make_fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCudaRuntime:
    runtime = FakeCudaRuntime()
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)
    return runtime


@pytest.fixture
def engine_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty engine cache, also set as $PINCLIP_ENGINE_CACHE so nothing touches ~/.cache."""
    directory = tmp_path / "engines"
    monkeypatch.setenv("PINCLIP_ENGINE_CACHE", str(directory))
    return directory


@pytest.fixture
def tiny_onnx(tmp_path: Path):
    """Factory writing a tiny ONNX under tmp_path: tiny_onnx(name, size=32, batch="N", input_name=...)."""

    def write(name: str = "model.onnx", **kwargs: Any) -> Path:
        return write_tiny_onnx(tmp_path / name, **kwargs)

    return write
