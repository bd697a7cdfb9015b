"""TensorRT backend: runs a bundle's `tensorrt-fp16` / `tensorrt-int8` artifact as a native engine.

The engine is built on this GPU from the bundle's TensorRT-ready ONNX on first use and cached
(`pinclip_sdk.engine_cache`); later loads deserialize the cached plan in seconds. Device
memory is managed with cuda-python (no torch, no pycuda): one input and one output buffer sized
for the profile's max batch, pinned host staging buffers, and one CUDA stream, all owned by the
backend, alive while the engine may use them, freed in `close()` (docs/design.md#s27-native-buffer-lifetime).
One execution context serves every caller under a lock, so `infer` is thread-safe; the GPU
executes one batch at a time anyway, and the batch pipeline overlaps decoding with it.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from pinclip_sdk.backends.base import as_logits, check_batch, checked_options, static_size
from pinclip_sdk.cuda_runtime import import_cuda_runtime
from pinclip_sdk.engine_cache import (
    DEFAULT_WORKSPACE_BYTES,
    TENSORRT_PRECISIONS,
    BatchProfile,
    EngineCache,
    LoadedEngine,
    cuda_check,
    import_tensorrt,
    load_engine,
    query_device,
    request_for_artifact,
)
from pinclip_sdk.errors import BackendError, BackendUnavailableError, ConfigError
from pinclip_sdk.versions import distribution_version

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Bundle

logger = logging.getLogger(__name__)
_BATCH_DEFAULTS = (("min_batch", 1), ("opt_batch", 1), ("max_batch", 8))
OPTIONS = ("cache_dir", "min_batch", "opt_batch", "max_batch", "device_index", "workspace_bytes")


def probe_tensorrt() -> str | None:
    """None if TensorRT can run here, else why not: no tensorrt, no cuda-python, or no CUDA device."""
    try:
        import_tensorrt()
        cudart = import_cuda_runtime()
    except BackendUnavailableError as exc:
        return str(exc)
    result = cudart.cudaGetDeviceCount()
    err, count = result[0], result[1]
    if int(err) != 0:
        name = getattr(err, "name", str(err))
        if "InsufficientDriver" in name:
            cuda_python = distribution_version("cuda-python") or "?"
            return (
                f"no usable CUDA device ({name}): no NVIDIA driver, or a driver older than the CUDA runtime "
                f"of cuda-python {cuda_python} (install the cuda-python major matching the "
                "driver's CUDA, e.g. 'cuda-python>=12,<13' on JetPack 6)"
            )
        return f"no usable CUDA device ({name}: no NVIDIA GPU or driver on this machine)"
    if count < 1:
        return "no CUDA device found (cudaGetDeviceCount returned 0)"
    return None


class DeviceBuffers:
    """Device input/output buffers, pinned host staging buffers and a stream; freed in `close()`."""

    def __init__(self, cudart: Any, input_nbytes: int, output_nbytes: int) -> None:
        self._cudart = cudart
        self._device: list[int] = []
        self._host: list[int] = []
        self.stream: Any = None
        try:
            self.stream = cuda_check(cudart.cudaStreamCreate(), "cudaStreamCreate")
            self.input_device = self._malloc(input_nbytes)
            self.output_device = self._malloc(output_nbytes)
            self.input_host = self._malloc_host(input_nbytes)
            self.output_host = self._malloc_host(output_nbytes)
        except BaseException:
            self.close()
            raise

    def _malloc(self, nbytes: int) -> int:
        pointer = int(cuda_check(self._cudart.cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))
        self._device.append(pointer)
        return pointer

    def _malloc_host(self, nbytes: int) -> np.ndarray:
        pointer = int(cuda_check(self._cudart.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})"))
        self._host.append(pointer)
        return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(pointer))

    def copy(self, dst: int, src: int, nbytes: int, kind: str) -> None:
        memcpy_kind = getattr(self._cudart.cudaMemcpyKind, kind)
        cuda_check(self._cudart.cudaMemcpyAsync(dst, src, nbytes, memcpy_kind, self.stream), kind)

    def synchronize(self) -> None:
        cuda_check(self._cudart.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def close(self) -> None:
        """Free everything; safe to call twice and after a failed constructor."""
        for pointer in self._device:
            self._cudart.cudaFree(pointer)
        for pointer in self._host:
            self._cudart.cudaFreeHost(pointer)
        self._device, self._host = [], []
        if self.stream is not None:
            self._cudart.cudaStreamDestroy(self.stream)
            self.stream = None


class TensorRTBackend:
    """A TensorRT engine over one bundle artifact, with device buffers for the profile's max batch.

    Options (`Detector(..., backend_options=...)`): `cache_dir` (engine cache; default
    `$PINCLIP_ENGINE_CACHE`, else `engines/` in the runtime's cache root), `min_batch` / `opt_batch` /
    `max_batch` (optimisation profile, default 1/1/8; larger batches are split), `device_index` (CUDA
    device, default 0), `workspace_bytes` (builder workspace limit, default 1 GiB).
    """

    name = "tensorrt"
    concurrency = 1

    def __init__(
        self, trt: Any, cudart: Any, loaded: LoadedEngine, input_name: str, info: dict[str, Any]
    ) -> None:
        self._trt = trt
        self._cudart = cudart
        self._loaded = loaded
        self._info = info
        self._lock = threading.Lock()
        self._device_index = int(info["device_index"])
        engine = loaded.engine
        self._input = input_name
        self._output = _single_output(trt, engine)
        self._input_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._input)))
        self._output_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._output)))
        self._profile = BatchProfile(**info["profile"])
        self._image_shape = tuple(info["input_shape"])
        self._context = engine.create_execution_context()
        if self._context is None:
            raise BackendError(f"TensorRT could not create an execution context for {info['engine']}")
        max_batch = self._profile.max_batch
        image_elems = int(np.prod(self._image_shape))
        self._buffers = DeviceBuffers(
            cudart,
            max_batch * image_elems * self._input_dtype.itemsize,
            max_batch * self._output_dtype.itemsize * _per_image_outputs(engine, self._output),
        )
        for name, pointer in (
            (self._input, self._buffers.input_device),
            (self._output, self._buffers.output_device),
        ):
            if not self._context.set_tensor_address(name, pointer):
                self.close()
                raise BackendError(
                    f"TensorRT refused the device buffer for tensor {name!r} of {info['engine']}"
                )

    @classmethod
    def probe(cls) -> str | None:
        return probe_tensorrt()

    @classmethod
    def load(
        cls,
        bundle: Bundle,
        precision: str,
        threads: int | None = None,
        *,
        options: dict[str, Any] | None = None,
    ) -> TensorRTBackend:
        """Build or find the engine for `tensorrt-<precision>` and prepare it to run.

        `threads` is ignored: TensorRT runs on the GPU (host threads only feed it).
        """
        settings = _parse_options(options)
        if precision not in TENSORRT_PRECISIONS:
            raise ConfigError(
                f"tensorrt backend runs {' or '.join(TENSORRT_PRECISIONS)} artifacts, not {precision!r}; "
                "precision lives in the ONNX graph (strongly typed FP16 or Q/DQ INT8)"
            )
        reason = probe_tensorrt()
        if reason is not None:
            raise BackendUnavailableError(f"TensorRT cannot run here: {reason}")
        trt, cudart = import_tensorrt(), import_cuda_runtime()
        device = query_device(trt, cudart, settings["device_index"])
        cuda_check(cudart.cudaSetDevice(settings["device_index"]), "cudaSetDevice")
        artifact = bundle.find("tensorrt", precision)
        request = request_for_artifact(bundle, artifact, settings["profile"], settings["workspace_bytes"])
        cache = EngineCache(settings["cache_dir"])
        started = time.perf_counter()
        loaded = load_engine(trt, cache, request, device)
        logger.info(
            "TensorRT %s engine %s ready in %.1f s (%s)",
            precision,
            loaded.cached.path.name,
            time.perf_counter() - started,
            "built now" if loaded.cached.built else "from cache",
        )
        info = {
            "backend": cls.name,
            "precision": precision,
            "artifact": artifact.name,
            "device": device.gpu_name,
            "device_index": settings["device_index"],
            "compute_capability": device.compute_capability,
            "library": f"tensorrt {device.tensorrt_version}",
            "cuda_runtime": device.cuda_runtime,
            "engine": str(loaded.cached.path),
            "engine_cache": str(cache.directory),
            "engine_built_now": loaded.cached.built,
            "profile": asdict(settings["profile"]),
            "input_shape": list(request.input_shape),
            "threads": "n/a (GPU)",
        }
        return cls(trt, cudart, loaded, request.input_name, info)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        where = f"tensorrt/{self._info['artifact']}"
        batch = check_batch(batch, where)
        if tuple(batch.shape[1:]) != self._image_shape:
            raise BackendError(
                f"{where}: batch images are {tuple(batch.shape[1:])}, the engine expects {self._image_shape} "
                "(the bundle's preprocessing size)"
            )
        step = self._profile.max_batch
        parts = [self._infer_chunk(batch[start : start + step]) for start in range(0, batch.shape[0], step)]
        logits = np.concatenate(parts) if parts else np.empty((0,), np.float32)
        return as_logits(logits, batch.shape[0], where)

    def _infer_chunk(self, chunk: np.ndarray) -> np.ndarray:
        count = chunk.shape[0]
        padded = max(count, self._profile.min_batch)  # a batch below min_batch is zero-padded
        shape = (padded, *self._image_shape)
        nbytes = int(np.prod(shape)) * self._input_dtype.itemsize
        with self._lock:
            buffers = self._buffers
            if buffers is None:
                raise BackendError(f"tensorrt/{self._info['artifact']}: backend is closed")
            cuda_check(self._cudart.cudaSetDevice(self._device_index), "cudaSetDevice")
            # write straight into the pinned staging buffer (casting to the engine's input dtype)
            staging = buffers.input_host[:nbytes].view(self._input_dtype).reshape(shape)
            staging[:count] = chunk
            staging[count:] = 0
            buffers.copy(buffers.input_device, staging.ctypes.data, nbytes, "cudaMemcpyHostToDevice")
            if not self._context.set_input_shape(self._input, shape):
                raise BackendError(f"tensorrt: input shape {shape} is outside the engine's profile")
            out_shape = tuple(self._context.get_tensor_shape(self._output))
            out_nbytes = int(np.prod(out_shape)) * self._output_dtype.itemsize
            if not self._context.execute_async_v3(int(buffers.stream)):
                raise BackendError(f"tensorrt/{self._info['artifact']}: execute_async_v3 failed")
            host_out = buffers.output_host[:out_nbytes]
            buffers.copy(host_out.ctypes.data, buffers.output_device, out_nbytes, "cudaMemcpyDeviceToHost")
            buffers.synchronize()
            output = host_out.view(self._output_dtype).astype(np.float32)
        return output.reshape(padded, -1)[:count, 0]

    def input_size(self) -> tuple[int, int] | None:
        """(height, width) of the engine's input (its per-image shape is fixed at build)."""
        return static_size((1, *self._image_shape))

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def close(self) -> None:
        """Free device buffers and the stream, then the context, engine and runtime (in that order)."""
        with self._lock:
            if self._buffers is not None:
                self._buffers.close()
                self._buffers = None
            self._context = None
            self._loaded = None


def _parse_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Backend options with their defaults, as typed values; ConfigError on anything else."""
    options = checked_options("tensorrt", options, OPTIONS)
    try:
        batches = [int(options.get(name, default)) for name, default in _BATCH_DEFAULTS]
        device_index = int(options.get("device_index", 0))
        workspace_bytes = int(options.get("workspace_bytes", DEFAULT_WORKSPACE_BYTES))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"tensorrt backend: batch sizes, device_index and workspace_bytes must be integers ({exc})"
        ) from None
    profile = BatchProfile(*batches)
    return {
        "profile": profile,
        "device_index": device_index,
        "workspace_bytes": workspace_bytes,
        "cache_dir": options.get("cache_dir"),
    }


def _single_output(trt: Any, engine: Any) -> str:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if len(outputs) != 1:
        raise BackendError(f"TensorRT engine must have exactly one output (logits), it has {outputs}")
    return outputs[0]


def _per_image_outputs(engine: Any, output: str) -> int:
    """Values per image in the output ([N] -> 1, [N, 1] -> 1); dynamic dims other than N are refused."""
    per_image = [int(d) for d in tuple(engine.get_tensor_shape(output))[1:]]
    if any(d < 1 for d in per_image):
        raise BackendError(f"TensorRT engine output {output!r} has a dynamic non-batch dimension {per_image}")
    count = int(np.prod(per_image)) if per_image else 1
    if count != 1:
        raise BackendError(
            f"TensorRT engine output {output!r} has {count} values per image, expected 1 logit"
        )
    return count


BACKEND_CLASS = TensorRTBackend
