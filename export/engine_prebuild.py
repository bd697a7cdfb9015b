"""Pre-build a bundle's TensorRT engines on the target GPU, and the equivalent `trtexec` commands.

The bundle ships TensorRT-ready ONNX (strongly typed FP16, Q/DQ INT8); engines are built on the
device that runs them (docs/references.md#tensorrt-engines). The runtime builds on first use; this module
does it ahead of time (at install or first boot of an appliance) into the same engine cache, so
the first `Detector` starts in seconds. Each result carries the `trtexec` command lines that build
and benchmark the same strongly typed ONNX with the same profile, for comparison.

Run as `python -m pinclip_sdk.export.engine_prebuild model.pinclip --precisions fp16,int8`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinclip_sdk.bundle import Bundle
from pinclip_sdk.engine_cache import (
    DEFAULT_WORKSPACE_BYTES,
    TENSORRT_PRECISIONS,
    BatchProfile,
    EngineCache,
    prepare_engine,
)
from pinclip_sdk.errors import BundleError, ConfigError, PinclipError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineBuildResult:
    """One engine in the cache: where it is, whether this call built it, and how to reproduce it."""

    precision: str
    artifact: str
    engine_path: Path
    built: bool
    build_seconds: float | None
    device: dict[str, Any]
    trtexec_build: str
    trtexec_benchmark: str
    trtexec_engine_benchmark: str


def build_engines(
    bundle_path: str | os.PathLike[str],
    precisions: tuple[str, ...] | list[str] = ("fp16", "int8"),
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 8,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    device_index: int = 0,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
) -> list[EngineBuildResult]:
    """Build (or find) the engine of every requested precision for this GPU.

    Args:
        bundle_path: a `*.pinclip` bundle with `tensorrt-fp16` / `tensorrt-int8` artifacts.
        precisions: which artifacts to build; every one must exist in the bundle.
        min_batch: smallest batch of the optimisation profile.
        opt_batch: batch the kernels are tuned for.
        max_batch: largest batch of the profile.
        cache_dir: engine cache (default `$PINCLIP_ENGINE_CACHE`, else `engines/` in the runtime's
            cache root), the same one the runtime reads.
        device_index: CUDA device to build for.
        workspace_bytes: builder workspace limit.

    Returns:
        One `EngineBuildResult` per precision, in the order asked.

    Raises:
        BundleError: a requested precision has no artifact (checked before any build).
        BackendUnavailableError: no TensorRT, cuda-python or CUDA device here.
        ConfigError: an unknown precision or an invalid batch profile.
        ExportError: TensorRT cannot parse or build the ONNX.

    Example:
        >>> results = build_engines("model.pinclip", precisions=("fp16",))  # doctest: +SKIP
        >>> print(results[0].trtexec_benchmark)  # doctest: +SKIP
        trtexec --onnx=model.pinclip/tensorrt/detector.fp16.onnx --stronglyTyped ...
    """
    bundle = Bundle.load(bundle_path)
    profile = BatchProfile(min_batch, opt_batch, max_batch)
    wanted = list(dict.fromkeys(precisions))
    unknown = [p for p in wanted if p not in TENSORRT_PRECISIONS]
    if unknown:
        raise ConfigError(
            f"TensorRT precisions {unknown} are not supported; choose from {', '.join(TENSORRT_PRECISIONS)}"
        )
    have = sorted(a.precision for a in bundle.artifacts if a.backend == "tensorrt")
    missing = [p for p in wanted if p not in have]
    if missing:
        raise BundleError(
            f"{bundle.root}: no tensorrt artifact for {', '.join(missing)} (the bundle has "
            f"{', '.join(have) or 'none'}); re-export with --targets tensorrt"
        )
    results = []
    for precision in wanted:
        cached, device = prepare_engine(
            bundle,
            precision,
            profile=profile,
            cache_dir=cache_dir,
            device_index=device_index,
            workspace_bytes=workspace_bytes,
        )
        results.append(_result(bundle, precision, cached, device, profile, cache_dir, workspace_bytes))
        logger.info("%s engine %s: %s", precision, "built" if cached.built else "cached", cached.path)
    return results


def _result(
    bundle: Bundle,
    precision: str,
    cached: Any,
    device: Any,
    profile: BatchProfile,
    cache_dir: str | os.PathLike[str] | None,
    workspace_bytes: int,
) -> EngineBuildResult:
    artifact = bundle.find("tensorrt", precision)
    onnx_path = bundle.root / artifact.main_file
    request = cached.metadata["request"]
    name, shape = request["input_name"], tuple(request["input_shape"])
    build = trtexec_build_command(
        onnx_path,
        name,
        shape,
        profile,
        workspace_bytes=workspace_bytes,
        timing_cache=EngineCache(cache_dir).timing_cache_path(device),
        engine_path=Path(f"{artifact.name}.trtexec.plan"),
    )
    return EngineBuildResult(
        precision=precision,
        artifact=artifact.name,
        engine_path=cached.path,
        built=cached.built,
        build_seconds=cached.metadata.get("build_seconds"),
        device=dict(cached.metadata["device"]),
        trtexec_build=shlex.join(build),
        trtexec_benchmark=shlex.join(trtexec_benchmark_command(onnx_path, name, shape, profile.opt_batch)),
        trtexec_engine_benchmark=shlex.join(
            trtexec_benchmark_command(onnx_path, name, shape, profile.opt_batch, engine_path=cached.path)
        ),
    )


def _shape_arg(input_name: str, batch: int, input_shape: tuple[int, ...]) -> str:
    return f"{input_name}:{'x'.join(str(d) for d in (batch, *input_shape))}"


def trtexec_build_command(
    onnx_path: str | os.PathLike[str],
    input_name: str,
    input_shape: tuple[int, ...],
    profile: BatchProfile,
    *,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    timing_cache: str | os.PathLike[str] | None = None,
    engine_path: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The trtexec command that builds the engine the SDK builds: strongly typed, same profile.

    No precision flag is passed: `--fp16/--int8` are weak typing, removed in TensorRT 11; the
    precision is in the ONNX. `--stronglyTyped` is required on 10.x and a no-op on 11.x.
    """
    command = [
        "trtexec",
        f"--onnx={onnx_path}",
        "--stronglyTyped",
        f"--minShapes={_shape_arg(input_name, profile.min_batch, input_shape)}",
        f"--optShapes={_shape_arg(input_name, profile.opt_batch, input_shape)}",
        f"--maxShapes={_shape_arg(input_name, profile.max_batch, input_shape)}",
        f"--memPoolSize=workspace:{max(workspace_bytes >> 20, 1)}M",
    ]
    if timing_cache is not None:
        command.append(f"--timingCacheFile={timing_cache}")
    if engine_path is not None:
        command.append(f"--saveEngine={engine_path}")
    return command


