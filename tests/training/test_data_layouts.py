"""Every dataset layout is read from a generated miniature; bad trees fail with a clear message."""

from __future__ import annotations

from collections import Counter

import pytest

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.training.data import dataset_testing as mk
from pinclip_sdk.training.data import discover, scan


def _counts(samples):
    return Counter((s.split, s.generator, s.label) for s in samples)


@pytest.mark.parametrize("flat", [False, True])
def test_genimage_both_depths(tmp_path, flat):
    root = mk.make_genimage_dataset(tmp_path, generators=("SDv1.4", "BigGAN"), n_per_class=2, flat=flat)
    found = scan(root)
    assert found.layout == "genimage"
    expected = {
        (split, gen, label): 2
        for split in ("train", "val")
        for gen in ("SDv1.4", "BigGAN")
        for label in (0, 1)
    }
    assert _counts(found.samples) == expected
    fakes = [s for s in found.samples if s.label == 1]
    assert all(s.path.parent.name == "ai" for s in fakes)
    assert any("stable_diffusion_v_1_4" in s.path.parts for s in fakes) == (not flat)


def test_genimage_pointing_at_one_subset_and_split(tmp_path):
    mk.make_genimage_dataset(tmp_path, generators=("SDv1.4",), n_per_class=2)
    subset = tmp_path / "stable_diffusion_v_1_4" / "imagenet_ai_0419_sdv4"
    assert _counts(discover(subset, split="val")) == {("val", "SDv1.4", 0): 2, ("val", "SDv1.4", 1): 2}
    assert _counts(discover(subset / "train")) == {("train", "SDv1.4", 0): 2, ("train", "SDv1.4", 1): 2}


def test_discover_is_sorted_and_deterministic(tmp_path):
    root = mk.make_genimage_dataset(tmp_path, n_per_class=3)
    first = discover(root)
    assert first == discover(root)
    assert [str(s.path) for s in first] == sorted(str(s.path) for s in first)


@pytest.mark.parametrize("setting", ["I", "II"])
def test_aigibench_settings_and_robustness_roots(tmp_path, setting):
    root = mk.make_aigibench_dataset(
        tmp_path, setting=setting, test_subsets=("SDXL", "InstantID"), n_per_class=1
    )
    found = scan(root)
    assert found.layout == "aigibench"
    counts = _counts(found.samples)
    # two ProGAN classes (car, cat) merge into one generator
    assert counts[("train", "ProGAN", 0)] == 2
    assert (counts[("train", "sdv1.4", 1)] == 1) == (setting == "II")
    assert f"AIGIBench training setting {setting} " in found.notes[0]
    for split in ("test", "jpeg", "noise", "sample"):
        assert counts[(split, "SDXL", 1)] == 1
        assert counts[(split, "InstantID", 0)] == 1
    assert {s.generator for s in discover(root, split="jpeg")} == {"SDXL", "InstantID"}


def test_aigibench_detected_from_test_subsets_alone(tmp_path):
    root = mk.make_aigibench_dataset(
        tmp_path, setting="I", test_subsets=("FLUX1-dev",), robustness=(), n_per_class=1
    )
    found = scan(root / "test")
    assert found.layout == "aigibench"
    assert {(s.split, s.generator) for s in found.samples} == {("test", "FLUX1-dev")}


@pytest.mark.parametrize("class_level", [(), ("progan",)])
def test_forensynths_with_and_without_class_level(tmp_path, class_level):
    root = mk.make_forensynths_dataset(
        tmp_path,
        train_classes=("car", "horse"),
        test_generators=("progan", "biggan"),
        class_level=class_level,
        n_per_class=1,
    )
    found = scan(root)
    assert found.layout == "forensynths"
    counts = _counts(found.samples)
    assert counts[("train", "progan", 0)] == 2  # LSUN class folders are ProGAN
    assert counts[("test", "progan", 1)] == (2 if class_level else 1)
    assert counts[("test", "biggan", 1)] == 1
    # a UnivFD-style test root without the split level
    assert {s.generator for s in discover(root / "test")} == {"progan", "biggan"}


