"""Reading video files with PyAV: open a container, sample frames, yield them with their timestamps.

`VideoReader` decodes the first video stream one packet at a time and yields `VideoFrame`s (timestamp,
index, and the decoded picture, converted to RGB `uint8` HWC on demand), so memory stays bounded on
long videos: nothing but the frame in hand and the decoder's own buffers is held. Sampling keeps one
frame every `every_s` seconds (0: every frame), an exact `frames` count spread over the duration, or
keyframes only (the decoder skips the rest, the cheapest way through a long file).

Decoding that stops early (a corrupt packet, a file cut short) ends the iteration without raising:
`reader.partial` is then True and `reader.error` says why, and the frames yielded so far stand. A
source that is not a video PyAV can open, or that has no video stream, raises `VideoError` on open.
PyAV is the `video` extra and is imported only here, when a video is opened.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Union

import numpy as np

from pinclip_sdk.errors import BackendUnavailableError, ConfigError, VideoError
from pinclip_sdk.imageio import regular_file

logger = logging.getLogger(__name__)

VideoSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

# File suffixes `pinclip detect` reads as videos (lower case; matching ignores case). Animated GIF and
# WebP stay images (their first frame), as `pinclip_sdk.imageio.IMAGE_SUFFIXES` says.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})

DEFAULT_EVERY_S = 1.0  # sampling when none of every_s / frames / keyframes is given

# A stream whose last decoded frame is this far short of the container's declared duration (in frame
# intervals, and at least this many seconds) was cut short: the result is partial.
_SHORT_FRAMES = 3
_SHORT_MIN_S = 0.5


def is_video_file(name: str) -> bool:
    """Whether a file name has a video suffix (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES  # noqa: PTH122 (str only)


def import_av() -> Any:
    """PyAV, or `BackendUnavailableError` naming the extra that installs it."""
    try:
        import av
    except ImportError as exc:
        raise BackendUnavailableError(
            f"video decoding needs PyAV, which is not installed ({exc}); pip install 'pinclip-sdk[video]'"
        ) from exc
    return av


@dataclass(frozen=True)
class Sampling:
    """Which frames to keep: every `every_s` seconds (0: all), `frames` spread evenly, or keyframes only.

    `keyframes` combines with the others (they then pick among keyframes); `every_s` and `frames`
    exclude each other. With none given, one frame every `DEFAULT_EVERY_S` seconds.
    """

    every_s: float | None = None
    frames: int | None = None
    keyframes: bool = False

    def __post_init__(self) -> None:
        if self.every_s is not None and self.frames is not None:
            raise ConfigError(
                f"give every_s or frames, not both (every_s={self.every_s}, frames={self.frames})"
            )
        if self.every_s is not None and not (math.isfinite(self.every_s) and self.every_s >= 0):
            raise ConfigError(
                f"every_s must be a number of seconds >= 0 (0: every frame), got {self.every_s!r}"
            )
        if self.frames is not None and (isinstance(self.frames, bool) or int(self.frames) != self.frames):
            raise ConfigError(f"frames must be an integer >= 1, got {self.frames!r}")
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"frames must be an integer >= 1, got {self.frames!r}")
        if self.every_s is None and self.frames is None and not self.keyframes:
            object.__setattr__(self, "every_s", DEFAULT_EVERY_S)

    def describe(self) -> str:
        parts = ["keyframes"] if self.keyframes else []
        if self.frames is not None:
            parts.append(f"{self.frames} frames")
        elif self.every_s:
            parts.append(f"every {self.every_s:g}s")
        elif self.every_s == 0:
            parts.append("every frame")
        return ", ".join(parts)


class VideoFrame:
    """One sampled frame: `t` (seconds from the stream's start), `index` (decoded-frame number) and
    `rgb()`, the picture as an RGB `uint8` HWC array (converted on first call, off the decode thread)."""

    __slots__ = ("_frame", "_rgb", "index", "t")

    def __init__(self, t: float, index: int, frame: Any) -> None:
        self.t = t
        self.index = index
        self._frame = frame
        self._rgb: np.ndarray | None = None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self._frame.to_ndarray(format="rgb24")
            self._frame = None  # release the decoder's picture
        return self._rgb

    def __repr__(self) -> str:
        return f"VideoFrame(t={self.t:.3f}, index={self.index})"


