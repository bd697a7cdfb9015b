"""Which backend and precision a Detector runs: the user's choice, or `auto`.

`auto` prefers TensorRT when its `probe()` says it can run (an NVIDIA GPU) and the bundle has a
TensorRT artifact. Otherwise it times the bundle's OpenVINO and onnxruntime artifacts (INT8 when
present) on this machine with a short probe and keeps the faster; the result is cached on disk
under a key of everything the timing depends on (machine, artifact hashes and load options, the
preprocessing spec, library versions, threads and backend options), so the probe runs once per
machine and bundle. `Choice.reason` says what was picked and why (`Detector.info()`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from pinclip_sdk.backends.base import BACKENDS, Backend, backend_class, cache_dir
from pinclip_sdk.errors import (
    BackendError,
    BackendUnavailableError,
    BundleError,
    ConfigError,
    PinclipError,
)
from pinclip_sdk.targets import PRECISIONS, backend_record, backends_on, precision_order
from pinclip_sdk.versions import distribution_version

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Bundle

logger = logging.getLogger(__name__)
# backend -> the precisions "auto" tries, in order (`pinclip_sdk.targets.TARGETS`)
PRECISION_ORDER = {name: precision_order(name) for name in BACKENDS}
CPU_CANDIDATES = backends_on("cpu")  # timed against each other when no TensorRT GPU is found
CACHE_FILE = "backend-choice.json"
PROBE_SECONDS = 0.6
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Choice:
    """The backend and precision a Detector runs, and why."""

    backend: str
    precision: str
    reason: str
    measurements_ms: dict[str, float] = field(default_factory=dict)


def resolve_precision(bundle: Bundle, backend: str, precision: str) -> str:
    """`precision`, or for `auto` the best one the bundle has for `backend`."""
    if precision != "auto":
        bundle.find(backend, precision)  # raises, listing what the bundle has
        return precision
    have = {a.precision for a in bundle.artifacts if a.backend == backend}
    for candidate in PRECISION_ORDER.get(backend, PRECISIONS):
        if candidate in have:
            return candidate
    return bundle.find(backend).precision  # raises BundleError naming what exists


def _load(bundle: Bundle, name: str, precision: str, threads: int | None, options: dict | None) -> Backend:
    cls = backend_class(name)
    reason = cls.probe()
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {reason}")
    # hash-check here too, so no backend implementation can skip the verification
    bundle.verify(bundle.find(name, precision))
    if options:
        return cls.load(bundle, precision, threads, options=options)
    return cls.load(bundle, precision, threads)


def choose_backend(
    bundle: Bundle,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> tuple[Backend, Choice]:
    """Load the backend to run `bundle` with; `options` maps a backend name to its load options."""
    if precision != "auto" and precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of auto, {', '.join(PRECISIONS)}")
    options = options or {}
    if backend != "auto":
        backend_class(backend)  # ConfigError with a suggestion on a typo
        chosen = resolve_precision(bundle, backend, precision)
        loaded = _load(bundle, backend, chosen, threads, options.get(backend))
        return loaded, Choice(backend, chosen, f"backend {backend!r} requested")
    skipped: list[str] = []
    trt = _try_tensorrt(bundle, precision, threads, options.get("tensorrt"), skipped)
    if trt is not None:
        return trt
    candidates = _cpu_candidates(bundle, precision, skipped)
    if not candidates:
        raise BackendUnavailableError(
            f"{bundle.root}: no backend can run this bundle here ({'; '.join(skipped)}); "
            "install pinclip-sdk[onnxruntime] or pinclip-sdk[openvino]"
        )
    if len(candidates) == 1:
        name, prec = candidates[0]
        loaded = _load(bundle, name, prec, threads, options.get(name))
        why = "; ".join(skipped) or "no other candidate"
        return loaded, Choice(name, prec, f"only candidate on this machine ({why})")
    return _measured_choice(bundle, candidates, threads, options)


def _try_tensorrt(
    bundle: Bundle, precision: str, threads: int | None, options: dict | None, skipped: list[str]
) -> tuple[Backend, Choice] | None:
    if "tensorrt" not in BACKENDS:
        return None
    try:
        cls = backend_class("tensorrt")
    except PinclipError as exc:
        skipped.append(f"tensorrt: {exc}")
        return None
    reason = cls.probe()
    if reason is not None:
        skipped.append(f"tensorrt: {reason}")
        return None
    try:
        chosen = resolve_precision(bundle, "tensorrt", precision)
    except BundleError:
        skipped.append("tensorrt: bundle has no TensorRT artifact")
        return None
    loaded = _load(bundle, "tensorrt", chosen, threads, options)
    return loaded, Choice("tensorrt", chosen, "NVIDIA GPU with TensorRT found; TensorRT preferred")


def _cpu_candidates(bundle: Bundle, precision: str, skipped: list[str]) -> list[tuple[str, str]]:
    candidates = []
    for name in CPU_CANDIDATES:
        reason = backend_class(name).probe() if name in BACKENDS else "not registered"
        if reason is not None:
            skipped.append(f"{name}: {reason}")
            continue
        try:
            candidates.append((name, resolve_precision(bundle, name, precision)))
        except BundleError:
            skipped.append(f"{name}: no {precision if precision != 'auto' else ''} artifact in the bundle")
    # each at its preferred precision: every artifact in a bundle passed the export parity gate
    return candidates


def _measured_choice(
    bundle: Bundle, candidates: list[tuple[str, str]], threads: int | None, options: dict
) -> tuple[Backend, Choice]:
    key = _cache_key(bundle, candidates, threads, options)
    cached = _read_cache().get(key)
    if cached is not None:
        name, prec = cached["backend"], cached["precision"]
        loaded = _load(bundle, name, prec, threads, options.get(name))
        return loaded, Choice(name, prec, _why(name, prec, cached["ms"], cached["measured"]), cached["ms"])
    timings, loaded_backends, failures = _measure(bundle, candidates, threads, options)
    best = min(timings, key=timings.__getitem__)
    best_name, best_prec = best.split("/")
    for name, backend in loaded_backends.items():
        if name != best_name:
            backend.close()
    measured = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if failures:  # not cached: a backend that failed may work next time (driver, memory)
        reason = _why(best_name, best_prec, timings, None) + f"; failed: {'; '.join(failures)}"
        return loaded_backends[best_name], Choice(best_name, best_prec, reason, timings)
    _write_cache(key, {"backend": best_name, "precision": best_prec, "ms": timings, "measured": measured})
    reason = _why(best_name, best_prec, timings, None)
    return loaded_backends[best_name], Choice(best_name, best_prec, reason, timings)


def _measure(
    bundle: Bundle, candidates: list[tuple[str, str]], threads: int | None, options: dict
) -> tuple[dict[str, float], dict[str, Backend], list[str]]:
    """Load and time each candidate; a candidate that fails to load or run is skipped and reported."""
    timings: dict[str, float] = {}
    loaded: dict[str, Backend] = {}
    failures: list[str] = []
    for name, prec in candidates:
        try:
            loaded[name] = _load(bundle, name, prec, threads, options.get(name))
            timings[f"{name}/{prec}"] = _time_backend(loaded[name], bundle.manifest.preprocess.size)
        except (BackendError, BackendUnavailableError) as exc:  # a tampered bundle (BundleError) still raises
            logger.warning("auto: %s/%s cannot run here: %s", name, prec, exc)
            failures.append(f"{name}/{prec}: {exc}")
            if name in loaded:
                loaded.pop(name).close()
    if not timings:
        reasons = "; ".join(failures)
        raise BackendUnavailableError(f"{bundle.root}: no backend could run this bundle ({reasons})")
    return timings, loaded, failures


def _why(name: str, prec: str, timings: dict[str, float], cached_at: str | None) -> str:
    figures = " vs ".join(f"{k} {v:.2f} ms" for k, v in sorted(timings.items(), key=lambda kv: kv[1]))
    source = f"cached measurement from {cached_at}" if cached_at else "measured on this machine"
    return f"{name}/{prec} is fastest at batch 1 ({figures} per image; {source})"


def _time_backend(backend: Backend, size: tuple[int, int]) -> float:
    """Median milliseconds of a batch-1 inference, after warm-up, within a fixed time budget."""
    batch = np.zeros((1, 3, *size), dtype=np.float32)
    for _ in range(2):
        backend.infer(batch)
    times: list[float] = []
    deadline = time.perf_counter() + PROBE_SECONDS
    while len(times) < 3 or (time.perf_counter() < deadline and len(times) < 50):
        start = time.perf_counter()
        backend.infer(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def machine_fingerprint() -> dict[str, Any]:
    """What makes a timing comparable: CPU model, usable cores, architecture, OS."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "arch": platform.machine(), "system": platform.system()}