def trtexec_benchmark_command(
    onnx_path: str | os.PathLike[str],
    input_name: str,
    input_shape: tuple[int, ...],
    batch: int = 1,
    *,
    engine_path: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The trtexec latency benchmark for one batch size (GPU compute time, no host copies).

    With `engine_path` it times an existing plan (for example the SDK's cached engine) instead of
    building from the ONNX. The flags follow docs/references.md#benchmarking-with-trtexec.
    """
    source = (
        [f"--loadEngine={engine_path}"]
        if engine_path is not None
        else [f"--onnx={onnx_path}", "--stronglyTyped"]
    )
    return [
        "trtexec",
        *source,
        f"--shapes={_shape_arg(input_name, batch, input_shape)}",
        "--useCudaGraph",
        "--noDataTransfers",
        "--useSpinWait",
        "--warmUp=500",
        "--duration=10",
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: build the bundle's engines here and print where they are and the trtexec lines."""
    parser = argparse.ArgumentParser(
        prog="python -m pinclip_sdk.export.engine_prebuild", description=main.__doc__.split(":")[0] + "."
    )
    parser.add_argument("bundle", help="a *.pinclip bundle with tensorrt-fp16 / tensorrt-int8 artifacts")
    parser.add_argument("--precisions", default="fp16,int8", help="comma-separated (default fp16,int8)")
    parser.add_argument("--min-batch", type=int, default=1)
    parser.add_argument("--opt-batch", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="engine cache (default $PINCLIP_ENGINE_CACHE, else engines/ in the runtime cache)",
    )
    parser.add_argument("--device-index", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        results = build_engines(
            args.bundle,
            tuple(p.strip() for p in args.precisions.split(",") if p.strip()),
            args.min_batch,
            args.opt_batch,
            args.max_batch,
            args.cache_dir,
            device_index=args.device_index,
        )
    except PinclipError as exc:
        print(f"pinclip: error: {exc}", file=sys.stderr)
        return 1
    for result in results:
        how = f"built in {result.build_seconds:.1f} s" if result.built else "already cached"
        print(f"{result.precision}: {result.engine_path} ({how} on {result.device['gpu_name']})")
        print(f"  compare build:     {result.trtexec_build}")
        print(f"  compare latency:   {result.trtexec_benchmark}")
        print(f"  time this engine:  {result.trtexec_engine_benchmark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