class VideoReader:
    """The first video stream of a container, sampled by `sampling`.

    Args:
        source: a path, bytes or a binary file object of a container FFmpeg reads (mp4, mov, mkv,
            webm, avi, ...).
        sampling: which frames `__iter__` yields.
        max_pixels: refuse streams whose frames have more pixels (None: no limit).

    Attributes:
        duration: seconds, from the stream or container header (None when neither says).
        partial: True once decoding stopped before the end of the stream; `error` says why.

    Raises:
        VideoError: not a container PyAV can open, or no video stream in it.
        BackendUnavailableError: PyAV is not installed.
    """

    def __init__(
        self, source: VideoSource, sampling: Sampling | None = None, *, max_pixels: int | None = None
    ) -> None:
        av = import_av()
        self.what = _describe(source)
        self.sampling = sampling or Sampling()
        self.partial = False
        self.error: str | None = None
        self.decoded = 0
        try:
            self._container = av.open(_file(source, self.what), mode="r")
        except VideoError:
            raise
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(f"{self.what}: not a video container FFmpeg can read ({exc})") from exc
        try:
            self._stream = self._pick_stream(max_pixels)
        except BaseException:
            self._container.close()
            raise
        self.duration = _duration(self._container, self._stream)

    def _pick_stream(self, max_pixels: int | None) -> Any:
        streams = list(self._container.streams.video)
        if not streams:
            kinds = sorted({s.type for s in self._container.streams}) or ["none"]
            raise VideoError(f"{self.what}: no video stream in this file (streams: {', '.join(kinds)})")
        stream = streams[0]
        context = stream.codec_context
        if context is None or getattr(context, "name", None) is None:
            raise VideoError(f"{self.what}: the video stream's codec is not supported by this FFmpeg build")
        width, height = int(context.width or 0), int(context.height or 0)
        if max_pixels is not None and width * height > max_pixels:
            raise VideoError(
                f"{self.what}: frames of {width}x{height} exceed the limit of {max_pixels} pixels"
            )
        stream.thread_type = "AUTO"
        if self.sampling.keyframes:
            context.skip_frame = "NONKEY"
        return stream

    @property
    def codec(self) -> str:
        return str(self._stream.codec_context.name)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        context = self._stream.codec_context
        return int(context.width), int(context.height)

    @property
    def rate(self) -> float | None:
        """Average frames per second, when the container says."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else None

    def expected(self) -> int | None:
        """How many frames `__iter__` will probably yield (for progress bars), None when unknown."""
        sampling, duration, rate = self.sampling, self.duration, self.rate
        if sampling.frames is not None:
            return sampling.frames
        if sampling.keyframes or duration is None:
            return None
        if not sampling.every_s:
            return int(self._stream.frames) or (round(duration * rate) if rate else None)
        return max(1, math.ceil(duration / sampling.every_s))

    def __iter__(self) -> Iterator[VideoFrame]:
        sampling = self.sampling
        if sampling.frames is not None and self.duration is None:
            raise VideoError(
                f"{self.what}: the container gives no duration to spread {sampling.frames} frames over; "
                "use every_s"
            )
        picker = _Picker(sampling, self.duration)
        last_t: float | None = None
        for t, frame in self._decoded():
            last_t = t
            if sampling.keyframes and not frame.key_frame:  # a decoder that ignores skip_frame
                continue
            if picker.keep(t):
                yield VideoFrame(t, self.decoded - 1, frame)
                if picker.done:
                    return
        self._check_complete(last_t)

    def _decoded(self) -> Iterator[tuple[float, Any]]:
        av = import_av()
        stream = self._stream
        rate = self.rate
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        try:
            for packet in self._container.demux(stream):
                for frame in packet.decode():
                    t = frame.time
                    if t is None:  # no timestamp: count frames at the average rate
                        t = start + self.decoded / rate if rate else float(self.decoded)
                    self.decoded += 1
                    yield max(0.0, float(t) - start), frame
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
            self._stop(f"decoding stopped after {self.decoded} frames: {type(exc).__name__}: {exc}")

    def _check_complete(self, last_t: float | None) -> None:
        if self.partial or last_t is None or self.duration is None or self.sampling.keyframes:
            return
        interval = 1.0 / self.rate if self.rate else 0.04
        if self.duration - last_t > max(_SHORT_FRAMES * interval, _SHORT_MIN_S):
            self._stop(
                f"the stream ended at {last_t:.2f}s of a declared {self.duration:.2f}s (file cut short?)"
            )

    def _stop(self, reason: str) -> None:
        self.partial = True
        self.error = reason
        logger.info("%s: %s", self.what, reason)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Picker:
    """Decides, frame by frame in decode order, which timestamps `Sampling` keeps."""

    def __init__(self, sampling: Sampling, duration: float | None) -> None:
        self.done = False
        self._every = sampling.every_s
        self._next = 0.0
        self._targets: list[float] = []
        if sampling.frames is not None:
            span = duration or 0.0
            self._targets = [span * (i + 0.5) / sampling.frames for i in range(sampling.frames)][::-1]

    def keep(self, t: float) -> bool:
        if self._targets:  # the first frame at or after each of N evenly spaced instants
            if t + 1e-6 < self._targets[-1]:
                return False
            while self._targets and self._targets[-1] <= t + 1e-6:
                self._targets.pop()
            self.done = not self._targets
            return True
        if not self._every:
            return True
        if t + 1e-6 < self._next:
            return False
        self._next = (math.floor((t + 1e-6) / self._every) + 1) * self._every
        return True


def read_frames(source: VideoSource, sampling: Sampling | None = None) -> Iterator[VideoFrame]:
    """Yield the sampled frames of `source` (the same frames `Detector.predict_video` scores)."""
    with VideoReader(source, sampling) as reader:
        yield from reader


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _file(source: VideoSource, what: str) -> Any:
    if isinstance(source, (str, os.PathLike)):
        return str(regular_file(source, what, VideoError))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise VideoError(f"{what}: empty input, no video data")
        return io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        return source
    raise VideoError(
        f"{what}: unsupported video input {type(source).__name__}; expected a path, bytes or a binary file"
    )


def _describe(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    name = getattr(source, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(source).__name__}>"


__all__ = [
    "DEFAULT_EVERY_S",
    "VIDEO_SUFFIXES",
    "Sampling",
    "VideoFrame",
    "VideoReader",
    "is_video_file",
    "read_frames",
]
