"""TensorRT engines built on the target from a bundle's TensorRT-ready ONNX, and their on-disk cache.

Engines are not portable across GPUs, TensorRT or JetPack versions (docs/references.md#tensorrt-engines), so
the bundle ships ONNX (strongly typed FP16, Q/DQ INT8) and the engine is built on the device on
first use. Precision lives in the graph: the network is created strongly typed (required on
TensorRT 10.x, the default on 11.x) and no precision builder flag or calibrator is ever set, so
the same code runs from TensorRT 10.3 (JetPack 6) to 11.x.

Cache layout (directory from the argument, else `$PINCLIP_ENGINE_CACHE`, else the runtime's
cache root + `/engines`, by default `~/.cache/pinclip/engines`; see `resolve_cache_dir`):

    <label>-<key20>.plan     the serialized engine, a plain TensorRT plan (trtexec can load it)
    <label>-<key20>.json     sidecar: the key's fields, plan size and sha256, build time
    <label>-<key20>.lock     lock file; concurrent builders of one engine wait for each other
    timing/<device>.cache    persistent timing cache per TensorRT version + GPU, shared by builds

The key is a sha256 over the TensorRT version, GPU name, compute capability, CUDA runtime,
L4T release, model sha256, input name and shape, the min/opt/max batch profile and the builder
settings. A plan whose sidecar is missing or does not match (size, sha256, key) is stale and
rebuilt; so is one TensorRT refuses to deserialize.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinclip_sdk.cache import cache_root
from pinclip_sdk.cuda_runtime import INSTALL_HINT, import_cuda_runtime
from pinclip_sdk.errors import BackendUnavailableError, ConfigError, ExportError
from pinclip_sdk.hashing import sha256_file

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Artifact, Bundle

logger = logging.getLogger(__name__)

ENGINE_CACHE_ENV = "PINCLIP_ENGINE_CACHE"
CACHE_FORMAT = 1  # bump when the layout or the key's meaning changes
DEFAULT_WORKSPACE_BYTES = 1 << 30
DEFAULT_LOCK_TIMEOUT_S = 3600.0  # a ViT-L build on an Orin Nano takes many minutes
TENSORRT_PRECISIONS = ("fp16", "int8")
_LOCK_POLL_S = 0.2


@dataclass(frozen=True)
class BatchProfile:
    """The optimisation profile's batch range; kernels are tuned for `opt`.

    Args:
        min_batch: smallest batch the engine accepts.
        opt_batch: batch the kernels are tuned for (1 for latency, 8 for throughput).
        max_batch: largest batch the engine accepts; larger batches are split by the backend.
    """

    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 8

    def __post_init__(self) -> None:
        values = (self.min_batch, self.opt_batch, self.max_batch)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"batch profile values must be integers, got min/opt/max {values}")
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ConfigError(f"batch profile must satisfy 1 <= min <= opt <= max, got min/opt/max {values}")

    def shapes(self, input_shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) full input shapes for a per-image `input_shape` such as (3, 224, 224)."""
        return tuple((batch, *input_shape) for batch in (self.min_batch, self.opt_batch, self.max_batch))


