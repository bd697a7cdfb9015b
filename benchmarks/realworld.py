"""Real-world inputs: decode, preprocessing and inference cost per file kind x view x decode mode, and
end-to-end `predict_paths` throughput on 12 MP phone JPEGs against inference only.

A corpus is generated once under `--work` (cached): 4032x3024 JPEG q90 4:2:0 photos (smooth gradients,
texture, sensor noise; 8 of them, so a batch of 8 is real), 1920x1080 PNG screenshots (flat UI panels
and text), 3840x2160 WebP q90 photos and 2000x1500 16-bit RGB TIFFs (tifffile writes them; Pillow reads
them as 8-bit `RGB`, keeping each sample's high byte; without tifffile, 16-bit gray `I;16`, which
Pillow's `convert("RGB")` clips at 255). Measured on the same machine, in the same run:

1. per file kind x view (resize, crop, tiles 2x2, patches) x decode mode, medians over `--repeats`:
   decode ms (file to pixels), preprocess ms (pixels to the model's tensor, C++ core), inference ms per
   image (ViT-B/16 INT8 OpenVINO, batch 8; a tiles image is 4 model inputs). Decode modes: `full`
   (Pillow decodes every pixel: what `Detector` does today), `draft` (resize view, JPEG: the opt-in
   DCT-scaled decode of `Preprocessor(spec, draft=True)`), `region` (crop and tiles views, JPEG: only
   the boxes the view reads, `Preprocessor(spec, region_decode=True)`, when the core was built with
   libjpeg-turbo);
2. end to end: `Detector.predict_paths` images/s on the 4032x3024 JPEGs for each view against
   inference only (the same `run_batches` scheduling, batch size and infer requests in flight, fed
   pre-made rows instead of decoding and preprocessing), alternated `--rounds` times; the ratio is
   the median of the rounds' ratios. The decode mode the Detector really used is read off its
   preprocessor's decode of one probe image, not assumed. Acceptance: the `crop` view reaches
   >= 0.90 of inference only.

The view bundles share the weights of the resize bundle: each is a folder of hard links (copies where
links fail) to the resize bundle's artifacts, whose manifest differs only in `preprocess` (the view
fields) and `output.semantics`. The manifest carries no hash of itself; the artifacts' sha256 entries
stay those of the unchanged files and are verified on load as for any bundle.

Without `--bundle` it uses (and builds once, under `--work`) the ViT-B/16 random-weight INT8 bundle of
`benchmarks/runtime.py` (needs the `train` extra to build). `--quick` is a smoke run: small images,
one repeat, one round.

Usage:
    .venv/bin/python benchmarks/realworld.py --work /tmp/pinclip-bench [--bundle B] [--json] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video import default_bundle, timed  # noqa: E402  (one bundle and one timer for the benchmarks)

ACCEPT_RATIO = 0.90
ACCEPT_VIEW = "crop"
VIEWS = ("resize", "crop", "tiles", "patches")
# kind -> (suffix, full-size (w, h), quick (w, h), files)
KINDS: dict[str, tuple[str, tuple[int, int], tuple[int, int], int]] = {
    "jpeg": (".jpg", (4032, 3024), (1008, 756), 8),
    "png": (".png", (1920, 1080), (480, 270), 4),
    "webp": (".webp", (3840, 2160), (960, 540), 4),
    "tiff16": (".tif", (2000, 1500), (500, 375), 4),
}
CORPUS_VERSION = 1


# ---- corpus ------------------------------------------------------------------------------------------
def photo(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A photo-like float32 HxWx3 image in 0..255: smooth gradients, a lit disc, mid-frequency texture
    and per-pixel sensor noise (so it compresses like a photo, not like a synthetic card)."""
    rng = np.random.default_rng(seed)
    w, h = size
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    scale = max(w, h) / 640.0
    channels = []
    for _ in range(3):
        gx = np.sin(x / (rng.uniform(60, 240) * scale) + rng.uniform(0, 6))
        gy = np.cos(y / (rng.uniform(60, 240) * scale) + rng.uniform(0, 6))
        channels.append(128 + 90 * gx * gy + 20 * y / h)
    pixels = np.stack(np.broadcast_arrays(*channels), -1).astype(np.float32)
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.35) * min(w, h)
    disc = (x - cx) ** 2 + (y - cy) ** 2 < r**2
    pixels[disc] *= rng.uniform(0.4, 0.9, 3).astype(np.float32)
    # texture: coarse noise upsampled (foliage / fabric-like), then sensor noise at full resolution
    coarse = rng.normal(0, 1, (max(2, h // 6), max(2, w // 6))).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.BICUBIC))
    pixels += 14 * texture[..., None]
    pixels += rng.standard_normal((h, w, 3), dtype=np.float32) * 4
    return np.clip(pixels, 0, 255)


def screenshot(seed: int, size: tuple[int, int]) -> Image.Image:
    """A UI screenshot: flat panels, a title bar, a sidebar, buttons and lines of text."""
    rng = np.random.default_rng(seed)
    w, h = size
    image = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    bar = max(8, h // 30)
    draw.rectangle((0, 0, w, bar), fill=(40, 44, 52))
    side = w // 6
    draw.rectangle((0, bar, side, h), fill=(232, 234, 238))
    try:
        font = ImageFont.load_default(size=max(6, h // 80))
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    letters = "abcdefghijklmnopqrstuvwxyz      ABCDEFGHIJ0123456789.,:"
    line = max(8, h // 55)
    for _ in range(6):  # panels
        x0, y0 = int(rng.uniform(side + 10, w * 0.7)), int(rng.uniform(bar + 10, h * 0.7))
        x1, y1 = min(w - 10, x0 + int(rng.uniform(w * 0.15, w * 0.35))), min(h - 10, y0 + int(h * 0.25))
        draw.rectangle((x0, y0, x1, y1), fill=(255, 255, 255), outline=(210, 212, 218))
        draw.rectangle((x0 + 8, y1 - 2 * line, x0 + 8 + 6 * line, y1 - 6), fill=(26, 115, 232))
        for yy in range(y0 + 6, y1 - 3 * line, line):
            text = "".join(rng.choice(list(letters), int(rng.uniform(10, 60))))
            draw.text((x0 + 8, yy), text, fill=(32, 33, 36), font=font)
    for yy in range(bar + 10, h - line, line + 4):  # sidebar menu
        draw.text((10, yy), "".join(rng.choice(list(letters[:26]), 12)), fill=(60, 64, 67), font=font)
    return image


def write_corpus(folder: Path, quick: bool) -> dict[str, list[Path]]:
    """Generate (or reuse) the corpus; returns kind -> files."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / "corpus.json"
    try:
        import tifffile
    except ImportError:
        tifffile = None
    tiff_layout = "RGB uint16" if tifffile is not None else "I;16"
    want = {"version": CORPUS_VERSION, "quick": quick, "tiff": tiff_layout}
    files = {
        kind: [folder / f"{kind}{i:02d}{suffix}" for i in range(count)]
        for kind, (suffix, _, _, count) in KINDS.items()
    }
    if (
        stamp.is_file()
        and json.loads(stamp.read_text()) == want
        and all(p.is_file() for paths in files.values() for p in paths)
    ):
        return files
    start = time.perf_counter()
    for kind, (_, full, small, _) in KINDS.items():
        size = small if quick else full
        for i, path in enumerate(files[kind]):
            seed = 1000 * len(kind) + i
            if kind == "jpeg":
                rgb = Image.fromarray(photo(seed, size).astype(np.uint8))
                rgb.save(path, quality=90, subsampling="4:2:0")
            elif kind == "png":
                screenshot(seed, size).save(path)
            elif kind == "webp":
                Image.fromarray(photo(seed, size).astype(np.uint8)).save(path, quality=90, method=4)
            elif tifffile is not None:
                deep = (photo(seed, size) * 257.0).astype(np.uint16)
                tifffile.imwrite(path, deep, photometric="rgb", compression="zlib")
            else:
                gray = (photo(seed, size).mean(-1) * 257.0).astype(np.uint16)
                Image.fromarray(gray).save(path, compression="tiff_deflate")
    stamp.write_text(json.dumps(want))
    print(f"wrote the corpus in {folder} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return files


def describe_kind(paths: list[Path]) -> dict[str, Any]:
    with Image.open(paths[0]) as im:
        info = {
            "files": len(paths),
            "size": f"{im.width}x{im.height}",
            "format": im.format,
            "pil_mode": im.mode,
        }
        if im.format == "TIFF":
            bits = im.tag_v2.get(258)
            info["bits_per_sample"] = list(bits) if isinstance(bits, tuple) else bits
    info["mean_kb"] = round(sum(p.stat().st_size for p in paths) / len(paths) / 1024)
    return info


# ---- bundles -----------------------------------------------------------------------------------------
def view_spec(base: Any, view: str) -> Any:
    if view == "resize":
        return base
    if view == "tiles":
        return dataclasses.replace(base, view="tiles", tile_grid=(2, 2), tile_reduce="mean")
    if view == "patches":
        return dataclasses.replace(base, view="patches", patch_size=32)
    return dataclasses.replace(base, view=view)


def view_bundle(base_root: Path, view: str) -> Path:
    """A bundle with the base bundle's artifacts (hard links) and the `view` preprocessing; cached."""
    from pinclip_sdk.bundle import Bundle, output_semantics, validate_manifest, write_manifest
    from pinclip_sdk.errors import BackendUnavailableError, BundleError

    base = Bundle.load(base_root)
    spec = view_spec(base.manifest.preprocess, view)
    if view == "resize":
        return base_root
    root = base_root.with_name(f"{base_root.stem}-{view}.pinclip")
    with contextlib.suppress(BundleError, OSError):
        ready = Bundle.load(root).manifest
        if ready.preprocess == spec and ready.artifacts == base.manifest.artifacts:
            return root
    shutil.rmtree(root, ignore_errors=True)
    for artifact in base.manifest.artifacts:
        for entry in artifact.files:
            target = root / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(base_root / entry.path, target)
            except OSError:
                shutil.copy2(base_root / entry.path, target)
    manifest = dataclasses.replace(
        base.manifest,
        preprocess=spec,
        output={**base.manifest.output, "semantics": output_semantics(spec)},
        provenance={
            **base.manifest.provenance,
            "view_of": str(base_root),
            "built_by": "benchmarks/realworld.py",
        },
    )
    with contextlib.suppress(BackendUnavailableError):  # jsonschema is a dev tool
        validate_manifest(json.loads(json.dumps(manifest.to_dict())), source=str(root / "manifest.json"))
    write_manifest(root, manifest)
    Bundle.load(root)  # the runtime's own checks
    return root


# ---- decode modes --------------------------------------------------------------------------------------
def decode_mode(preprocessor: Any, probe: Path) -> str:
    """How `preprocessor` decodes `probe`: `region` (only the view's crops), `draft` or `full`."""
    from pinclip_sdk.preprocess import RegionCrops

    if isinstance(preprocessor.decode(probe), RegionCrops):
        return "region"
    return "draft" if preprocessor.draft else "full"


# ---- timing --------------------------------------------------------------------------------------------
def cycling(paths: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def next_item() -> Any:
        state["i"] += 1
        return paths[state["i"] % len(paths)]

    return next_item


def stage_rows(kind: str, paths: list[Path], view: str, spec: Any, repeats: int) -> list[dict[str, Any]]:
    """Decode and preprocess ms per image of one file kind in one view, one row per decode mode."""
    from pinclip_sdk.jpeg_region import region_decode_available
    from pinclip_sdk.preprocess import Preprocessor

    preprocessors = {"full": Preprocessor(spec, region_decode=False)}
    if kind == "jpeg" and view == "resize":
        preprocessors["draft"] = Preprocessor(spec, draft=True)
    if kind == "jpeg" and view in ("crop", "tiles") and region_decode_available():
        preprocessors["region"] = Preprocessor(spec, region_decode=True)
    rows = []
    for mode, pre in preprocessors.items():
        decoded = [pre.decode(p) for p in paths[: min(3, len(paths))]]
        next_path, next_decoded = cycling(paths), cycling(decoded)
        row = {
            "decode": mode,
            "decode_ms": 1000 * timed(lambda pre=pre, nxt=next_path: pre.decode(nxt()), repeats),
            "preprocess_ms": 1000 * timed(lambda pre=pre, nxt=next_decoded: pre.batch([nxt()]), repeats),
        }
        if mode == "draft":
            row["decoded_size"] = f"{decoded[0].width}x{decoded[0].height}"
        rows.append(row)
    return rows


def inference_ips(detector: Any, batch: np.ndarray, images: int) -> float:
    """Images/s of `images` ready images through the scheduling `predict_paths` uses (the same
    `run_batches`, batch arrays, preprocessing workers and infer requests in flight), with decode and
    preprocessing replaced by copying pre-made rows: inference only, scheduled as in production."""
    from pinclip_sdk.batching import Prepared, run_batches

    rows = detector.preprocessor.tiles_per_image
    per_image = [batch[i * rows : (i + 1) * rows] for i in range(batch.shape[0] // rows)]

    def prepare(index: int, slot: np.ndarray) -> Prepared:
        np.copyto(slot, per_image[index % len(per_image)])
        return Prepared(str(index), pixels=slot)

    start = time.perf_counter()
    results = run_batches(
        range(images),
        prepare,
        detector.infer_batch,
        detector.new_batch,
        batch_size=len(per_image),
        workers=detector.preprocess_workers,
        inflight=max(1, int(getattr(detector.backend, "concurrency", 1))),
    )
    done = sum(1 for _, logit, _, error in results if error is None and logit is not None)
    return done / (time.perf_counter() - start)


def measure_view(
    bundle: Path, view: str, jpegs: list[Path], args: argparse.Namespace
) -> tuple[dict[str, Any], Any]:
    """Inference-only and `predict_paths` throughput of one view's bundle on the JPEGs."""
    from pinclip_sdk import Detector

    options = {"openvino": {"performance_hint": args.openvino_hint}}
    detector = Detector(bundle, args.backend, precision=args.precision, backend_options=options)
    with detector:
        batch = detector.new_batch(args.batch)
        detector.preprocessor.batch([jpegs[i % len(jpegs)] for i in range(args.batch)], out=batch)
        logits = detector.infer_batch(batch)  # warm-up
        probe = detector.predict_batch([jpegs[0]], batch_size=1)[0]
        items = [jpegs[i % len(jpegs)] for i in range(args.e2e_images)]
        inference_ips(detector, batch, 2 * args.batch)  # warm-up: every infer request ran once
        pure, e2e, ratios, errors, first_error = [], [], [], 0, probe.error
        for _ in range(args.rounds):
            pure.append(inference_ips(detector, batch, len(items)))
            start = time.perf_counter()
            results = list(detector.predict_paths(items, batch_size=args.batch))
            elapsed = time.perf_counter() - start
            failed = [r for r in results if not r.ok]
            errors = len(failed)
            first_error = first_error or (failed[0].error if failed else None)
            e2e.append((len(items) - errors) / elapsed)
            ratios.append(e2e[-1] / pure[-1])
        latency_s = timed(lambda: detector.infer_batch(batch), max(1, args.repeats))
        stages = {k: v for k, v in probe.timings.items() if k in ("decode", "preprocess")}
        result = {
            "view": view,
            "backend": f"{detector.choice.backend}/{detector.choice.precision}",
            "concurrency": int(getattr(detector.backend, "concurrency", 1)),
            "rows_per_batch": int(batch.shape[0]),
            "logits_per_batch": int(np.asarray(logits).shape[0]),
            "detector_decode": decode_mode(detector.preprocessor, jpegs[0]),
            "probe_ms": stages,
            "inference_ips": statistics.median(pure),
            "inference_ms_per_image": 1000.0 / statistics.median(pure),
            "batch_latency_ms": 1000 * latency_s,
            "pipeline_ips": statistics.median(e2e),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "images": len(items),
            "errors": errors,
            "error": first_error,
        }
        kernels = detector.preprocessor.kernels
    return result, kernels


# ---- machine and report -------------------------------------------------------------------------------
def machine(kernels: str) -> dict[str, Any]:
    from pinclip_sdk.machine import describe_cpu

    cpu = describe_cpu()
    model = cpu.get("model")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    versions = {"python": platform.python_version(), "pillow": Image.__version__, "numpy": np.__version__}
    with contextlib.suppress(ImportError):
        import openvino

        versions["openvino"] = openvino.__version__
    return {
        "cpu": model,
        "arch": cpu.get("arch"),
        "logical_cores": cpu.get("logical_cores"),
        "physical_cores": cpu.get("physical_cores"),
        "usable_cores": cpu.get("usable_cores"),
        "simd_kernels": kernels,
        "versions": versions,
    }


def _ms(value: float | None) -> str:
    return f"{value:8.1f}" if value is not None else f"{'-':>8}"


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"machine: {m['cpu']} ({m['arch']}), {m['logical_cores']} logical / {m['physical_cores']} physical"
        f" cores, SIMD kernels {m['simd_kernels']}; {report['backend']}, batch {report['batch']}"
    )
    for kind, info in report["corpus"].items():
        extra = f", {info['bits_per_sample']}-bit samples" if "bits_per_sample" in info else ""
        print(
            f"  {kind}: {info['files']} x {info['size']} {info['format']} (~{info['mean_kb']} KB),"
            f" Pillow mode {info['pil_mode']}{extra}"
        )
    print("\nper image, medians (ms); inference = 1000 / inference-only images/s of the view's bundle")
    header = f"{'kind':<7} {'size':<10} {'view':<8} {'decode':<16} {'decode':>8} {'prep':>8} {'infer':>8}"
    print(f"{header} {'total':>8}")
    for row in report["stages"]:
        print(
            f"{row['kind']:<7} {row['size']:<10} {row['view']:<8} {row['decode']:<16} {_ms(row['decode_ms'])}"
            f" {_ms(row['preprocess_ms'])} {_ms(row['inference_ms'])} {_ms(row['total_ms'])}"
        )
    print(f"\nend to end on the {report['e2e_corpus']} JPEGs (predict_paths vs inference only, same run)")
    print(f"{'view':<8} {'Detector decode':<16} {'pipeline img/s':>15} {'inference img/s':>16} {'ratio':>6}")
    for row in report["end_to_end"]:
        print(
            f"{row['view']:<8} {row['detector_decode']:<16} {row['pipeline_ips']:>15.2f}"
            f" {row['inference_ips']:>16.2f} {row['ratio']:>6.2f}"
            + (f"  ({row['errors']} errors: {row['error']})" if row["errors"] else "")
        )
    load = report["loadavg_1min"]
    print(
        f"load average (1 min) {load['start']:.2f} at start, {load['end']:.2f} at end;"
        f" measured in {report['seconds']:.0f}s"
    )
    verdict = "PASS" if report["accept"] else "FAIL"
    print(
        f"acceptance: {ACCEPT_VIEW} view end to end >= {ACCEPT_RATIO:.2f}x inference only:"
        f" {report['accept_ratio']:.2f}x {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pinclip-bench"), help="bundle + corpus cache")
    parser.add_argument("--bundle", type=Path, default=None, help="resize-view bundle (default: ViT-B/16)")
    parser.add_argument("--backend", default="openvino", help="Detector backend (openvino)")
    parser.add_argument("--precision", default="auto", help="Detector precision (auto: INT8 on CPU)")
    parser.add_argument("--openvino-hint", default="THROUGHPUT", help="OpenVINO performance hint")
    parser.add_argument("--batch", type=int, default=8, help="batch size of both paths")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per stage figure (median)")
    parser.add_argument("--rounds", type=int, default=3, help="inference-only / pipeline alternations")
    parser.add_argument("--e2e-images", type=int, default=32, help="images per predict_paths run")
    parser.add_argument("--views", default=",".join(VIEWS), help="views to measure")
    parser.add_argument("--quick", action="store_true", help="smoke run: small corpus, 1 repeat, 1 round")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.rounds, args.e2e_images = 1, 1, min(args.e2e_images, 2 * args.batch)
    views = [v for v in args.views.split(",") if v]
    unknown = set(views) - set(VIEWS)
    if unknown:
        parser.error(f"unknown views {sorted(unknown)}; known: {VIEWS}")
    from pinclip_sdk.bundle import Bundle

    args.work.mkdir(parents=True, exist_ok=True)
    base = args.bundle or default_bundle(args.work)
    corpus = write_corpus(args.work / ("realworld-quick" if args.quick else "realworld"), args.quick)
    base_spec = Bundle.load(base).manifest.preprocess
    started, load_before = time.perf_counter(), os.getloadavg()
    end_to_end, kernels, inference_ms = [], "", {}
    for view in views:
        print(f"[realworld] {view}: predict_paths vs inference only", file=sys.stderr, flush=True)
        result, kernels = measure_view(view_bundle(base, view), view, corpus["jpeg"], args)
        end_to_end.append(result)
        inference_ms[view] = result["inference_ms_per_image"]
        print(
            f"[realworld] {view}: {result['pipeline_ips']:.2f} vs {result['inference_ips']:.2f} img/s"
            f" ({result['ratio']:.2f}x)",
            file=sys.stderr,
            flush=True,
        )
    stages = []
    info = {kind: describe_kind(paths) for kind, paths in corpus.items()}
    for kind, paths in corpus.items():
        print(f"[realworld] {kind}: decode and preprocess per view", file=sys.stderr, flush=True)
        for view in views:
            for row in stage_rows(kind, paths, view, view_spec(base_spec, view), args.repeats):
                total = row["decode_ms"] + row["preprocess_ms"] + inference_ms[view]
                stages.append(
                    {"kind": kind, "size": info[kind]["size"], "view": view, **row}
                    | {"inference_ms": inference_ms[view], "total_ms": total}
                )
    accept_rows = [r for r in end_to_end if r["view"] == ACCEPT_VIEW]
    accept_ratio = accept_rows[0]["ratio"] if accept_rows else float("nan")
    ok = bool(accept_rows) and accept_ratio >= ACCEPT_RATIO and not accept_rows[0]["errors"]
    report = {
        "machine": machine(kernels),
        "backend": end_to_end[0]["backend"] if end_to_end else None,
        "openvino_hint": args.openvino_hint,
        "batch": args.batch,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "quick": args.quick,
        "bundle": str(base),
        "corpus": info,
        "e2e_corpus": f"{len(corpus['jpeg'])} x {info['jpeg']['size']}",
        "stages": stages,
        "end_to_end": end_to_end,
        "accept_view": ACCEPT_VIEW,
        "accept_ratio": accept_ratio,
        "accept_threshold": ACCEPT_RATIO,
        "accept": ok,
        "seconds": time.perf_counter() - started,
        # other processes on the machine skew every figure alike; the 1-minute load says how busy it was
        "loadavg_1min": {"start": load_before[0], "end": os.getloadavg()[0]},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
