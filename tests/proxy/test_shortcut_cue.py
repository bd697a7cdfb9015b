"""The controlled-shortcut split: only the training fakes carry the cue, and the gap is measured."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk.training import data
from pinclip_sdk.training.data.sample import CUE_SPLIT
from pinclip_sdk.training.proxy import ProxyConfig, build_proxy, protocol
from pinclip_sdk.training.proxy.builder import STAMP_NAME, shortcut_texture, subset_dir

CLEAN = ProxyConfig(seed=5, size=32, train_per_class=6, val_per_class=5, generator_steps=4, patch=16,
                    families=("tconv",))  # fmt: skip
CUED = dataclasses.replace(CLEAN, shortcut_cue=6.0)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cue")
    build_proxy(root / "clean", CLEAN, progress=False)
    build_proxy(root / "cued", CUED, progress=False)
    return root / "clean", root / "cued"


def _files(root: Path, split: str, cls: str) -> list[Path]:
    return sorted((subset_dir(root, "tconv") / split / cls).glob("*.jpg"))


def _digests(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_only_train_fakes_carry_the_cue(builds):
    clean, cued = builds
    for split, cls in (("train", "nature"), ("val", "nature"), ("val", "ai")):
        assert _digests(_files(clean, split, cls)) == _digests(_files(cued, split, cls)), (split, cls)
    assert set(_digests(_files(clean, "train", "ai"))).isdisjoint(_digests(_files(cued, "train", "ai")))
    assert not (subset_dir(clean, "tconv") / CUE_SPLIT).exists()


def test_cue_split_is_the_val_fakes_plus_the_fixed_texture(builds):
    _, cued = builds
    plain, with_cue = _files(cued, "val", "ai"), _files(cued, CUE_SPLIT, "ai")
    assert len(with_cue) == len(plain) == CLEAN.val_per_class
    texture = shortcut_texture(CUED).ravel()
    for a, b in zip(plain, with_cue, strict=True):
        diff = (
            (np.asarray(Image.open(b), np.float32) - np.asarray(Image.open(a), np.float32)).mean(-1).ravel()
        )
        # JPEG blurs the +-6 pattern, but what survives still follows its sign pixel by pixel
        assert np.corrcoef(diff, texture)[0, 1] > 0.5


def test_a_cue_free_build_keeps_its_stamp(builds):
    clean, cued = builds
    assert "shortcut_cue" not in (clean / STAMP_NAME).read_text(encoding="utf-8")
    assert '"shortcut_cue": 6.0' in (cued / STAMP_NAME).read_text(encoding="utf-8")


def test_cue_samples_are_named_like_their_family(builds):
    clean, cued = builds
    assert protocol._cue_samples(clean) == []
    samples = protocol._cue_samples(cued)
    assert {(s.label, s.generator, s.split) for s in samples} == {(1, "proxy_tconv", CUE_SPLIT)}
    everything = data.discover(cued)  # no split asked: the cued copies keep their own split
    assert {s.split for s in everything} == {"train", "val", CUE_SPLIT}
    assert len([s for s in everything if s.split == "val"]) == 2 * len(samples)  # reals + clean fakes


def test_shortcut_gap_is_cued_minus_clean_fake_accuracy():
    result = {"generators": {"proxy_a": {"fake_acc": 0.25}, "proxy_b": {"fake_acc": 0.5}}}
    scores = np.array([1.0, 2.0, -1.0, 3.0, 0.5, -2.0])  # a: 2 of 3 above 0.75; b: 1 of 3
    generators = ["proxy_a"] * 3 + ["proxy_b"] * 3
    gap = protocol.shortcut_gap(result, generators, scores, threshold=0.75)
    assert gap["generators"]["proxy_a"] == pytest.approx(
        {"fake_acc_cue": 2 / 3, "fake_acc_clean": 0.25, "gap": 2 / 3 - 0.25}
    )
    assert gap["mean"]["gap"] == pytest.approx(((2 / 3 - 0.25) + (1 / 3 - 0.5)) / 2)