def test_chameleon(tmp_path):
    root = mk.make_chameleon_dataset(tmp_path, n_per_class=2)
    found = scan(root)
    assert found.layout == "chameleon"
    assert _counts(found.samples) == {("test", "Chameleon", 0): 2, ("test", "Chameleon", 1): 2}
    assert scan(root / "test").layout == "chameleon"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_image_list(tmp_path, fmt):
    image_list = mk.make_image_list_dataset(tmp_path, fmt=fmt, generators=("a", "b"), n_per_class=2)
    found = scan(image_list)
    assert found.layout == "image-list"
    assert _counts(found.samples) == {
        (sp, g, lab): 2 for sp in ("train", "val") for g in ("a", "b") for lab in (0, 1)
    }
    assert all(s.path.is_absolute() and s.path.is_file() for s in found.samples)
    assert len(discover(image_list, split="val")) == 8
    # `manifest`, the layout's earlier name, is still accepted
    assert scan(image_list, layout="manifest").layout == "image-list"


def test_image_list_optional_columns_and_errors(tmp_path):
    mk.make_folder_dataset(tmp_path / "imgs", n_per_class=1)
    (tmp_path / "m.csv").write_text("path,label\nimgs/real/real_0000.JPEG,REAL\nimgs/fake/fake_0000.png,1\n")
    samples = discover(tmp_path / "m.csv")
    assert [(s.label, s.generator, s.split) for s in samples] == [
        (1, "unspecified", None),
        (0, "unspecified", None),
    ]
    (tmp_path / "bad.csv").write_text("path,label\nimgs/real/real_0000.JPEG,maybe\n")
    with pytest.raises(DatasetError, match=r"bad.csv:2: label 'maybe'"):
        discover(tmp_path / "bad.csv")
    (tmp_path / "missing.jsonl").write_text('{"path": "nope.png", "label": 1}\n')
    with pytest.raises(DatasetError, match="1 listed file.*nope.png"):
        discover(tmp_path / "missing.jsonl")
    (tmp_path / "nolabel.csv").write_text("path\nimgs/fake/fake_0000.png\n")
    with pytest.raises(DatasetError, match="no 'label' column"):
        discover(tmp_path / "nolabel.csv")


def test_plain_real_fake_folders(tmp_path):
    root = mk.make_folder_dataset(tmp_path / "mine", n_per_class=2)
    assert _counts(discover(root)) == {(None, "mine", 0): 2, (None, "mine", 1): 2}
    nested = mk.make_folder_dataset(
        tmp_path / "gens", generators=("sdxl", "mj"), splits=("train", "val"), n_per_class=1
    )
    found = scan(nested)
    assert found.layout == "folders"
    assert _counts(discover(nested, split="val")) == {
        ("val", "gens", 0): 1,
        ("val", "sdxl", 1): 1,
        ("val", "mj", 1): 1,
    }


def test_split_request_on_a_layout_without_splits_keeps_all(tmp_path):
    root = mk.make_folder_dataset(tmp_path, n_per_class=1)
    found = scan(root, split="train")
    assert len(found.samples) == 2
    assert "no split folders" in found.notes[0]


def test_error_no_images(tmp_path):
    (tmp_path / "empty" / "0_real").mkdir(parents=True)
    (tmp_path / "empty" / "1_fake").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        discover(tmp_path / "empty")


def test_error_single_class_names_what_it_found(tmp_path):
    mk.make_folder_dataset(tmp_path, n_per_class=2)
    import shutil

    shutil.rmtree(tmp_path / "fake")
    with pytest.raises(DatasetError, match=r"only real images \(2\)"):
        discover(tmp_path)
    assert len(discover(tmp_path, allow_single_class=True)) == 2


