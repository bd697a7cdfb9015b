"""Runtime acceptance figures on a ViT-B/16 INT8 bundle: pipeline overlap, peak RSS, folder throughput.

Measures, each in a fresh process (so peak RSS is the runtime's own):
1. `pinclip bench --images` per CPU backend at INT8: pure backend inference throughput vs end-to-end
   `predict_paths` throughput on JPEG files at the same batch size (the ratio is measured in the
   same run, so it holds on a busy machine) and peak RSS (acceptance: ratio >= 0.85, RSS <= 700 MB).
2. optionally `pinclip detect` on a folder of N JPEG files writing JSONL (wall time, summary).

Without `--bundle` it builds a ViT-B/16 bundle with random weights: open_clip's `ViT-B-16` visual
tower + a linear head -> FP32 ONNX -> onnxruntime INT8 (dynamic, the ORT docs' choice for
transformers) and OpenVINO INT8 (NNCF, TRANSFORMER mode), cached under `--work`. Needs the `train`
extra to build; running a ready bundle needs only the runtime.

Usage:
    .venv/bin/python benchmarks/runtime.py --work /tmp/pinclip-bench [--bundle B] [--detect 1000]
    .venv/bin/python benchmarks/runtime.py --sdk-artifacts /tmp/vitb16  # after inference.py --cache it
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ACCEPT_RATIO = 0.85
ACCEPT_RSS_MB = 700.0


def _int8_calibration_pixels(spec, count: int) -> np.ndarray:
    try:
        from pinclip_sdk.preprocess import Preprocessor
    except ImportError:  # the core is not built: an approximation is good enough for INT8 ranges
        return np.stack([_approximate_preprocess(_photo(i, (320, 240)), spec) for i in range(count)])
    preprocessor = Preprocessor(spec)
    return np.stack([preprocessor(_photo(i, (320, 240))) for i in range(count)])


def _approximate_preprocess(image: Image.Image, spec) -> np.ndarray:
    pixels = np.asarray(image.resize(spec.size[::-1], Image.BICUBIC), np.float32) / 255.0
    return ((pixels - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)).transpose(2, 0, 1)


def _photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A synthetic photo-like image: smooth gradients, shapes and sensor noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    channels = [
        128 + 100 * np.sin(xx / rng.uniform(20, 90) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(20, 90))
        for _ in range(3)
    ]
    pixels = np.stack(channels, -1) + rng.normal(0, 6, (h, w, 3))
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, min(w, h) / 2)
    pixels[(xx - cx) ** 2 + (yy - cy) ** 2 < r**2] *= rng.uniform(0.3, 0.9, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def export_vitb16_onnx(path: Path, size: tuple[int, int]) -> None:
    """FP32 ONNX of open_clip's ViT-B-16 visual tower (random init) + a linear head: `[N,3,H,W] -> [N]`."""
    import open_clip
    import torch

    torch.manual_seed(0)
    visual = open_clip.create_model("ViT-B-16", pretrained=None).visual.eval()
    head = torch.nn.Linear(visual.output_dim, 1)

    class Detector(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual, self.head = visual, head

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.head(self.visual(pixel_values)).squeeze(-1)

    torch.backends.mha.set_fastpath_enabled(False)  # fastpath will not export: docs/references.md#onnx-export
    with torch.no_grad():
        torch.onnx.export(
            Detector().eval(),
            torch.zeros(1, 3, *size),
            str(path),
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def build_vitb16_bundle(root: Path, int8_calibration_images: int = 32) -> Path:
    """A ViT-B/16 (random init) + linear head bundle with onnxruntime and OpenVINO INT8 artifacts."""
    import nncf
    import openvino as ov
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pinclip_sdk.bundle import BundleWriter
    from pinclip_sdk.spec import PreprocessSpec

    spec = PreprocessSpec.from_open_clip("ViT-B-16")
    scratch = root.with_name(root.name + ".build")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    fp32 = scratch / "detector-fp32.onnx"
    export_vitb16_onnx(fp32, spec.size)
    writer = BundleWriter(root, overwrite=True)
    (root / "onnxruntime-int8").mkdir()
    ort_int8 = root / "onnxruntime-int8" / "detector.onnx"
    quantize_dynamic(str(fp32), str(ort_int8), weight_type=QuantType.QInt8, per_channel=True)
    writer.add_artifact("onnxruntime-int8", "onnxruntime", "int8", [ort_int8])
    pixels = _int8_calibration_pixels(spec, int8_calibration_images)
    ov_int8 = nncf.quantize(
        ov.convert_model(str(fp32)),
        nncf.Dataset([pixels[i : i + 1] for i in range(len(pixels))]),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(pixels),
    )
    (root / "openvino-int8").mkdir()
    ov.save_model(ov_int8, str(root / "openvino-int8" / "detector.xml"))
    ov_files = [root / "openvino-int8" / "detector.xml", root / "openvino-int8" / "detector.bin"]
    writer.add_artifact("openvino-int8", "openvino", "int8", ov_files)
    writer.finish(
        model_id="vit-b-16-random-int8",
        backbone={"name": "ViT-B-16", "pretrained": None, "note": "random weights, for benchmarks"},
        preprocess=spec,
        provenance={"built_by": "benchmarks/runtime.py"},
    )
    shutil.rmtree(scratch)
    return root


def bundle_from_sdk_artifacts(root: Path, artifacts: Path) -> Path:
    """A bundle of the INT8 artifacts `benchmarks/inference.py --cache DIR` exported through the SDK's own
    export path (onnxruntime static Q/DQ, OpenVINO NNCF with the Conv kept float), ViT-B/16 random weights."""
    from pinclip_sdk.bundle import BundleWriter
    from pinclip_sdk.spec import PreprocessSpec

    sources = {
        ("onnxruntime-int8", "onnxruntime"): ["detector.int8.onnx"],
        ("openvino-int8", "openvino"): ["detector.int8.xml", "detector.int8.bin"],
    }
    missing = [f for files in sources.values() for f in files if not (artifacts / f).is_file()]
    if missing:
        raise SystemExit(f"{artifacts}: missing {missing}; run benchmarks/inference.py --cache {artifacts}")
    writer = BundleWriter(root, overwrite=True)
    for (name, backend), files in sources.items():
        (root / name).mkdir()
        for file in files:
            shutil.copy2(artifacts / file, root / name / file)
        writer.add_artifact(name, backend, "int8", [root / name / f for f in files])
    writer.finish(
        model_id="vit-b-16-random-sdk-int8",
        backbone={"name": "ViT-B-16", "pretrained": None, "note": "random weights, for benchmarks"},
        preprocess=PreprocessSpec.from_open_clip("ViT-B-16"),
        provenance={"built_by": f"benchmarks/runtime.py --sdk-artifacts {artifacts}"},
    )
    return root


def write_jpegs(folder: Path, count: int, size: tuple[int, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.jpg"))
    if len(existing) != count:
        for path in existing:
            path.unlink()
        for i in range(count):
            _photo(i, size).save(folder / f"photo{i:05d}.jpg", quality=90)
    return folder


def _sdk_cli(*args: object) -> list[str]:
    """`python -m pinclip_sdk.cli ARGS` (paths made absolute: it runs outside the source tree)."""
    return [sys.executable, "-m", "pinclip_sdk.cli"] + [
        str(a.resolve()) if isinstance(a, Path) else str(a) for a in args
    ]


def _run_installed(command: list[str]) -> subprocess.CompletedProcess:
    """Run from a neutral folder, so `-m` imports the installed SDK, not the repository's source folder
    (which has no compiled core)."""
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())


def run_bench(bundle: Path, backend: str, images: Path, batch: int, seconds: float) -> dict:
    command = _sdk_cli(
        "bench",
        "--model",
        bundle,
        "--backend",
        backend,
        "--precision",
        "int8",
        "--batch",
        batch,
        "--images",
        images,
        "--json",
        "--seconds",
        seconds,
        "--openvino-hint",
        "THROUGHPUT",
    )
    result = _run_installed(command)
    if result.returncode != 0:
        raise SystemExit(f"bench {backend} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def run_detect(bundle: Path, images: Path, output: Path) -> tuple[float, str, int]:
    command = _sdk_cli("detect", images, "--model", bundle, "--format", "jsonl", "--output", output)
    command += ["--no-progress"]
    start = time.perf_counter()
    result = _run_installed(command)
    elapsed = time.perf_counter() - start
    summary = [line for line in result.stderr.splitlines() if line.startswith("pinclip detect:")]
    return elapsed, (summary[-1] if summary else result.stderr[-2000:]), result.returncode


def print_result(backend: str, report: dict) -> bool:
    """Print one backend's figures; True when it meets the acceptance bounds."""
    result = report["results"][0]
    e2e, stages, latency = result["end_to_end"], result["stages_ms"], result["latency_ms"]
    rss = report["process_peak_rss_mb"]
    line = f"{backend:<12} {result['batch']:>5} {result['throughput_ips']:>16.2f}"
    print(f"{line} {e2e['throughput_ips']:>15.2f} {e2e['ratio_to_inference']:>6.2f} {rss:>12.0f}")
    print(
        f"{'':<12} per image: decode {stages['decode']:.1f} ms, preprocess {stages['preprocess']:.1f} ms,"
        f" inference {stages['inference']:.1f} ms; batch latency p50/p90/p99"
        f" {latency['p50']:.0f}/{latency['p90']:.0f}/{latency['p99']:.0f} ms"
    )
    return e2e["ratio_to_inference"] >= ACCEPT_RATIO and rss <= ACCEPT_RSS_MB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pinclip-bench"))
    parser.add_argument("--bundle", type=Path, default=None, help="use this bundle instead of building one")
    parser.add_argument("--images", type=int, default=64, help="JPEG files for the pipeline ratio")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--backends", default="onnxruntime,openvino")
    parser.add_argument("--detect", type=int, default=0, help="also run `pinclip detect` on this many JPEGs")
    parser.add_argument("--build-only", action="store_true", help="only build the bundle")
    parser.add_argument(
        "--sdk-artifacts",
        type=Path,
        default=None,
        help="bundle the INT8 files that `benchmarks/inference.py --cache DIR` exported with the SDK's path",
    )
    args = parser.parse_args()
    bundle = args.bundle
    if bundle is None and args.sdk_artifacts is not None:
        bundle = bundle_from_sdk_artifacts(args.work / "vit-b-16-sdk.pinclip", args.sdk_artifacts)
    if bundle is None:
        bundle = args.work / "vit-b-16-random.pinclip"
        if not (bundle / "manifest.json").is_file():
            start = time.perf_counter()
            build_vitb16_bundle(bundle)
            print(f"built {bundle} in {time.perf_counter() - start:.0f}s")
    if args.build_only:
        return 0
    jpegs = write_jpegs(args.work / f"jpeg-{args.images}", args.images, (640, 480))
    header = f"{'backend':<12} {'batch':>5} {'inference img/s':>16} {'pipeline img/s':>15}"
    print(f"{header} {'ratio':>6} {'peak RSS MB':>12}")
    verdicts = []
    for backend in args.backends.split(","):
        report = run_bench(bundle, backend, jpegs, args.batch, args.seconds)
        verdicts.append(print_result(backend, report))
    if args.detect:
        folder = write_jpegs(args.work / f"detect-{args.detect}", args.detect, (320, 240))
        elapsed, summary, code = run_detect(bundle, folder, args.work / "detect.jsonl")
        print(f"pinclip detect on {args.detect} JPEGs: {elapsed:.1f}s wall (exit {code})\n  {summary}")
    print(f"acceptance (ratio >= {ACCEPT_RATIO}, peak RSS <= {ACCEPT_RSS_MB:.0f} MB): {all(verdicts)}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
