"""Video scoring throughput against image `predict_batch` on the same frames (issue 13 acceptance).

One synthetic H.264 clip is encoded with PyAV (moving shapes and sensor noise, `--size`, `--seconds`
at `--fps`). Measured in the same run, on the same detector and batch size:

1. **image**: every frame decoded to RGB beforehand (not timed), then `predict_batch` on the arrays:
   inference + preprocessing only, the best a caller holding decoded frames can do;
2. **video, every frame**: `predict_video(path, every_s=0)`: demux + decode + RGB conversion +
   preprocessing + inference, overlapped by the same pipeline (acceptance: >= 0.80 of 1.);
3. **video, sampled** at the default one frame a second and `--keyframes`: the wall time per second
   of video, the cost a moderation queue pays (decoding between samples is not free).

Without `--bundle` it uses (and builds once, under `--work`) the ViT-B/16 random-weight INT8 bundle of
`benchmarks/runtime.py` (needs the `train` extra to build). Needs the `video` extra.

Usage:
    .venv/bin/python benchmarks/video.py --work /tmp/pinclip-bench [--bundle B] [--backend openvino] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ACCEPT_RATIO = 0.80


def encode_clip(path: Path, size: tuple[int, int], seconds: float, fps: int) -> Path:
    """A synthetic H.264 clip: drifting gradients and a moving square over sensor noise."""
    import av

    width, height = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            base = 128 + 90 * np.sin((xx + 3 * i) / 57.0)[..., None] * np.cos(yy / 41.0 + i / 30)[..., None]
            frame = np.repeat(base, 3, axis=-1) + rng.normal(0, 4, (height, width, 3))
            x0 = (40 + 7 * i) % max(1, width - 120)
            frame[100:220, x0 : x0 + 120] = (220, 40, 60)
            rgb = np.clip(frame, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def timed(call, repeats: int) -> float:
    """Median wall seconds of `repeats` calls (after one warm-up call)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(bundle: Path, clip: Path, backend: str, batch: int, repeats: int) -> dict:
    from pinclip_sdk import Detector
    from pinclip_sdk.video import Sampling, read_frames

    frames = [frame.rgb() for frame in read_frames(clip, Sampling(every_s=0))]
    with Detector(bundle, backend) as detector:
        image_s = timed(lambda: detector.predict_batch(frames, batch_size=batch), repeats)
        video = detector.predict_video(clip, every_s=0, batch_size=batch)
        video_s = timed(lambda: detector.predict_video(clip, every_s=0, batch_size=batch), repeats)
        sampled_s = timed(lambda: detector.predict_video(clip, batch_size=batch), repeats)
        keyframes_s = timed(lambda: detector.predict_video(clip, keyframes=True, batch_size=batch), repeats)
        sampled = detector.predict_video(clip, batch_size=batch)
        keyframes = detector.predict_video(clip, keyframes=True, batch_size=batch)
        choice = f"{detector.choice.backend}/{detector.choice.precision}"
    n = len(frames)
    assert len(video.frames) == n, f"predict_video scored {len(video.frames)} of {n} frames"
    duration = n / video_fps(clip)
    return {
        "backend": choice,
        "batch": batch,
        "frames": n,
        "image_frames_per_s": n / image_s,
        "video_frames_per_s": n / video_s,
        "ratio": image_s / video_s,
        "video_timings_ms_per_frame": {k: v / n for k, v in video.timings.items()},
        "sampled_1fps": {"frames": len(sampled.frames), "ms_per_video_second": 1000 * sampled_s / duration},
        "keyframes": {"frames": len(keyframes.frames), "ms_per_video_second": 1000 * keyframes_s / duration},
    }


def video_fps(clip: Path) -> float:
    import av

    with av.open(str(clip)) as container:
        return float(container.streams.video[0].average_rate)


def default_bundle(work: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from runtime import build_vitb16_bundle  # the same bundle as benchmarks/runtime.py

    bundle = work / "vit-b-16-random.pinclip"
    if not (bundle / "manifest.json").is_file():
        start = time.perf_counter()
        build_vitb16_bundle(bundle)
        print(f"built {bundle} in {time.perf_counter() - start:.0f}s", file=sys.stderr)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pinclip-bench"), help="bundle + clip cache")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle (default: ViT-B/16)")
    parser.add_argument("--backend", default="auto", help="Detector backend (auto)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of both paths")
    parser.add_argument("--size", default="1280x720", help="clip size WxH (1280x720)")
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length (4 s)")
    parser.add_argument("--fps", type=int, default=24, help="clip frame rate (24)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.work.mkdir(parents=True, exist_ok=True)
    bundle = args.bundle or default_bundle(args.work)
    clip = args.work / f"clip-{width}x{height}-{args.seconds:g}s-{args.fps}fps.mp4"
    if not clip.is_file():
        encode_clip(clip, (width, height), args.seconds, args.fps)
    result = measure(bundle, clip, args.backend, args.batch, args.repeats)
    machine = platform.processor() or platform.machine()
    result.update(machine=machine, clip=f"{args.size} H.264 {args.fps} fps")
    ok = result["ratio"] >= ACCEPT_RATIO
    if args.json:
        print(json.dumps({**result, "accept": ok}, indent=2))
        return 0 if ok else 1
    print(f"{result['backend']}, batch {args.batch}, {result['frames']} frames of {result['clip']}")
    print(f"  image predict_batch (frames pre-decoded): {result['image_frames_per_s']:.1f} frames/s")
    print(f"  predict_video every frame (decode incl.): {result['video_frames_per_s']:.1f} frames/s")
    per_frame = ", ".join(f"{k} {v:.1f}" for k, v in result["video_timings_ms_per_frame"].items())
    print(f"    per frame ms: {per_frame}")
    print(f"  ratio video / image: {result['ratio']:.2f} (acceptance >= {ACCEPT_RATIO:.2f}: {ok})")
    for name in ("sampled_1fps", "keyframes"):
        row = result[name]
        print(f"  {name}: {row['frames']} frames, {row['ms_per_video_second']:.0f} ms per second of video")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
