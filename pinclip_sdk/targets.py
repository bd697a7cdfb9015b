"""Every backend and every backend × precision target of the SDK, described once.

A *backend* is a runtime that executes artifacts (onnxruntime, openvino, tensorrt); a *target* is
one artifact kind a bundle can hold (`openvino-int8`: its files, the load options its export gate
ran it with). Export (what to build, where the files go), backend selection (which module loads
it, which precision `auto` tries first, which device kinds it runs on), Triton (which Triton
backend serves it), machine and provenance reports (which library versions matter) and the bundle
manifest schema (allowed backends, precisions, recordable load options) all read these records;
`tests/runtime/test_targets.py` ties the schema to them. Adding a target is one `Target` record
here plus its build step in `export/artifacts.py` and its load in the backend's module.

Importing this module imports no backend library.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pinclip_sdk.errors import ConfigError

PRECISIONS = ("fp32", "fp16", "int8")
DEVICE_KINDS = ("cpu", "nvidia-gpu")
OPENVINO_PRECISION_HINTS = ("f32", "bf16", "f16")


@dataclass(frozen=True)
class BackendRecord:
    """One runtime backend: how the SDK loads it, installs it and serves it with Triton.

    `recordable_options` are the load options a bundle may record for its artifacts, with their
    allowed values: settings that change what an artifact computes. Machine-specific settings
    (devices, providers, cache folders, threads) stay with the caller; a bundle is untrusted input.
    """

    name: str
    module: str  # defines `BACKEND_CLASS`; imported only when the backend is asked for
    extra: str  # what to `pip install` for it
    library: str  # the library whose version reports and cache keys record (`versions.DISTRIBUTIONS`)
    devices: tuple[str, ...]  # device kinds it runs on (`DEVICE_KINDS`)
    aliases: tuple[str, ...] = ()  # other names `pinclip export --targets` accepts
    recordable_options: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    triton_backend: str | None = None  # Triton's `backend` field for its artifacts
    triton_platform: str | None = None  # Triton's `platform` field, where Triton wants one
    triton_model_files: tuple[str, ...] = ()  # names in a Triton version folder, like the artifact's files


@dataclass(frozen=True)
class Target:
    """One artifact kind: `backend` at `precision`, its files in a bundle (main file first) and the
    load options its export gate runs it with and the bundle records (`Artifact.load_options`)."""

    backend: str
    precision: str
    files: tuple[str, ...]
    load_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The artifact's name in a bundle, e.g. `openvino-int8`."""
        return f"{self.backend}-{self.precision}"


BACKEND_RECORDS: tuple[BackendRecord, ...] = (
    BackendRecord(
        name="onnxruntime",
        module="pinclip_sdk.backends.onnxruntime",
        extra="pinclip-sdk[onnxruntime]",
        library="onnxruntime",
        devices=("cpu", "nvidia-gpu"),  # CUDA / TensorRT execution providers in onnxruntime-gpu
        aliases=("ort", "onnx"),
        triton_backend="onnxruntime",
        triton_platform="onnxruntime_onnx",
        triton_model_files=("model.onnx",),
    ),
    BackendRecord(
        name="openvino",
        module="pinclip_sdk.backends.openvino",
        extra="pinclip-sdk[openvino]",
        library="openvino",
        devices=("cpu",),
        aliases=("ov",),
        recordable_options=MappingProxyType({"inference_precision_hint": OPENVINO_PRECISION_HINTS}),
        triton_backend="openvino",
        triton_model_files=("model.xml", "model.bin"),
    ),
    BackendRecord(
        name="tensorrt",
        module="pinclip_sdk.backends.tensorrt",
        extra="pinclip-sdk[tensorrt]",
        library="tensorrt",
        devices=("nvidia-gpu",),
        aliases=("trt",),
        triton_backend="tensorrt",
        triton_platform="tensorrt_plan",
        triton_model_files=("model.plan",),
    ),
)

