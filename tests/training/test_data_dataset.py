"""`ImageDataset`, `collate` and the train/eval transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.training.data import ImageDataset, Sample, collate, discover
from pinclip_sdk.training.data import dataset_testing as mk
from pinclip_sdk.training.data.augment import (
    AugmentConfig,
    build_eval_transform,
    build_train_transform,
    gaussian_blur,
    jpeg_recompress,
)

SPEC = PreprocessSpec(size=32)


@pytest.fixture
def image():
    return mk.make_image(np.random.default_rng(0), 1, (48, 40))


def test_dataset_items_and_unreadable_files_reported(tmp_path):
    root = mk.make_folder_dataset(tmp_path, n_per_class=2)
    bad = mk.write_corrupt_image(root / "fake" / "zz_broken.png")
    samples = discover(root)
    dataset = ImageDataset(samples, build_eval_transform(SPEC))
    item = dataset[0]
    assert item["pixels"].shape == (3, 32, 32)
    assert item["pixels"].dtype == torch.float32
    assert (item["label"], item["generator"], item["path"]) == (
        samples[0].label,
        samples[0].generator,
        str(samples[0].path),
    )
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate)
    batches = list(loader)
    assert sum(len(b["label"]) for b in batches) == 4
    assert [u for b in batches for u in b["unreadable"]][0][0] == str(bad)
    assert "cannot decode image" in [u for b in batches for u in b["unreadable"]][0][1]
    assert dataset.unreadable == 1
    assert batches[0]["pixels"].shape[1:] == (3, 32, 32)
    assert batches[0]["label"].dtype == torch.long


def test_collate_of_only_unreadable_items_is_an_empty_batch(tmp_path):
    bad = mk.write_corrupt_image(tmp_path / "x.jpg")
    dataset = ImageDataset([Sample(bad, 1, "g", None)], build_eval_transform(SPEC))
    batch = collate([dataset[0]])
    assert batch["pixels"].shape[0] == 0
    assert len(batch["label"]) == 0
    assert batch["unreadable"][0][0] == str(bad)


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessSpec(size=(32, 32)),
        PreprocessSpec(size=(24, 40), resize_mode="squash", interpolation="bilinear"),
    ],
)
def test_eval_transform_is_open_clips_bit_for_bit(image, spec):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = PreprocessCfg(size=spec.size, interpolation=spec.interpolation, resize_mode=spec.resize_mode)
    reference = image_transform_v2(cfg, is_train=False)(image)
    ours = build_eval_transform(spec)(image)
    assert ours.shape == (3, *spec.size)
    assert torch.equal(ours, reference)


def test_eval_transform_pickles_for_workers(tmp_path, image):
    import pickle

    transform = build_eval_transform(SPEC)
    expected = transform(image)
    clone = pickle.loads(pickle.dumps(transform))
    assert torch.equal(clone(image), expected)
    samples = discover(mk.make_folder_dataset(tmp_path, n_per_class=2))
    loader = DataLoader(ImageDataset(samples, transform), batch_size=4, num_workers=1, collate_fn=collate)
    (batch,) = list(loader)
    assert torch.equal(batch["pixels"][0], transform(Image.open(samples[0].path).convert("RGB")))


def test_train_transform_is_seeded_and_random(image):
    transform = build_train_transform(
        AugmentConfig(blur_prob=0.5, jpeg_prob=0.5, resize_jitter=(0.9, 1.3)), SPEC
    )
    torch.manual_seed(3)
    first = [transform(image) for _ in range(4)]
    torch.manual_seed(3)
    again = [transform(image) for _ in range(4)]
    for a, b in zip(first, again, strict=True):
        assert a.shape == (3, 32, 32)
        torch.testing.assert_close(a, b)
    assert not torch.equal(first[0], first[1])
    generator = torch.Generator().manual_seed(3)
    pinned = build_train_transform(AugmentConfig(), SPEC, generator)(image)
    assert pinned.shape == (3, 32, 32)


def test_train_transform_without_augmentation_is_a_centre_crop(image):
    cfg = AugmentConfig(crop_prob=0.0, flip_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, resize_jitter=(1.0, 1.0))
    out = build_train_transform(cfg, SPEC)(image)
    torch.testing.assert_close(out, build_eval_transform(SPEC)(image), atol=0.02, rtol=0)


def test_flip_and_padding():
    left_red = Image.new("RGB", (64, 32), (0, 0, 0))
    left_red.paste((255, 0, 0), (0, 0, 32, 32))
    flip = AugmentConfig(crop_prob=0.0, flip_prob=1.0, blur_prob=0.0, jpeg_prob=0.0, resize_jitter=(1.0, 1.0))
    out = build_train_transform(flip, SPEC)(left_red)
    # centre crop of a 64x32 image keeps columns 16..47; flipped, the red half is on the right
    assert out[0, :, -1].mean() > out[0, :, 0].mean()
    shrink = AugmentConfig(
        crop_prob=1.0, flip_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, resize_jitter=(0.5, 0.5)
    )
    padded = build_train_transform(shrink, SPEC)(Image.new("RGB", (32, 32), (255, 255, 255)))
    assert padded.shape == (3, 32, 32)
    assert padded[0, 0, 0] < padded[0, 16, 16]  # black padding around the white 16x16 image


def test_degradation_helpers(image):
    assert jpeg_recompress(image, 30).size == image.size
    assert gaussian_blur(image, 0) is image
    blurred = np.asarray(gaussian_blur(image, 2.0), dtype=float)
    assert (
        np.abs(np.diff(blurred, axis=1)).mean()
        < np.abs(np.diff(np.asarray(image, dtype=float), axis=1)).mean()
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flip_prob": 1.5}, "flip_prob"),
        ({"jpeg_quality": (80, 30)}, "jpeg_quality"),
        ({"jpeg_quality": (30, 101)}, "1..100"),
        ({"blur_sigma": (-1, 2)}, "blur_sigma"),
    ],
)
def test_augment_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AugmentConfig(**kwargs)


def test_augment_config_from_dict():
    cfg = AugmentConfig.from_dict({"jpeg_prob": 0.3, "jpeg_quality": [40, 90]})
    assert cfg.jpeg_quality == (40, 90)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown keys \\['jpg_prob'\\]"):
        AugmentConfig.from_dict({"jpg_prob": 0.1})


@pytest.mark.parametrize("exif_transpose", [False, True])
def test_dataset_pixels_are_the_runtime_pixels_for_every_mode(tmp_path, exif_transpose):
    """Training's eval items equal what the deployed Preprocessor makes of the same file, bit for bit,
    for the modes where converting to RGB before the resize would differ (RGBA, P, LA, CMYK, ...)."""
    from pinclip_sdk.preprocess import Preprocessor

    spec = PreprocessSpec(size=32, exif_transpose=exif_transpose)
    paths = mk.write_odd_mode_images(tmp_path, np.random.default_rng(3), label=1)
    modes = set()
    for path in paths:
        with Image.open(path) as opened:
            modes.add(opened.mode)
    assert {"RGBA", "P", "LA", "CMYK", "I;16", "1"} <= modes
    dataset = ImageDataset([Sample(p, 1, "g") for p in paths], build_eval_transform(spec))
    assert dataset.exif_transpose is exif_transpose
    runtime = Preprocessor(spec, num_threads=1)
    for index, path in enumerate(paths):
        item = dataset[index]
        assert item["error"] is None, item["error"]
        np.testing.assert_array_equal(item["pixels"].numpy(), runtime(path), err_msg=str(path))
    rotated = next(i for i, p in enumerate(paths) if p.name.startswith("exif_rotated"))
    stored = Preprocessor(PreprocessSpec(size=32), num_threads=1)(paths[rotated])
    assert np.array_equal(dataset[rotated]["pixels"].numpy(), stored) is not exif_transpose
