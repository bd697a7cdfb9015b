"""`pinclip bench`: latency, throughput, per-stage cost and memory of a bundle on this machine.

For each backend x precision x batch size: warm-up, then timed backend inference on a fixed
preprocessed batch (p50/p90/p99 latency, throughput), the per-image cost of decode and
preprocessing, and the process's peak RSS. With a folder of JPEG files it also times the whole
`Detector.predict_paths` pipeline at the same batch size, and reports its throughput as a ratio of
pure inference throughput measured in the same run: the share of preprocessing the pipeline hides.
"""

from __future__ import annotations

import io
import logging
import os
import re
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.backends.base import BACKENDS, backend_class
from pinclip_sdk.backends.select import PRECISIONS
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import ConfigError, InvalidImageError, PinclipError
from pinclip_sdk.imageio import IMAGE_SUFFIXES, is_image_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    """What `run_benchmark` measures.

    Args:
        backends: backend names, or `("auto",)` / `("all",)`.
        precisions: precisions, or `("auto",)`.
        batches: batch sizes.
        images: a folder of images for stage timings and the end-to-end pipeline run.
        warmup: untimed inferences before timing.
        iterations: minimum timed inferences per batch size.
        seconds: keep timing until this much time passed (and `iterations` ran).
        max_images: at most this many images from `images` for the end-to-end run.
        threads: inference threads (None: the engine's default).
        openvino_hint: OpenVINO `PERFORMANCE_HINT` (LATENCY or THROUGHPUT).
        rounds: with `images`, alternate inference-only and pipeline timing this many times.
    """

    backends: tuple[str, ...] = ("auto",)
    precisions: tuple[str, ...] = ("auto",)
    batches: tuple[int, ...] = (1, 8)
    images: Path | None = None
    warmup: int = 3
    iterations: int = 10
    seconds: float = 2.0
    max_images: int = 256
    threads: int | None = None
    openvino_hint: str = "LATENCY"
    rounds: int = 3

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ConfigError(f"bench: rounds must be >= 1, got {self.rounds}")
        if not self.batches or any(b < 1 for b in self.batches):
            raise ConfigError(f"bench: batch sizes must be >= 1, got {self.batches}")
        for precision in self.precisions:
            if precision != "auto" and precision not in PRECISIONS:
                raise ConfigError(
                    f"bench: precision {precision!r} is not one of auto, {', '.join(PRECISIONS)}"
                )


@dataclass
class BenchResult:
    backend: str
    precision: str
    batch: int
    latency_ms: dict[str, float]
    throughput_ips: float
    stages_ms: dict[str, float]
    peak_rss_mb: float
    load_s: float
    reason: str
    end_to_end: dict[str, float] | None = None
    backend_info: dict[str, Any] = field(default_factory=dict)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (since start, or since `reset_peak_rss`)."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+)\s*kB", Path("/proc/self/status").read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0) so each configuration gets its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def percentiles(values_ms: list[float]) -> dict[str, float]:
    data = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": float(np.percentile(data, 50)),
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "runs": len(values_ms),
    }