# OpenVINO IRs run with INFERENCE_PRECISION_HINT=f32. Without it, CPUs with AMX/AVX512-BF16 run an
# "FP32" IR, and the float ops an INT8 IR keeps (head, patch Conv, LayerNorm, Softmax), in bf16:
# the gate on a CPU without those units would measure f32 and a deployment on one would ship bf16
# that no gate saw. Pinned to f32, the gate and every deployment compute the same thing on any CPU.
_OPENVINO_F32 = MappingProxyType({"inference_precision_hint": "f32"})

# Listed per backend in the order `precision="auto"` tries them: INT8 first on CPUs (the fastest
# there, gated against FP32), FP16 first on TensorRT (docs/references.md#tensorrt-vit-precision).
TARGETS: tuple[Target, ...] = (
    Target("onnxruntime", "int8", ("onnxruntime/detector.int8.onnx",)),
    Target("onnxruntime", "fp32", ("onnxruntime/detector.fp32.onnx",)),
    Target("onnxruntime", "fp16", ("onnxruntime/detector.fp16.onnx",)),
    Target("openvino", "int8", ("openvino/detector.int8.xml", "openvino/detector.int8.bin"), _OPENVINO_F32),
    Target("openvino", "fp32", ("openvino/detector.fp32.xml", "openvino/detector.fp32.bin"), _OPENVINO_F32),
    Target("tensorrt", "fp16", ("tensorrt/detector.fp16.onnx",)),
    Target("tensorrt", "int8", ("tensorrt/detector.int8.qdq.onnx",)),
)

BACKENDS: tuple[str, ...] = tuple(b.name for b in BACKEND_RECORDS)
ALIASES: dict[str, str] = {alias: b.name for b in BACKEND_RECORDS for alias in b.aliases}
_BY_NAME = {b.name: b for b in BACKEND_RECORDS}
_TARGETS_BY_NAME = {t.name: t for t in TARGETS}


def unknown_backend(name: object) -> ConfigError:
    """The error for a backend name that is not registered, with the closest valid name."""
    close = difflib.get_close_matches(str(name), BACKENDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"Unknown backend {name!r:.80}. Available: {', '.join(BACKENDS)}.{hint}")


def backend_record(name: str) -> BackendRecord:
    """The record of backend `name`; ConfigError (with the closest name) for an unknown one."""
    record = _BY_NAME.get(name) if isinstance(name, str) else None
    if record is None:
        raise unknown_backend(name)
    return record


def target(name: str) -> Target:
    """The target named like its artifact (`openvino-int8`); ConfigError for an unknown one."""
    found = _TARGETS_BY_NAME.get(name) if isinstance(name, str) else None
    if found is None:
        close = difflib.get_close_matches(str(name), list(_TARGETS_BY_NAME), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown target {name!r:.80}. Available: {', '.join(_TARGETS_BY_NAME)}.{hint}")
    return found


def targets_of(backend: str) -> tuple[Target, ...]:
    """The targets of `backend`, in the order `precision="auto"` tries them."""
    backend_record(backend)
    return tuple(t for t in TARGETS if t.backend == backend)


def precision_order(backend: str) -> tuple[str, ...]:
    """The precisions `backend` has targets for, in the order `precision="auto"` tries them."""
    return tuple(t.precision for t in targets_of(backend))


def backends_on(device: str) -> tuple[str, ...]:
    """The backends that run on device kind `device` (`DEVICE_KINDS`), in record order."""
    if device not in DEVICE_KINDS:
        raise ConfigError(f"unknown device kind {device!r:.40}; choose from {', '.join(DEVICE_KINDS)}")
    return tuple(b.name for b in BACKEND_RECORDS if device in b.devices)


def check_recorded_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` as a bundle may record them for a `backend` artifact; ConfigError naming a key the
    bundle may not set (unknown, or machine-specific) or a value outside the allowed ones."""
    allowed = backend_record(backend).recordable_options
    refused = sorted(str(k) for k in set(options) - set(allowed))
    if refused:
        recordable = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"{backend} artifacts cannot record load options {refused} (recordable: {recordable}; "
            "machine-specific settings are the caller's backend_options)"
        )
    for key, value in options.items():
        if value not in allowed[key]:
            raise ConfigError(f"{backend} option {key} must be one of {allowed[key]}, got {value!r:.80}")
    return dict(options)
