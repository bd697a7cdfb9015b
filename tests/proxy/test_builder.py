"""The proxy builder: deterministic, cached, GenImage layout, no format or content shortcut."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.data import discover
from pinclip_sdk.training.proxy import FAMILIES, ProxyConfig, build_proxy
from pinclip_sdk.training.proxy.builder import PROVENANCE_NAME, STAMP_NAME

from .conftest import TINY


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every image and of the provenance list (the stamp holds timings, so it is left out)."""
    files = sorted(root.rglob("*.jpg")) + [root / PROVENANCE_NAME]
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _provenance(root: Path) -> list[dict[str, str]]:
    with (root / PROVENANCE_NAME).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_gives_the_same_bytes(tiny_proxy, tmp_path):
    root, _ = tiny_proxy
    again = build_proxy(tmp_path / "again", TINY, progress=False)
    assert not again.cached
    assert _digest(tmp_path / "again") == _digest(root)


def test_another_seed_gives_other_images(tiny_proxy, tmp_path):
    root, _ = tiny_proxy
    small = ProxyConfig(seed=4, size=32, train_per_class=8, val_per_class=6, generator_steps=8, patch=16,
                        families=("tconv",))  # fmt: skip
    build_proxy(tmp_path / "other", small, progress=False)
    mine = _digest(tmp_path / "other")
    theirs = _digest(root)
    shared = [name for name in mine if name.endswith(".jpg") and mine[name] == theirs.get(name)]
    assert not shared


def test_layout_is_read_by_discover(tiny_proxy):
    root, summary = tiny_proxy
    samples = discover(root)
    counts = Counter((s.generator, s.split, s.label) for s in samples)
    for family in FAMILIES:
        for split, n in (("train", TINY.train_per_class), ("val", TINY.val_per_class)):
            assert counts[(f"proxy_{family}", split, 0)] == n
            assert counts[(f"proxy_{family}", split, 1)] == n
    assert len(samples) == sum(sum(c.values()) for c in summary.counts.values())
    one_family = discover(root / "denoiser", split="val")
    assert {s.generator for s in one_family} == {"proxy_denoiser"}


def test_both_classes_share_format_size_and_jpeg_quality(tiny_proxy):
    root, _ = tiny_proxy
    quality_of = _quality_lookup()
    qualities: dict[int, list[int]] = defaultdict(list)
    for sample in discover(root):
        with Image.open(sample.path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (TINY.size, TINY.size))
            qualities[sample.label].append(quality_of[tuple(image.quantization[0])])
    lo, hi = TINY.jpeg_quality
    for label in (0, 1):
        assert lo <= min(qualities[label])
        assert max(qualities[label]) <= hi
        assert min(qualities[label]) <= lo + 4
        assert max(qualities[label]) >= hi - 4
    assert abs(np.mean(qualities[0]) - np.mean(qualities[1])) < 3.0


def _quality_lookup() -> dict[tuple[int, ...], int]:
    """Pillow's luminance quantisation table -> the quality that produced it."""
    table = {}
    pixels = Image.new("RGB", (16, 16), (120, 80, 40))
    for quality in range(1, 101):
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as image:
            table.setdefault(tuple(image.quantization[0]), quality)
    return table


def test_both_classes_show_the_same_scenes_and_splits_share_no_pixels(tiny_proxy):
    root, _ = tiny_proxy
    photos: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    rows = _provenance(root)
    for row in rows:
        photos[(row["family"], row["split"], row["class"])].add(row["photo"])
    assert len(rows) == len(list(root.rglob("*.jpg")))
    for family in FAMILIES:
        for split in ("train", "val"):
            real, fake = photos[(family, split, "nature")], photos[(family, split, "ai")]
            assert all(name.endswith(f"/{split}") for name in real | fake)
        train = photos[(family, "train", "nature")] | photos[(family, "train", "ai")]
        val = photos[(family, "val", "nature")] | photos[(family, "val", "ai")]
        assert train.isdisjoint(val)
    # content cannot give the answer: reals and fakes are crops of the same regions
    for split in ("train", "val"):
        real = set().union(*(photos[(f, split, "nature")] for f in FAMILIES))
        fake = set().union(*(photos[(f, split, "ai")] for f in FAMILIES))
        assert len(real & fake) >= 3


def test_summary_reports_sharpness_and_sources(tiny_proxy):
    root, summary = tiny_proxy
    assert [f.family for f in summary.families] == list(FAMILIES)
    for fam in summary.families:
        assert fam.sharpness_real > 0
        assert fam.sharpness_fake > 0
        assert 0 < fam.sharpness_ratio < 20  # 8 generator steps: not yet sharp, but measured
        assert fam.generator_parameters > 1000
        assert fam.detail_retained > 0
    assert len(summary.sources) >= 6
    assert "CC BY 2.0" in (root / "SOURCES.md").read_text(encoding="utf-8")
    assert "| denoiser |" in summary.sharpness_table()


def test_cached_when_unchanged_rebuilt_when_changed_or_forced(tmp_path):
    cfg = ProxyConfig(seed=1, size=32, train_per_class=2, val_per_class=2, generator_steps=2, patch=16,
                      families=("nearest",))  # fmt: skip
    root = tmp_path / "p"
    first = build_proxy(root, cfg, progress=False)
    image = next(root.rglob("*.jpg"))
    stamp = json.loads((root / STAMP_NAME).read_text())
    assert stamp["config"] == cfg.to_dict()
    assert not first.cached
    mtime = image.stat().st_mtime_ns
    second = build_proxy(root, cfg, progress=False)
    assert second.cached
    assert image.stat().st_mtime_ns == mtime
    assert not build_proxy(root, cfg, force=True, progress=False).cached
    changed = ProxyConfig(seed=1, size=32, train_per_class=3, val_per_class=2, generator_steps=2, patch=16,
                          families=("bilinear",))  # fmt: skip
    third = build_proxy(root, changed, progress=False)
    assert not third.cached
    assert not (root / "nearest").exists(), "the previous build's family folder is removed"
    assert len(list((root / "bilinear").rglob("*.jpg"))) == 2 * (3 + 2)


def test_refuses_a_folder_that_is_not_a_proxy_build(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a proxy benchmark"):
        build_proxy(tmp_path, ProxyConfig(families=("tconv",)), progress=False)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"families": ("tconv", "gan")}, "unknown"),
        ({"size": 30}, "multiple of 4"),
        ({"jpeg_quality": (90, 80)}, "jpeg_quality"),
        ({"train_per_class": 0}, "train_per_class"),
        ({"shortcut_cue": -1.0}, "shortcut_cue"),
    ],
)
def test_config_errors_name_the_problem(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ProxyConfig(**kwargs)


def test_cli_builds_and_prints_the_sharpness_table(tmp_path, capsys):
    from pinclip_sdk.cli import main

    out = tmp_path / "cli"
    args = ["data", "build-proxy", str(out), "--size", "32", "--train-per-class", "2", "--val-per-class", "2",
            "--generator-steps", "2", "--families", "pixelshuffle,denoiser"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "built in" in printed
    assert "| pixelshuffle |" in printed
    assert "| denoiser |" in printed
    assert main(args) == 0
    assert "reused" in capsys.readouterr().out


def test_cli_module_does_not_import_torch(tmp_path):
    code = (
        "import sys, pinclip_sdk.training.proxy.cli, pinclip_sdk.training.proxy;"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