@dataclass(frozen=True)
class DeviceIdentity:
    """What makes an engine non-portable: TensorRT, GPU, compute capability, CUDA and L4T."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    cuda_runtime: str | None = None
    l4t: str | None = None

    @property
    def slug(self) -> str:
        """File-name-safe id used for the timing cache, e.g. `trt10.3.0-orin-sm87`."""
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu_name.lower()).strip("-") or "gpu"
        sm = self.compute_capability.replace(".", "")
        return f"trt{self.tensorrt_version}-{gpu}-sm{sm}"


@dataclass(frozen=True)
class EngineRequest:
    """One engine to build: which ONNX, its input, the batch profile and the builder settings."""

    onnx_path: Path
    model_sha256: str
    input_name: str
    input_shape: tuple[int, int, int]
    profile: BatchProfile = field(default_factory=BatchProfile)
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES
    label: str = "model"

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or any(int(d) < 1 for d in self.input_shape):
            raise ConfigError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.model_sha256):
            raise ConfigError(f"model_sha256 must be 64 hex digits, got {self.model_sha256!r}")
        if self.workspace_bytes < 1 << 20:
            raise ConfigError(f"workspace_bytes must be at least 1 MiB, got {self.workspace_bytes}")

    def key_fields(self) -> dict[str, Any]:
        """Everything about the request that changes the engine (not the ONNX's location)."""
        return {
            "model_sha256": self.model_sha256,
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "profile": asdict(self.profile),
            "workspace_bytes": self.workspace_bytes,
        }


def engine_key(request: EngineRequest, device: DeviceIdentity) -> str:
    """Hex sha256 over the request's key fields, the device identity and the cache format."""
    payload = {"format": CACHE_FORMAT, "device": asdict(device), "request": request.key_fields()}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The engine cache directory.

    In order: the argument, `$PINCLIP_ENGINE_CACHE`, else `engines/` under the runtime's cache root
    (`pinclip_sdk.cache.cache_root`: `$PINCLIP_CACHE_DIR`, `$XDG_CACHE_HOME/pinclip` or
    `~/.cache/pinclip`). Not created here: `EngineCache` creates it and says so when it cannot.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENGINE_CACHE_ENV):
        return Path(os.environ[ENGINE_CACHE_ENV]).expanduser()
    return cache_root() / "engines"


def safe_label(text: str) -> str:
    """A file-name-safe version of a model id / artifact name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "model"


# --------------------------------------------------------------------------------------------
# optional imports


def import_tensorrt() -> Any:
    """The `tensorrt` module, or BackendUnavailableError naming the extra to install."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError as exc:
        raise BackendUnavailableError(f"TensorRT is not installed ({exc}); {INSTALL_HINT}") from exc


def cuda_check(result: Any, what: str) -> Any:
    """Unwrap a cuda-python `(err, *values)` tuple, raising BackendUnavailableError on an error."""
    values = result if isinstance(result, tuple) else (result,)
    err, rest = values[0], values[1:]
    if int(err) != 0:
        name = getattr(err, "name", str(err))
        raise BackendUnavailableError(f"CUDA call {what} failed with {name}")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


