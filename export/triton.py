"""Triton Inference Server model repository from a bundle (`pinclip export --format triton`).

One model directory per backend, each with a `config.pbtxt` (platform/backend, input
`pixel_values` without the batch dimension, output `logits`, `max_batch_size`, dynamic batching
with preferred sizes, an instance group) and the model file in version folder `1/`:

    <repo>/pinclip_onnxruntime/config.pbtxt, 1/model.onnx           onnxruntime backend (CPU)
    <repo>/pinclip_openvino/config.pbtxt, 1/model.xml, 1/model.bin   OpenVINO backend (CPU)
    <repo>/pinclip_tensorrt/config.pbtxt, 1/model.plan               TensorRT backend (GPU)
    <repo>/pinclip_onnxruntime_tensorrt/config.pbtxt, 1/model.onnx  onnxruntime + TensorRT EP (GPU)

A TensorRT plan only runs on the GPU and TensorRT that built it (docs/references.md#tensorrt-engines), so
it must be built on the serving GPU with the TensorRT of the Triton container: the `tensorrt` model
gets the strongly typed ONNX under `onnx/` and a `build_plan.sh` that runs `trtexec` to write
`1/model.plan` (or `build_tensorrt_plan=True` builds it here, valid only for this machine's GPU and
TensorRT). The `onnxruntime_tensorrt` model needs no build step: onnxruntime's TensorRT execution
provider builds and caches the engine when Triton loads it. Every model directory also holds
`pinclip.json` (preprocessing spec, threshold, output semantics) for clients.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinclip_sdk.bundle import Artifact, Bundle
from pinclip_sdk.engine_cache import BatchProfile, prepare_engine
from pinclip_sdk.errors import ConfigError, ExportError
from pinclip_sdk.export.engine_prebuild import trtexec_build_command
from pinclip_sdk.targets import BACKEND_RECORDS, backend_record, precision_order

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TritonTarget:
    """How one Triton backend serves one bundle artifact."""

    artifact_backend: str  # which bundle artifacts it serves
    precisions: tuple[str, ...]  # preference order when the caller does not pick
    platform: str | None
    backend: str
    model_files: tuple[str, ...]  # names in the version folder, matching the artifact's files
    kind: str  # instance group kind


def _serving(artifact_backend: str, server: str | None = None) -> TritonTarget:
    """The Triton model for a backend's artifacts, served by `server`'s Triton backend (default: the
    artifact's own); CPU instances when the artifact backend runs on CPUs, else GPU instances."""
    record, served_by = backend_record(artifact_backend), backend_record(server or artifact_backend)
    if served_by.triton_backend is None:
        raise ConfigError(f"backend {served_by.name!r} has no Triton backend")
    return TritonTarget(
        artifact_backend,
        precision_order(artifact_backend),
        served_by.triton_platform,
        served_by.triton_backend,
        served_by.triton_model_files,
        "KIND_CPU" if "cpu" in record.devices else "KIND_GPU",
    )


# Triton model kind -> how it is served: each backend's own Triton backend, plus TensorRT artifacts
# served by onnxruntime's TensorRT execution provider (no plan to build on the serving GPU).
TRITON_TARGETS: dict[str, TritonTarget] = {
    **{b.name: _serving(b.name) for b in BACKEND_RECORDS if b.triton_backend},
    "onnxruntime_tensorrt": _serving("tensorrt", "onnxruntime"),
}
_ONNX_TO_TRITON_TYPE = {1: "TYPE_FP32", 10: "TYPE_FP16", 11: "TYPE_FP64"}


class Ident(str):
    """A protobuf enum value: written without quotes in text format."""


def write_triton_repository(
    bundle_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    backends: tuple[str, ...] | list[str] = ("onnxruntime", "openvino", "tensorrt"),
    max_batch: int = 8,
    *,
    model_name: str = "pinclip",
    precisions: dict[str, str] | None = None,
    instance_count: int = 1,
    max_queue_delay_us: int = 500,
    build_tensorrt_plan: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write (or add to) a Triton model repository serving the bundle's artifacts.

    Args:
        bundle_path: the `*.pinclip` bundle.
        output_dir: repository root; created if missing, other models in it are left alone.
        backends: Triton targets, from `TRITON_TARGETS`.
        max_batch: `max_batch_size`; dynamic batching prefers `max_batch // 2` and `max_batch`.
        model_name: prefix of the model directories (`<model_name>_<backend>`).
        precisions: artifact precision per target; default: the first the bundle has of each
            target's preference order (INT8 on CPU, FP16 on TensorRT).
        instance_count: model instances per instance group.
        max_queue_delay_us: how long the dynamic batcher waits to fill a batch.
        build_tensorrt_plan: build `1/model.plan` here (needs TensorRT and the serving GPU).
        overwrite: replace model directories that already exist.

    Returns:
        The repository root (start Triton with `--model-repository=<it>`).

    Example:
        >>> repo = write_triton_repository("model.pinclip", "triton-repo")  # doctest: +SKIP
        >>> sorted(p.name for p in repo.iterdir())  # doctest: +SKIP
        ['README.md', 'pinclip_onnxruntime', 'pinclip_openvino', 'pinclip_tensorrt']
    """
    bundle = Bundle.load(bundle_path)
    _validate(backends, max_batch, model_name, instance_count, precisions)
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for target_name in dict.fromkeys(backends):
        target = TRITON_TARGETS[target_name]
        artifact = _pick_artifact(bundle, target_name, target, (precisions or {}).get(target_name))
        model_dir = root / f"{model_name}_{target_name}"
        if model_dir.exists():
            if not overwrite:
                raise ConfigError(f"{model_dir} exists; pass overwrite=True (CLI: --overwrite) to replace it")
            shutil.rmtree(model_dir)
        (model_dir / "1").mkdir(parents=True)
        config = _model_config(
            bundle, artifact, model_dir.name, target, max_batch, instance_count, max_queue_delay_us
        )
        (model_dir / "config.pbtxt").write_text(render_pbtxt(config), encoding="utf-8")
        _write_sidecar(bundle, artifact, model_dir, target_name)
        if target_name == "tensorrt":
            _prepare_plan(bundle, artifact, model_dir, max_batch, build_tensorrt_plan)
        else:
            _copy_artifact(bundle, artifact, model_dir / "1", target.model_files)
        written.append((model_dir.name, target_name, artifact))
        logger.info("Triton model %s <- %s", model_dir, artifact.name)
    _write_readme(root, written, max_batch)
    return root


def _validate(
    backends: Any, max_batch: int, model_name: str, instance_count: int, precisions: dict[str, str] | None
) -> None:
    unknown = [b for b in backends if b not in TRITON_TARGETS]
    if unknown or not backends:
        raise ConfigError(
            f"Triton backends {unknown or backends} unknown; choose from {', '.join(TRITON_TARGETS)}"
        )
    extra = sorted(set(precisions or {}) - set(backends))
    if extra:
        raise ConfigError(f"precisions given for {extra}, which are not among the backends {list(backends)}")
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigError(f"max_batch must be a positive integer, got {max_batch!r}")
    if instance_count < 1:
        raise ConfigError(f"instance_count must be at least 1, got {instance_count}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", model_name):
        raise ConfigError(f"model_name {model_name!r} must use letters, digits, '_', '.' or '-' only")


def _pick_artifact(bundle: Bundle, target_name: str, target: TritonTarget, precision: str | None) -> Artifact:
    if precision is not None:
        return bundle.find(target.artifact_backend, precision)  # raises, listing what exists
    have = {a.precision: a for a in bundle.artifacts if a.backend == target.artifact_backend}
    for candidate in target.precisions:
        if candidate in have:
            return have[candidate]
    return bundle.find(target.artifact_backend)  # raises BundleError naming what the bundle has


def _onnx_io(path: Path) -> tuple[str, str, int]:
    """(input data type, output data type, output rank) of an ONNX file, read without weights."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph_input, graph_output = model.graph.input[0], model.graph.output[0]
    input_type = _ONNX_TO_TRITON_TYPE.get(graph_input.type.tensor_type.elem_type)
    output_type = _ONNX_TO_TRITON_TYPE.get(graph_output.type.tensor_type.elem_type)
    if input_type is None or output_type is None:
        raise ExportError(f"{path}: input/output element types are not float; cannot describe them to Triton")
    return input_type, output_type, len(graph_output.type.tensor_type.shape.dim)


def _model_config(
    bundle: Bundle,
    artifact: Artifact,
    name: str,
    target: TritonTarget,
    max_batch: int,
    instance_count: int,
    max_queue_delay_us: int,
) -> dict[str, Any]:
    manifest = bundle.manifest
    height, width = manifest.preprocess.size
    if artifact.main_file.endswith(".onnx"):
        input_type, output_type, output_rank = _onnx_io(bundle.verified_path(artifact))
    else:  # OpenVINO IR keeps the exported float32 interface
        input_type, output_type, output_rank = "TYPE_FP32", "TYPE_FP32", 1
    output: dict[str, Any] = {"name": manifest.output.get("name", "logits"), "data_type": Ident(output_type)}
    # Triton needs non-empty dims: a [N] output is declared [1] and reshaped back to a scalar
    output["dims"] = [1]
    if output_rank == 1:
        output["reshape"] = {"shape": []}
    config: dict[str, Any] = {"name": name}
    if target.platform:
        config["platform"] = target.platform
    config["backend"] = target.backend
    config["max_batch_size"] = max_batch
    config["default_model_filename"] = target.model_files[0]
    config["input"] = [
        {
            "name": manifest.input.get("name", "pixel_values"),
            "data_type": Ident(input_type),
            "dims": [3, height, width],
        }
    ]
    config["output"] = [output]
    config["dynamic_batching"] = {
        "preferred_batch_size": sorted({max(max_batch // 2, 1), max_batch}),
        "max_queue_delay_microseconds": max_queue_delay_us,
    }
    config["instance_group"] = [{"count": instance_count, "kind": Ident(target.kind)}]
    config.update(_backend_settings(target, bundle, artifact, max_batch))
    return config


def _backend_settings(
    target: TritonTarget, bundle: Bundle, artifact: Artifact, max_batch: int
) -> dict[str, Any]:
    if target.backend == "openvino":
        return {"parameters": {"PERFORMANCE_HINT": {"string_value": "THROUGHPUT"}}}
    if target.backend == "onnxruntime" and target.kind == "KIND_GPU":
        height, width = bundle.manifest.preprocess.size
        name = bundle.manifest.input.get("name", "pixel_values")

        def shape(batch: int) -> str:
            return f"{name}:{batch}x3x{height}x{width}"

        # precision is in the graph (strongly typed FP16 / Q/DQ INT8), so no precision_mode flag
        parameters = {
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": "/tmp/pinclip-trt-cache",
            "trt_timing_cache_enable": "1",
            "trt_profile_min_shapes": shape(1),
            "trt_profile_opt_shapes": shape(max_batch),
            "trt_profile_max_shapes": shape(max_batch),
        }
        accelerator = {"name": "tensorrt", "parameters": parameters}
        return {"optimization": {"execution_accelerators": {"gpu_execution_accelerator": [accelerator]}}}
    return {}


def render_pbtxt(message: dict[str, Any], indent: int = 0) -> str:
    """Protobuf text format for a nested dict (the subset Triton's ModelConfig needs).

    dict values become sub-messages; a dict under `parameters` becomes map entries; lists of dicts
    repeated messages; lists of scalars `[a, b]`; `Ident` enum names; str quoted; int/bool bare.
    """
    pad = "  " * indent
    lines = []
    for key, value in message.items():
        if key == "parameters" and isinstance(value, dict):
            for map_key, map_value in value.items():
                entry = {"key": map_key, "value": map_value}
                lines.append(f"{pad}{key} {{\n{render_pbtxt(entry, indent + 1)}{pad}}}\n")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key} {{\n{render_pbtxt(value, indent + 1)}{pad}}}\n")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks = [f"{pad}  {{\n{render_pbtxt(v, indent + 2)}{pad}  }}" for v in value]
            lines.append(f"{pad}{key} [\n" + ",\n".join(blocks) + f"\n{pad}]\n")
        elif isinstance(value, list):
            items = ", ".join(_scalar(v) for v in value)
            lines.append(f"{pad}{key}: [ {items} ]\n" if items else f"{pad}{key}: [ ]\n")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, Ident):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _copy_artifact(bundle: Bundle, artifact: Artifact, version_dir: Path, names: tuple[str, ...]) -> None:
    bundle.verify(artifact)
    if len(artifact.files) < len(names):
        raise ExportError(f"artifact {artifact.name} has {len(artifact.files)} files; Triton needs {names}")
    for entry, name in zip(artifact.files, names, strict=False):
        shutil.copy2(bundle.root / entry.path, version_dir / name)


def _write_sidecar(bundle: Bundle, artifact: Artifact, model_dir: Path, target_name: str) -> None:
    manifest = bundle.manifest
    data = {
        "model_id": manifest.model_id,
        "triton_backend": target_name,
        "artifact": artifact.name,
        "precision": artifact.precision,
        "sha256": artifact.files[0].sha256,
        "preprocess": manifest.preprocess.to_dict(),
        "threshold": manifest.to_dict()["threshold"],
        "input": manifest.input,
        "output": manifest.output,
    }
    (model_dir / "pinclip.json").write_text(
        json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def _prepare_plan(bundle: Bundle, artifact: Artifact, model_dir: Path, max_batch: int, build: bool) -> None:
    """Put the ONNX and a trtexec build script beside the config; optionally build the plan here."""
    bundle.verify(artifact)
    onnx_dir = model_dir / "onnx"
    onnx_dir.mkdir()
    shutil.copy2(bundle.root / artifact.main_file, onnx_dir / "model.onnx")
    height, width = bundle.manifest.preprocess.size
    profile = BatchProfile(1, max_batch, max_batch)
    command = trtexec_build_command(
        "$HERE/onnx/model.onnx",
        bundle.manifest.input.get("name", "pixel_values"),
        (3, height, width),
        profile,
        engine_path="$HERE/1/model.plan",
    )
    script = (
        "#!/bin/sh\n"
        "# Build the TensorRT plan on the serving GPU with the TensorRT version of the Triton server:\n"
        "# run it in the NGC TensorRT container of the same release as the tritonserver image, e.g.\n"
        "#   docker run --rm --gpus all -v $PWD:/models nvcr.io/nvidia/tensorrt:<yy.mm>-py3 \\\n"
        "#     sh /models/" + model_dir.name + "/build_plan.sh\n"
        "set -e\n"
        'HERE="$(cd "$(dirname "$0")" && pwd)"\n'
        'TRTEXEC="${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}"\n'
        + " ".join(['"$TRTEXEC"', *(_shell_word(part) for part in command[1:])])
        + "\n"
    )
    script_path = model_dir / "build_plan.sh"
    script_path.write_text(script, encoding="utf-8")
    script_path.chmod(0o755)
    if build:
        cached, device = prepare_engine(bundle, artifact.precision, profile=profile)
        shutil.copy2(cached.path, model_dir / "1" / "model.plan")
        logger.info(
            "built %s for TensorRT %s on %s: serve it only with that TensorRT version and GPU",
            model_dir / "1" / "model.plan",
            device.tensorrt_version,
            device.gpu_name,
        )
    else:
        logger.warning(
            "%s has no 1/model.plan yet: run %s on the serving GPU before starting Triton",
            model_dir,
            script_path,
        )


def _shell_word(part: str) -> str:
    """Quote for sh but keep `$HERE` expandable (paths come from this module, not from users)."""
    return f'"{part}"' if "$HERE" in part else shlex.quote(part)


def _write_readme(root: Path, written: list[tuple[str, str, Artifact]], max_batch: int) -> None:
    lines = [
        "# PiN-CLIP Triton model repository",
        "",
        "Written by `pinclip export --format triton`. Start the server with",
        "`tritonserver --model-repository=<this folder>`. Each model takes `pixel_values`",
        f"float32 [N, 3, H, W] (N <= {max_batch}) preprocessed as `pinclip.json` says, and returns",
        "`logits` [N]; p_fake = sigmoid(logit), compared with the threshold in `pinclip.json`.",
        "",
        "| model | Triton backend | artifact | precision |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {target} | {a.name} | {a.precision} |" for name, target, a in written]
    if any(target == "tensorrt" for _, target, _ in written):
        lines += [
            "",
            "The TensorRT plan is specific to a GPU and a TensorRT version: build it on the serving GPU",
            "inside the Triton container with the model's `build_plan.sh` before starting the server.",
        ]
    readme = root / "README.md"
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")