def list_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files under `folder`, sorted (recursive), at most `limit`."""
    if not folder.is_dir():
        raise ConfigError(f"bench: --images {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if is_image_file(p.name) and p.is_file())
    if not files:
        raise ConfigError(f"bench: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return files[:limit] if limit else files


def _synthetic_jpeg(seed: int = 0, size: tuple[int, int] = (640, 480)) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) + rng.integers(0, 30, (size[1], size[0], 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def stage_costs(detector: Any, samples: list[Any]) -> tuple[dict[str, float], list[np.ndarray]]:
    """Median decode and preprocess milliseconds per image, and the preprocessed pixels."""
    from pinclip_sdk.preprocess import load_image

    decode, preprocess, pixels = [], [], []
    for sample in samples:
        start = time.perf_counter()
        try:
            image = load_image(sample)
        except InvalidImageError as exc:
            logger.warning("bench: skipping %s for stage timings: %s", sample, exc)
            continue
        decoded = time.perf_counter()
        pixels.append(detector.preprocessor.batch([image]))  # [k, 3, H, W]: k tiles, else 1
        decode.append((decoded - start) * 1000.0)
        preprocess.append((time.perf_counter() - decoded) * 1000.0)
    if not pixels:
        raise ConfigError("bench: none of the sample images could be decoded")
    return {"decode": statistics.median(decode), "preprocess": statistics.median(preprocess)}, pixels


def time_inference(
    backend: Any, batch: np.ndarray, cfg: BenchConfig, rows_per_image: int = 1
) -> tuple[list[float], float]:
    """Sequential batch latencies (ms) and throughput (images/s, an image being `rows_per_image`
    rows: the tiles view's k; with as many concurrent calls as the backend has infer requests, so
    OpenVINO THROUGHPUT streams are all used)."""
    images = batch.shape[0] / rows_per_image
    for _ in range(cfg.warmup):
        backend.infer(batch)
    latencies: list[float] = []
    deadline = time.perf_counter() + cfg.seconds
    while len(latencies) < cfg.iterations or time.perf_counter() < deadline:
        start = time.perf_counter()
        backend.infer(batch)
        latencies.append((time.perf_counter() - start) * 1000.0)
    concurrency = max(1, int(getattr(backend, "concurrency", 1)))
    if concurrency == 1:
        return latencies, images * 1000.0 / statistics.mean(latencies)
    calls = max(len(latencies), 2 * concurrency)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: backend.infer(batch), range(calls)))
    return latencies, calls * images / (time.perf_counter() - start)


def time_pipeline(detector: Any, files: list[Path], batch: int) -> dict[str, float]:
    """Images/s of `predict_paths` over `files` (decode + preprocess + inference, overlapped)."""
    start = time.perf_counter()
    errors = sum(1 for p in detector.predict_paths(files, batch_size=batch) if not p.ok)
    elapsed = time.perf_counter() - start
    return {
        "images": len(files),
        "errors": errors,
        "seconds": elapsed,
        "throughput_ips": len(files) / elapsed,
    }


def compare_pipeline(
    detector: Any, batch: np.ndarray, files: list[Path], cfg: BenchConfig
) -> tuple[list[float], float, dict[str, Any]]:
    """Alternate pure inference and `predict_paths` runs `cfg.rounds` times at the same batch size.

    Each round's ratio compares two measurements taken seconds apart, so load from other processes
    on a shared machine affects both alike; the reported ratio is the median over rounds.
    """
    latencies: list[float] = []
    pure: list[float] = []
    runs: list[dict[str, float]] = []
    for round_index in range(cfg.rounds):
        round_cfg = replace(
            cfg, seconds=cfg.seconds / cfg.rounds, warmup=cfg.warmup if round_index == 0 else 0
        )
        round_latencies, rate = time_inference(
            detector.backend, batch, round_cfg, detector.preprocessor.tiles_per_image
        )
        latencies += round_latencies
        pure.append(rate)
        runs.append(time_pipeline(detector, files, batch.shape[0]))
    ratios = [run["throughput_ips"] / rate for run, rate in zip(runs, pure, strict=True)]
    end_to_end = {
        "images": len(files),
        "errors": runs[-1]["errors"],
        "rounds": cfg.rounds,
        "throughput_ips": statistics.median(run["throughput_ips"] for run in runs),
        "ratio_to_inference": statistics.median(ratios),
        "ratios": ratios,
    }
    return latencies, statistics.median(pure), end_to_end


def _combinations(bundle: Bundle, cfg: BenchConfig) -> list[tuple[str, str]]:
    backends = list(cfg.backends)
    if backends == ["all"]:
        backends = [
            name
            for name in BACKENDS
            if any(a.backend == name for a in bundle.artifacts) and _probe(name) is None
        ]
        if not backends:
            raise PinclipError(f"bench: no backend can run {bundle.root} on this machine")
    combos = []
    for backend in backends:
        for precision in cfg.precisions:
            exists = any(a.backend == backend and a.precision == precision for a in bundle.artifacts)
            if precision != "auto" and backend != "auto" and not exists:
                logger.warning("bench: %s has no %s/%s artifact; skipped", bundle.root, backend, precision)
                continue
            combos.append((backend, precision))
    return combos


def _probe(name: str) -> str | None:
    try:
        return backend_class(name).probe()
    except PinclipError as exc:
        return str(exc)


def run_benchmark(bundle_path: str | os.PathLike, cfg: BenchConfig) -> dict[str, Any]:
    """Measure every configuration in `cfg`; returns the report `pinclip bench --json` prints."""
    from pinclip_sdk.detector import Detector
    from pinclip_sdk.machine import describe_machine

    bundle = Bundle.load(bundle_path)
    files = list_images(cfg.images, cfg.max_images) if cfg.images else []
    samples: list[Any] = files[:24] or [_synthetic_jpeg(i) for i in range(4)]
    results = []
    # The process's own peak (VmHWM per configuration, kept as a running max). Not ru_maxrss: Linux carries
    # it over fork + exec, so a child of a big parent (a benchmark script that built the bundle with
    # torch) would report the parent's 2.4 GB instead of its own ~0.4 GB.
    process_peak = peak_rss_mb()
    for backend, precision in _combinations(bundle, cfg):
        process_peak = max(process_peak, peak_rss_mb())
        reset_peak_rss()
        start = time.perf_counter()
        options = {"openvino": {"performance_hint": cfg.openvino_hint}}
        with Detector(bundle, backend, cfg.threads, precision, backend_options=options) as detector:
            load_s = time.perf_counter() - start
            stages, pixels = stage_costs(detector, samples)
            for batch_size in cfg.batches:
                results.append(_bench_batch(detector, pixels, files, batch_size, stages, load_s, cfg))
    return {
        "model": {
            "model_id": bundle.manifest.model_id,
            "bundle": str(bundle.root),
            "backbone": bundle.manifest.backbone,
        },
        "machine": describe_machine(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "results": [asdict(r) for r in results],
        "peak_rss_mb": peak_rss_mb(),
        "process_peak_rss_mb": max(process_peak, peak_rss_mb()),
    }


def _bench_batch(
    detector: Any,
    pixels: list[np.ndarray],
    files: list[Path],
    batch_size: int,
    stages: dict[str, float],
    load_s: float,
    cfg: BenchConfig,
) -> BenchResult:
    batch = np.concatenate([pixels[i % len(pixels)] for i in range(batch_size)])
    backend = detector.backend
    end_to_end = None
    if files:
        latencies, throughput, end_to_end = compare_pipeline(detector, batch, files, cfg)
    else:
        latencies, throughput = time_inference(backend, batch, cfg, detector.preprocessor.tiles_per_image)
    stage_ms = dict(stages, inference=statistics.median(latencies) / batch_size)
    return BenchResult(
        backend=detector.choice.backend,
        precision=detector.choice.precision,
        batch=batch_size,
        latency_ms=percentiles(latencies),
        throughput_ips=throughput,
        stages_ms=stage_ms,
        peak_rss_mb=peak_rss_mb(),
        load_s=load_s,
        reason=detector.choice.reason,
        end_to_end=end_to_end,
        backend_info=backend.info(),
    )