def query_device(trt: Any, cudart: Any, device_index: int = 0) -> DeviceIdentity:
    """Identity of CUDA device `device_index` for the cache key (raises if there is no GPU)."""
    count = cuda_check(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if not 0 <= device_index < count:
        raise BackendUnavailableError(
            f"CUDA device {device_index} does not exist (this machine has {count}); pass device_index in "
            f"0..{max(count - 1, 0)}"
        )
    prop = cuda_check(cudart.cudaGetDeviceProperties(device_index), "cudaGetDeviceProperties")
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    runtime_version = cuda_check(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion")
    from pinclip_sdk.machine import describe_jetson

    jetson = describe_jetson()
    return DeviceIdentity(
        tensorrt_version=str(trt.__version__),
        gpu_name=name.rstrip("\x00").strip(),
        compute_capability=f"{prop.major}.{prop.minor}",
        cuda_runtime=f"{runtime_version // 1000}.{(runtime_version % 1000) // 10}",
        l4t=jetson["l4t"] if jetson else None,
    )


# --------------------------------------------------------------------------------------------
# building


def build_serialized_engine(
    trt: Any, request: EngineRequest, timing_cache: bytes | None
) -> tuple[bytes, bytes]:
    """Parse the ONNX into a strongly typed network and build a plan with one batch profile.

    Returns:
        (plan bytes, serialized timing cache bytes after the build).

    Raises:
        ExportError: the ONNX does not parse, lacks the input, or TensorRT cannot build it.
    """
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(request.onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no detail"
        raise ExportError(
            f"TensorRT {trt.__version__} cannot parse {request.onnx_path}: {errors}; "
            "check the ONNX with `polygraphy inspect model` and the bundle's export report"
        )
    _check_network_input(network, request)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_bytes)
    cache = config.create_timing_cache(timing_cache or b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    profile.set_shape(request.input_name, *request.profile.shapes(request.input_shape))
    config.add_optimization_profile(profile)
    started = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(
            f"TensorRT {trt.__version__} failed to build an engine from {request.onnx_path} "
            f"(profile {asdict(request.profile)}); rerun with PINCLIP log level DEBUG for TensorRT's log"
        )
    logger.info("built TensorRT engine for %s in %.1f s", request.label, time.perf_counter() - started)
    return bytes(memoryview(plan)), bytes(memoryview(config.get_timing_cache().serialize()))


def _network_flags(trt: Any) -> int:
    # STRONGLY_TYPED: required on 10.x, ignored on 11.x (docs/references.md#tensorrt-strong-typing); a
    # later release that drops the member is strongly typed anyway, so its absence means 0.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _check_network_input(network: Any, request: EngineRequest) -> None:
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    names = [tensor.name for tensor in inputs]
    if request.input_name not in names:
        listed = ", ".join(names) or "none"
        raise ExportError(
            f"{request.onnx_path} has no input {request.input_name!r} (inputs: {listed}); "
            "the bundle manifest's input name must match the exported graph"
        )
    shape = tuple(inputs[names.index(request.input_name)].shape)
    per_image = shape[1:]
    if len(shape) != 4 or any(d not in (-1, w) for d, w in zip(per_image, request.input_shape, strict=True)):
        raise ExportError(
            f"{request.onnx_path} input {request.input_name!r} has shape {shape}; expected "
            f"[N, {', '.join(map(str, request.input_shape))}] from the manifest's preprocessing size"
        )
    batches = {request.profile.min_batch, request.profile.opt_batch, request.profile.max_batch}
    if shape[0] != -1 and batches != {shape[0]}:
        raise ExportError(
            f"{request.onnx_path} has a fixed batch of {shape[0]} but the profile asks for "
            f"{sorted(batches)}; export the ONNX with a dynamic batch dimension"
        )


# --------------------------------------------------------------------------------------------
# the cache


@dataclass(frozen=True)
class CachedEngine:
    """A usable plan in the cache and whether this call built it."""

    path: Path
    key: str
    built: bool
    metadata: dict[str, Any]


Builder = Callable[[Any, EngineRequest, "bytes | None"], "tuple[bytes, bytes]"]


class EngineCache:
    """The engine cache directory: lookup, build-on-miss under a lock, timing-cache persistence.

    Example:
        >>> cache = EngineCache("/tmp/pinclip-engines")  # doctest: +SKIP
        >>> engine = cache.get_or_build(trt, request, device)  # doctest: +SKIP
        >>> engine.path.name  # doctest: +SKIP
        'demo.tensorrt-fp16-3f2a9c...plan'
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        builder: Builder = build_serialized_engine,
    ) -> None:
        self.directory = resolve_cache_dir(directory)
        self.lock_timeout_s = lock_timeout_s
        self._builder = builder

    def engine_path(self, request: EngineRequest, key: str) -> Path:
        return self.directory / f"{safe_label(request.label)}-{key[:20]}.plan"

    def timing_cache_path(self, device: DeviceIdentity) -> Path:
        return self.directory / "timing" / f"{device.slug}.cache"

    def lookup(self, request: EngineRequest, device: DeviceIdentity) -> CachedEngine | None:
        """The cached engine for (request, device) if present and intact, else None."""
        key = engine_key(request, device)
        path = self.engine_path(request, key)
        metadata = _valid_metadata(path, key)
        return CachedEngine(path, key, False, metadata) if metadata is not None else None

    def get_or_build(self, trt: Any, request: EngineRequest, device: DeviceIdentity) -> CachedEngine:
        """Return the cached engine, building it (once, across processes) when missing or stale."""
        cached = self.lookup(request, device)
        if cached is not None:
            logger.debug("TensorRT engine cache hit: %s", cached.path)
            return cached
        key = engine_key(request, device)
        path = self.engine_path(request, key)
        self._prepare_directory()
        with file_lock(path.with_suffix(".lock"), self.lock_timeout_s):
            metadata = _valid_metadata(path, key)  # another process may have built it meanwhile
            if metadata is not None:
                return CachedEngine(path, key, False, metadata)
            return self._build(trt, request, device, key, path)

    def invalidate(self, engine: CachedEngine) -> None:
        """Remove an engine TensorRT refused to load, so the next call rebuilds it."""
        with file_lock(engine.path.with_suffix(".lock"), self.lock_timeout_s):
            for stale in (engine.path, engine.path.with_suffix(".json")):
                stale.unlink(missing_ok=True)
        logger.warning("removed stale TensorRT engine %s; it will be rebuilt", engine.path)

    def entries(self) -> list[dict[str, Any]]:
        """Sidecar metadata of every engine in the cache (for `pinclip info` and docs)."""
        if not self.directory.is_dir():
            return []
        found = []
        for sidecar in sorted(self.directory.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                found.append({"path": str(sidecar.with_suffix(".plan")), **json.loads(sidecar.read_text())})
        return found

    def clear(self) -> int:
        """Delete every engine and sidecar (not the timing caches, not lock files a build may hold)."""
        removed = 0
        if self.directory.is_dir():
            for item in self.directory.iterdir():
                if item.is_file() and item.suffix in (".plan", ".json"):
                    item.unlink(missing_ok=True)
                    removed += item.suffix == ".plan"
        return removed

    def _prepare_directory(self) -> None:
        try:
            (self.directory / "timing").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the TensorRT engine cache {self.directory} ({exc}); pass cache_dir= or set "
                f"{ENGINE_CACHE_ENV} to a writable directory"
            ) from exc

    def _build(
        self, trt: Any, request: EngineRequest, device: DeviceIdentity, key: str, path: Path
    ) -> CachedEngine:
        timing_path = self.timing_cache_path(device)
        timing = timing_path.read_bytes() if timing_path.is_file() else None
        logger.info(
            "building TensorRT engine %s (batch %d/%d/%d) on %s; this takes minutes, once per device",
            path.name,
            request.profile.min_batch,
            request.profile.opt_batch,
            request.profile.max_batch,
            device.gpu_name,
        )
        started = time.perf_counter()
        plan, new_timing = self._builder(trt, request, timing)
        seconds = time.perf_counter() - started
        atomic_write(path, plan)
        metadata = {
            "key": key,
            "format": CACHE_FORMAT,
            "device": asdict(device),
            "request": request.key_fields(),
            "label": request.label,
            "onnx_path": str(request.onnx_path),
            "plan_size": len(plan),
            "plan_sha256": hashlib.sha256(plan).hexdigest(),
            "build_seconds": round(seconds, 3),
            "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        # the sidecar is written last: a plan without one is treated as stale
        atomic_write(path.with_suffix(".json"), json.dumps(metadata, indent=2, sort_keys=True).encode())
        if new_timing:
            with file_lock(timing_path.with_suffix(".lock"), self.lock_timeout_s):
                atomic_write(timing_path, new_timing)
        return CachedEngine(path, key, True, metadata)


def _valid_metadata(path: Path, key: str) -> dict[str, Any] | None:
    """The sidecar of `path` if it matches `key` and the plan's size and sha256, else None."""
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return None
    try:
        metadata = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("unreadable engine sidecar %s; the engine will be rebuilt", sidecar)
        return None
    if not isinstance(metadata, dict) or metadata.get("key") != key:
        logger.warning("engine sidecar %s does not match the expected key; rebuilding", sidecar)
        return None
    if path.stat().st_size != metadata.get("plan_size") or sha256_file(path) != metadata.get("plan_sha256"):
        logger.warning("cached engine %s is truncated or modified; rebuilding", path)
        return None
    return metadata


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def file_lock(path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive advisory lock on `path` (created if needed), shared across processes and threads.

    Raises:
        ConfigError: the lock was not acquired within `timeout_s` (another build hung).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        announced = False
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"timed out after {timeout_s:g} s waiting for {path}; another process is building "
                    "this engine or died holding the lock (delete the file if no build is running)"
                )
            if not announced:
                logger.info("waiting for another process to finish building (%s)", path.name)
                announced = True
            time.sleep(_LOCK_POLL_S)
        try:
            yield
        finally:
            _unlock(handle)


def _try_lock(handle: Any) -> bool:
    if os.name == "nt":  # pragma: no cover - TensorRT on Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: Any) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# bundle integration


def request_for_artifact(
    bundle: Bundle,
    artifact: Artifact,
    profile: BatchProfile | None = None,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
) -> EngineRequest:
    """The engine request for a bundle's `tensorrt-*` artifact: input name and shape from the manifest.

    The ONNX is hash-verified here (`bundle.verified_path`), and its manifest sha256 keys the cache.
    """
    if artifact.backend != "tensorrt":
        raise ConfigError(
            f"artifact {artifact.name!r} is for {artifact.backend}, not tensorrt; use tensorrt-fp16 or "
            "tensorrt-int8"
        )
    onnx_path = bundle.verified_path(artifact)
    manifest = bundle.manifest
    height, width = manifest.preprocess.size
    return EngineRequest(
        onnx_path=onnx_path,
        model_sha256=artifact.files[0].sha256,
        input_name=str(manifest.input.get("name", "pixel_values")),
        input_shape=(3, int(height), int(width)),
        profile=profile or BatchProfile(),
        workspace_bytes=workspace_bytes,
        label=f"{manifest.model_id}.{artifact.name}",
    )


@dataclass
class LoadedEngine:
    """A deserialized engine with the objects that must outlive it (TensorRT logger and runtime)."""

    engine: Any
    runtime: Any
    trt_logger: Any
    cached: CachedEngine


def load_engine(trt: Any, cache: EngineCache, request: EngineRequest, device: DeviceIdentity) -> LoadedEngine:
    """Get (or build) the cached plan and deserialize it; a plan TensorRT refuses is rebuilt once."""
    trt_logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(trt_logger)
    cached = cache.get_or_build(trt, request, device)
    engine = runtime.deserialize_cuda_engine(cached.path.read_bytes())
    if engine is None and not cached.built:
        cache.invalidate(cached)
        cached = cache.get_or_build(trt, request, device)
        engine = runtime.deserialize_cuda_engine(cached.path.read_bytes())
    if engine is None:
        raise ExportError(
            f"TensorRT {device.tensorrt_version} cannot deserialize the engine it just built "
            f"({cached.path}); "
            "this is a TensorRT or driver problem: check `trtexec --loadEngine` on the same file"
        )
    return LoadedEngine(engine, runtime, trt_logger, cached)


def prepare_engine(
    bundle: Bundle,
    precision: str,
    *,
    profile: BatchProfile | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device_index: int = 0,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
) -> tuple[CachedEngine, DeviceIdentity]:
    """Build (or find) the engine for the bundle's `tensorrt-<precision>` artifact on this GPU."""
    if precision not in TENSORRT_PRECISIONS:
        raise ConfigError(
            f"TensorRT precision {precision!r} is not one of {', '.join(TENSORRT_PRECISIONS)} "
            "(precision lives in the ONNX graph: strongly typed FP16 or Q/DQ INT8)"
        )
    trt = import_tensorrt()
    cudart = import_cuda_runtime()
    device = query_device(trt, cudart, device_index)
    cuda_check(cudart.cudaSetDevice(device_index), "cudaSetDevice")
    request = request_for_artifact(bundle, bundle.find("tensorrt", precision), profile, workspace_bytes)
    return EngineCache(cache_dir).get_or_build(trt, request, device), device
