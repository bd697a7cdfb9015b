"""Per-frame preprocessing time: open_clip (PIL) vs OpenCV vs the C++ core, ratios from the same run.

Methods, measured round-robin (one frame of each per round, so a busy machine slows all alike):
  (a) open_clip's eval transform on a PIL image (the reference; needs the `train` extra)
  (b) OpenCV resize (INTER_CUBIC, shortest side) + crop + numpy normalise (inexact, for reference)
  (c) the core, 1 thread, on the numpy frame
  (d) the core, all threads, one frame (split in row bands); (d8) per frame of a batch of 8

Usage: python benchmarks/preprocess.py [--repeat 30] [--json] [--sizes 720p,1080p,4k]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor

RESOLUTIONS = {"720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


def make_frame(height: int, width: int) -> np.ndarray:
    """A photo upscaled to the frame size (texture like a camera frame), else noise."""
    try:
        from PIL import Image
        from skimage import data

        photo = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC)
        return np.asarray(photo).copy()
    except ImportError:
        return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def opencv_method(spec: PreprocessSpec) -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import cv2
    except ImportError:
        return None
    mean = np.array(spec.mean, np.float32) * 255
    scale = 1.0 / (np.array(spec.std, np.float32) * 255)
    out_h, out_w = spec.size

    def run(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        s = out_h / min(h, w)
        resized = cv2.resize(
            frame, (max(out_w, int(w * s)), max(out_h, int(h * s))), interpolation=cv2.INTER_CUBIC
        )
        top, left = (resized.shape[0] - out_h) // 2, (resized.shape[1] - out_w) // 2
        crop = resized[top : top + out_h, left : left + out_w].astype(np.float32)
        return ((crop - mean) * scale).transpose(2, 0, 1)

    return run


def open_clip_method(spec: PreprocessSpec) -> Callable[[object], np.ndarray] | None:
    try:
        from open_clip.transform import PreprocessCfg, image_transform_v2
    except ImportError:
        return None
    import torch

    torch.set_num_threads(1)  # the reference runs on one core, like (c)
    cfg = PreprocessCfg(size=spec.size, resize_mode=spec.resize_mode, interpolation=spec.interpolation)
    transform = image_transform_v2(cfg, is_train=False)
    return lambda image: transform(image).numpy()


def measure(methods: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in methods}
    for fn in methods.values():  # warm-up (thread pool start, coefficient tables, caches)
        fn()
    for _ in range(repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def bench_resolution(name: str, repeat: int, threads: int) -> dict:
    from PIL import Image

    spec = PreprocessSpec(size=224)
    frame = make_frame(*RESOLUTIONS[name])
    pil = Image.fromarray(frame)
    one = Preprocessor(spec, num_threads=1)
    many = Preprocessor(spec, num_threads=threads)
    batch = [frame] * 8
    methods: dict[str, Callable[[], object]] = {}
    reference = open_clip_method(spec)
    if reference is not None:
        methods["a_open_clip"] = lambda: reference(pil)
    opencv = opencv_method(spec)
    if opencv is not None:
        methods["b_opencv"] = lambda: opencv(frame)
    methods["c_core_1t"] = lambda: one(frame)
    methods["d_core_all"] = lambda: many(frame)
    methods["d8_core_all_batch"] = lambda: many.batch(batch)
    times = measure(methods, repeat)
    per_frame = {k: [t / (8 if k.startswith("d8") else 1) for t in v] for k, v in times.items()}
    result = {
        "resolution": name,
        "threads_all": many.num_threads,
        "kernels": one.kernels,
        "median_ms": {k: statistics.median(v) * 1e3 for k, v in per_frame.items()},
        "p90_ms": {k: sorted(v)[int(0.9 * (len(v) - 1))] * 1e3 for k, v in per_frame.items()},
    }
    if reference is not None:
        base = result["median_ms"]["a_open_clip"]
        result["ratio_vs_a"] = {k: v / base for k, v in result["median_ms"].items()}
        result["bit_exact_c_vs_a"] = bool(np.array_equal(one(frame), reference(pil)))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="rounds per resolution (default 30)")
    parser.add_argument("--sizes", default="720p,1080p,4k", help="comma-separated: 720p, 1080p, 4k")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads of (d) (default: all CPUs)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    results = [bench_resolution(s.strip(), args.repeat, args.threads) for s in args.sizes.split(",")]
    if args.json:
        print(json.dumps({"results": results, "cpu_count": os.cpu_count()}, indent=2))
        return 0
    for r in results:
        print(f"{r['resolution']}  (kernels {r['kernels']}, all = {r['threads_all']} threads)")
        for k, ms in r["median_ms"].items():
            ratio = r.get("ratio_vs_a", {}).get(k)
            extra = f"  1/{1 / ratio:.1f} of (a)" if ratio and k != "a_open_clip" else ""
            print(f"  {k:20s} median {ms:8.3f} ms   p90 {r['p90_ms'][k]:8.3f} ms{extra}")
        if "bit_exact_c_vs_a" in r:
            print(f"  (c) bit-exact with (a): {r['bit_exact_c_vs_a']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