def _cache_key(bundle: Bundle, candidates: list[tuple[str, str]], threads: int | None, options: dict) -> str:
    """Everything the timed choice depends on: the machine, each candidate's files (by hash), the
    load options it records and the caller gives, the preprocessing spec (it sets the input size),
    threads, and the versions of the SDK and of each candidate's library."""
    artifacts = {f"{n}-{p}": bundle.find(n, p) for n, p in candidates}
    payload = {
        "machine": machine_fingerprint(),
        "artifacts": {k: sorted(f.sha256 for f in a.files) for k, a in artifacts.items()},
        "load_options": {k: a.load_options for k, a in artifacts.items()},
        "preprocess": bundle.manifest.preprocess.to_dict(),
        "versions": _versions([n for n, _ in candidates]),
        "threads": threads,
        "options": {n: options.get(n) for n, _ in candidates},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _versions(backends: list[str]) -> dict[str, str]:
    libraries = ["pinclip-sdk", *(backend_record(name).library for name in backends)]
    return {library: distribution_version(library) or "absent" for library in libraries}


def _read_cache() -> dict[str, Any]:
    path = cache_dir() / CACHE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(key: str, entry: dict[str, Any]) -> None:
    with _cache_lock:
        try:
            data = _read_cache()
            data[key] = entry
            path = cache_dir() / CACHE_FILE
            tmp = path.with_name(f"{CACHE_FILE}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:  # a read-only home must not stop inference
            logger.warning("could not cache the backend choice: %s", exc)