def test_error_unknown_layout_lists_folders_and_layouts(tmp_path):
    mk.make_folder_dataset(tmp_path / "stuff", n_per_class=1)
    (tmp_path / "stuff" / "real").rename(tmp_path / "stuff" / "photos")
    (tmp_path / "stuff" / "fake").rename(tmp_path / "stuff" / "generated")
    with pytest.raises(DatasetError, match="unknown dataset layout") as info:
        discover(tmp_path / "stuff")
    message = str(info.value)
    assert "generated/" in message
    assert "photos/" in message
    for layout in ("genimage", "aigibench", "forensynths", "chameleon", "image-list", "folders"):
        assert layout in message


def test_error_missing_path_split_and_layout(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "nope")
    root = mk.make_genimage_dataset(tmp_path / "g", generators=("ADM",), n_per_class=1, splits=("val",))
    with pytest.raises(DatasetError, match=r"no images in split 'train'; splits found: val \(2\)"):
        discover(root, split="train")
    with pytest.raises(DatasetError, match="no 0_real/ or 1_fake/ folders for layout 'forensynths'"):
        discover(root, layout="forensynths")
    with pytest.raises(DatasetError, match="unknown layout 'imagenet'"):
        discover(root, layout="imagenet")


def test_mixed_layouts_are_refused(tmp_path):
    mk.make_genimage_dataset(tmp_path / "a", generators=("ADM",), n_per_class=1)
    mk.make_chameleon_dataset(tmp_path / "b", n_per_class=1)
    with pytest.raises(DatasetError, match="mixes layouts"):
        discover(tmp_path)
    assert {s.generator for s in discover(tmp_path, layout="genimage")} == {"ADM"}


def test_non_image_files_are_counted(tmp_path):
    root = mk.make_chameleon_dataset(tmp_path, n_per_class=1)
    (root / "test" / "0_real" / "README.txt").write_text("notes")
    assert scan(root).skipped_files == 1


def test_image_list_with_byte_order_mark_and_symlinked_folders(tmp_path):
    real_data = mk.make_folder_dataset(tmp_path / "store", n_per_class=1)
    (tmp_path / "linked" / "fake").mkdir(parents=True)
    (tmp_path / "linked" / "real").symlink_to(real_data / "real", target_is_directory=True)
    (tmp_path / "linked" / "fake" / "sdxl").symlink_to(real_data / "fake", target_is_directory=True)
    assert _counts(discover(tmp_path / "linked")) == {(None, "linked", 0): 1, (None, "sdxl", 1): 1}
    (tmp_path / "bom.csv").write_text("\ufeffpath,label\nstore/fake/fake_0000.png,fake\n", encoding="utf-8")
    assert [s.label for s in discover(tmp_path / "bom.csv", allow_single_class=True)] == [1]


def test_univfd_diffusion_set_shares_its_reals(tmp_path):
    # UnivFD's diffusion_datasets: one folder of LAION reals serves every generator's fakes
    import numpy as np

    from pinclip_sdk.training.metrics import detection_metrics

    root = tmp_path / "diffusion_datasets"
    rng = np.random.default_rng(0)
    mk.write_class(root / "laion" / "0_real", 0, 3, 32, rng)
    for generator in ("dalle", "glide_100_10"):
        mk.write_class(root / generator / "1_fake", 1, 2, 32, rng)
    samples = discover(root)
    assert _counts(samples) == {(None, "laion", 0): 3, (None, "dalle", 1): 2, (None, "glide_100_10", 1): 2}
    result = detection_metrics(
        [s.label for s in samples],
        [float(s.label) for s in samples],
        [s.generator for s in samples],
        threshold=0.5,
    )
    assert set(result["generators"]) == {"dalle", "glide_100_10"}
    assert all(g["reals"] == "shared" and g["n_real"] == 3 for g in result["generators"].values())
    assert result["real_only_groups"] == ["laion"]
