"""`Detector.predict_video` on videos encoded in the test with PyAV: codecs, sampling, partial, errors."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.errors import ConfigError, VideoError
from pinclip_sdk.video import Sampling, read_frames

av = pytest.importorskip("av")

CODECS = [
    ("mp4", "libx264", "yuv420p"),
    ("mkv", "mpeg4", "yuv420p"),
    ("webm", "libvpx", "yuv420p"),
    ("avi", "mjpeg", "yuvj420p"),
]


@pytest.fixture(scope="module")
def detector(tiny_bundle):
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as detector:
        yield detector


@pytest.mark.parametrize(("suffix", "codec", "pix_fmt"), CODECS)
def test_frames_score_as_predict_on_the_same_decoded_frames(
    detector, tmp_path, encode_video, suffix, codec, pix_fmt
):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec}")
    path = encode_video(tmp_path / f"v.{suffix}", codec, pix_fmt)
    result = detector.predict_video(path, every_s=0, batch_size=4)
    decoded = list(read_frames(path, Sampling(every_s=0)))
    assert len(result.frames) == len(decoded) == 20
    assert not result.partial
    assert result.error is None
    for frame, score in zip(decoded, result.frames, strict=False):
        assert score.t == frame.t
        assert score.p_fake == detector.predict(frame.rgb()).p_fake
    row = result.to_dict()
    assert row["kind"] == "video"
    assert len(row["frames"]) == 20
    assert row["evidence"] is None


def test_sampling_and_aggregates(detector, tmp_path, encode_video):
    path = encode_video(tmp_path / "v.mp4")
    assert len(detector.predict_video(path).frames) == 2  # one a second, 2 s
    assert len(detector.predict_video(path, frames=5).frames) == 5
    mean = detector.predict_video(path, every_s=0.5)
    top = detector.predict_video(path, every_s=0.5, aggregate="max")
    share = detector.predict_video(path, every_s=0.5, aggregate="fraction_above")
    assert top.p_fake == max(f.p_fake for f in top.frames)
    assert 0 <= share.p_fake <= 1
    assert share.threshold == 0.5
    assert min(f.p_fake for f in mean.frames) <= mean.p_fake <= top.p_fake
    with pytest.raises(ConfigError):
        detector.predict_video(path, every_s=1, frames=3)
    with pytest.raises(ConfigError):
        detector.predict_video(path, aggregate="median")


def test_truncated_is_partial_and_audio_only_is_a_typed_error(detector, tmp_path, encode_video):
    data = encode_video(tmp_path / "v.mkv", count=40).read_bytes()
    result = detector.predict_video(data[: len(data) // 2], every_s=0)
    assert result.partial
    assert result.error
    assert 0 < len(result.frames) < 40
    with pytest.raises(VideoError):
        detector.predict_video(b"not a video")
    audio = tmp_path / "a.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        detector.predict_video(audio)
