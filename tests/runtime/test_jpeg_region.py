"""Region decode of JPEGs must be bit-identical to Pillow's full decode + convert("RGB") + crop.

Images are photo-like (smooth noise + fine texture + stripes) so chroma upsampling and the
IDCT see real detail; sizes, boxes, chroma subsampling, progressive coding, quality and
restart markers are drawn from a seeded generator. The marker-parsing helpers need no
decoder; everything that decodes is skipped when the core was built without libjpeg-turbo
(and fails instead under PINCLIP_REQUIRE_REGION_DECODE=1, as in CI).
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import jpeg_region as jr
from pinclip_sdk.errors import BackendUnavailableError, InvalidImageError

needs_region = pytest.mark.usefixtures("region_decoder")


def _photo(w: int, h: int, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    ch = 1 if gray else 3
    small = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, ch), dtype=np.uint8)
    img = Image.fromarray(small[..., 0] if gray else small).resize((w, h), Image.BICUBIC)
    base = np.asarray(img, dtype=np.float32).reshape(h, w, ch)
    yy, xx = np.mgrid[0:h, 0:w]
    tex = rng.normal(0, 10, (h, w, 1)) + 25 * np.sin(xx / 3.1 + yy / 5.3)[..., None]
    out = np.clip(base + tex, 0, 255).astype(np.uint8)
    return out[..., 0] if gray else out


def _encode(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _reference(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _boxes(w: int, h: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    boxes = [(0, 0, w, h), (w - 1, h - 1, w, h), (0, 0, 1, 1), (w - 1, 0, w, 1), (0, h - 1, 1, h)]
    for _ in range(6):
        left, right = sorted(rng.choice(w + 1, 2, replace=False)) if w > 1 else (0, 1)
        top, bottom = sorted(rng.choice(h + 1, 2, replace=False)) if h > 1 else (0, 1)
        boxes.append((int(left), int(top), int(right), int(bottom)))
    for _ in range(3):  # single pixels and thin strips anywhere
        x, y = int(rng.integers(w)), int(rng.integers(h))
        boxes.append((x, y, x + 1, y + 1))
        boxes.append((x, 0, x + 1, h))
    return boxes


def _assert_identical(data: bytes, boxes: list[tuple[int, int, int, int]]) -> None:
    assert jr.region_ineligibility(data) is None
    ref = _reference(data)
    got = jr.decode_jpeg_regions(data, boxes)
    for (left, top, right, bottom), arr in zip(boxes, got, strict=True):
        assert arr.dtype == np.uint8
        assert arr.shape == (bottom - top, right - left, 3)
        want = ref[top:bottom, left:right]
        if not np.array_equal(arr, want):
            bad = np.argwhere((arr != want).any(axis=-1))
            pytest.fail(f"box {(left, top, right, bottom)}: {len(bad)} pixels differ, first at {bad[0]}")


# (subsampling, progressive, restart) combinations; sizes and quality are drawn per case.
_VARIANTS = [
    (ss, prog, rst) for ss in (0, 1, 2) for prog in (False, True) for rst in (None, "blocks", "rows")
]


@needs_region
@pytest.mark.parametrize(("subsampling", "progressive", "restart"), _VARIANTS)
def test_colour_region_bit_identical(subsampling: int, progressive: bool, restart: str | None) -> None:
    rng = np.random.default_rng(1000 * subsampling + 10 * progressive + len(restart or ""))
    for w, h in [(1, 1), (17, 9), *(tuple(int(v) for v in rng.integers(2, 340, 2)) for _ in range(3))]:
        kw: dict[str, object] = {
            "quality": int(rng.integers(50, 101)),
            "subsampling": subsampling,
            "progressive": progressive,
        }
        if restart == "blocks":
            kw["restart_marker_blocks"] = int(rng.integers(1, 7))
        elif restart == "rows":
            kw["restart_marker_rows"] = 1
        data = _encode(_photo(w, h, rng), **kw)
        _assert_identical(data, _boxes(w, h, rng))


@needs_region
@pytest.mark.parametrize("progressive", [False, True])
def test_gray_region_replicated_rgb(progressive: bool) -> None:
    rng = np.random.default_rng(7 + progressive)
    for w, h in [(1, 1), (33, 15), (203, 131), (64, 48)]:
        data = _encode(
            _photo(w, h, rng, gray=True), quality=int(rng.integers(50, 101)), progressive=progressive
        )
        _assert_identical(data, _boxes(w, h, rng))
        full = jr.decode_jpeg_region(data, (0, 0, w, h))
        assert (full[..., 0] == full[..., 1]).all()
        assert (full[..., 1] == full[..., 2]).all()


@needs_region
def test_larger_image_interior_tiles_and_q100() -> None:
    rng = np.random.default_rng(3)
    w, h = 1011, 757  # not a multiple of 16 either way: partial iMCUs at the right and bottom
    arr = _photo(w, h, rng)
    for kw in ({"quality": 100, "subsampling": 0}, {"quality": 90, "subsampling": 2}, {"quality": 75}):
        data = _encode(arr, **kw)
        cx, cy = w // 2, h // 2
        boxes = [(cx - 112, cy - 112, cx + 112, cy + 112), (w - 224, h - 224, w, h), (0, 0, 224, 224)]
        boxes += [
            (int(x), int(y), int(x) + 224, int(y) + 224)
            for x, y in zip(rng.integers(0, w - 224, 4), rng.integers(0, h - 224, 4), strict=True)
        ]
        _assert_identical(data, boxes)


def test_unlisted_subsampling_is_ineligible() -> None:
    # 4:4:0 (luma sampling 1x2) is not among the layouts the tests cover: decoded in full
    data = bytearray(_encode(_photo(40, 30, np.random.default_rng(5)), subsampling=0))
    sof = data.index(b"\xff\xc0")
    assert data[sof + 11] == 0x11  # first component's sampling byte
    data[sof + 11] = 0x12
    reason = jr.region_ineligibility(bytes(data))
    assert reason is not None
    assert "subsampling" in reason


@needs_region
def test_truncation_below_the_boxes_raises() -> None:
    # the decoder stops after the last box's rows, so a cut tail is caught by the end marker check
    data = _encode(_photo(160, 120, np.random.default_rng(6)), quality=90)
    for cut in (2, 300):
        with pytest.raises(InvalidImageError, match="truncated"):
            jr.decode_jpeg_region(data[:-cut], (0, 0, 16, 16))
    assert jr.decode_jpeg_region(data + b"trailer after EOI", (0, 0, 16, 16)).shape == (16, 16, 3)


def test_ineligible_jpegs_are_reported() -> None:
    rng = np.random.default_rng(9)
    cmyk = io.BytesIO()
    Image.fromarray(_photo(40, 30, rng)).convert("CMYK").save(cmyk, "JPEG")
    reason = jr.region_ineligibility(cmyk.getvalue())
    assert reason is not None
    assert "Adobe" in reason or "components" in reason
    assert not jr.is_region_eligible(cmyk.getvalue())
    assert jr.is_region_eligible(_encode(_photo(40, 30, rng)))
    assert not jr.is_region_eligible(b"not a jpeg")


@needs_region
def test_ineligible_jpeg_raises() -> None:
    cmyk = io.BytesIO()
    Image.new("CMYK", (32, 32), (1, 2, 3, 4)).save(cmyk, "JPEG")
    with pytest.raises(InvalidImageError, match="not eligible"):
        jr.decode_jpeg_region(cmyk.getvalue(), (0, 0, 8, 8))


def test_header_parsing() -> None:
    data = _encode(_photo(37, 21, np.random.default_rng(2)), subsampling=1, progressive=True)
    hdr = jr.read_jpeg_header(data)
    assert (hdr.width, hdr.height, hdr.sof_marker, hdr.precision) == (37, 21, 0xC2, 8)
    assert (hdr.imcu_width, hdr.imcu_height) == (16, 8)
    assert hdr.sampling == ((2, 1), (1, 1), (1, 1))
    assert hdr.jfif
    assert not hdr.adobe


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"GIF89a" + b"\0" * 20, b"\xff\xd8\xff\xd9", b"\xff\xd8\xff\xe0\x00\x40JFIF"],
)
def test_unparsable_data_raises(data: bytes) -> None:
    with pytest.raises(InvalidImageError):
        jr.read_jpeg_header(data)
    assert not jr.is_region_eligible(data)


@needs_region
def test_bad_data_raises() -> None:
    data = _encode(_photo(120, 90, np.random.default_rng(4)), quality=90)
    with pytest.raises(InvalidImageError):
        jr.decode_jpeg_region(b"\x00" * 100, (0, 0, 1, 1))
    with pytest.raises(InvalidImageError):  # truncated inside the entropy-coded data
        jr.decode_jpeg_region(data[: len(data) // 2], (0, 0, 16, 16))


@needs_region
@pytest.mark.parametrize(
    "box",
    [(0, 0, 0, 5), (5, 5, 4, 9), (-1, 0, 4, 4), (0, 0, 121, 10), (0, 0, 10, 91), (0, 0, 1), ("a", 0, 1, 1)],
)
def test_bad_box_raises(box: tuple) -> None:
    data = _encode(_photo(120, 90, np.random.default_rng(4)))
    with pytest.raises(InvalidImageError, match="box"):
        jr.decode_jpeg_region(data, box)


def test_unavailable_decoder_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jr, "_core", SimpleNamespace(has_jpeg_regions=False))
    jr.region_decode_available.cache_clear()
    try:
        assert not jr.region_decode_available()
        with pytest.raises(BackendUnavailableError, match="libjpeg"):
            jr.decode_jpeg_region(_encode(np.zeros((8, 8, 3), np.uint8)), (0, 0, 1, 1))
    finally:
        monkeypatch.undo()
        jr.region_decode_available.cache_clear()


def test_decoder_disagreeing_with_pillow_is_not_used(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    # a libjpeg whose pixels differ from Pillow's (another IDCT or upsampling) must not be used
    def off_by_one(data: bytes, boxes: list) -> list:
        return [np.ones((b - t, r - left, 3), np.uint8) for left, t, r, b in boxes]

    monkeypatch.setattr(jr, "_core", SimpleNamespace(has_jpeg_regions=True, decode_jpeg_regions=off_by_one))
    jr.region_decode_available.cache_clear()
    try:
        assert not jr.region_decode_available()
        assert "differently" in caplog.text
    finally:
        monkeypatch.undo()
        jr.region_decode_available.cache_clear()


@needs_region
def test_damaged_files_raise_or_decode_never_crash() -> None:
    # untrusted input: flipped bytes, cut files and garbage after the header either decode to the
    # boxes' shapes or raise InvalidImageError (the caller then decodes in full), never crash
    rng = np.random.default_rng(11)
    for progressive in (False, True):
        data = _encode(_photo(96, 80, rng), quality=85, subsampling=2, progressive=progressive)
        boxes = [(10, 5, 60, 40), (0, 60, 96, 80)]
        for _ in range(150):
            damaged = bytearray(data)
            kind = rng.integers(3)
            if kind == 0:
                for at in rng.integers(2, len(data), int(rng.integers(1, 8))):
                    damaged[at] = int(rng.integers(256))
            elif kind == 1:
                damaged = damaged[: int(rng.integers(4, len(data)))]
            else:
                start = int(rng.integers(2, len(data)))
                damaged[start:] = rng.integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
            try:
                crops = jr.decode_jpeg_regions(bytes(damaged), boxes)
            except InvalidImageError:
                continue
            assert [c.shape for c in crops] == [(35, 50, 3), (20, 96, 3)]
