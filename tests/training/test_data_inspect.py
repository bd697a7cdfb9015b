"""`pinclip data inspect`: counts, formats, sizes, unreadable files and shortcut warnings."""

from __future__ import annotations

import json

import numpy as np

from pinclip_sdk.cli import main
from pinclip_sdk.training.data import dataset_testing as mk
from pinclip_sdk.training.data.inspect import inspect_dataset


def test_genimage_format_and_size_shortcuts_are_flagged(tmp_path):
    root = mk.make_genimage_dataset(tmp_path, generators=("SDv1.4", "VQDM"), n_per_class=3)
    report = inspect_dataset(root)
    assert report["layout"] == "genimage"
    assert report["n_images"] == 24
    assert {"split": "val", "generator": "VQDM", "real": 3, "fake": 3} in report["counts"]
    assert report["classes"]["real"]["formats"] == {"JPEG": 12}
    assert report["classes"]["fake"]["formats"] == {"PNG": 12}
    assert report["classes"]["fake"]["sizes"]["most_common"] == [[32, 32], 12]
    assert abs(report["classes"]["real"]["jpeg_quality_median"] - 95) <= 2
    warnings = " ".join(report["warnings"])
    assert "file-format shortcut: 100% of reals vs 0% of fakes are JPEG" in warnings
    assert "image-size shortcut" in warnings
    assert report["sampled"]["all"]


def _reencode_all_as_png(root):
    from PIL import Image

    for path in sorted(root.rglob("*.JPEG")):
        with Image.open(path) as image:
            image.resize((32, 32)).save(path.with_suffix(".png"))
        path.unlink()


def test_no_shortcut_warning_when_classes_look_alike(tmp_path):
    root = mk.make_genimage_dataset(tmp_path, generators=("ADM",), n_per_class=3)
    _reencode_all_as_png(root)
    report = inspect_dataset(root)
    assert report["classes"]["real"]["formats"] == {"PNG": 6}
    assert report["warnings"] == []


def test_unreadable_files_counted_and_sampling_reported(tmp_path):
    root = mk.make_folder_dataset(tmp_path, generators=("g1", "g2"), n_per_class=6)
    mk.write_corrupt_image(root / "fake" / "g1" / "broken.png")
    everything = inspect_dataset(root, max_files=None)
    assert everything["unreadable"]["count"] == 1
    assert everything["unreadable"]["files"][0]["path"].endswith("broken.png")
    assert any("1 unreadable" in w for w in everything["warnings"])
    sampled = inspect_dataset(root, max_files=6)
    assert sampled["sampled"] == {"checked": 6, "of": 19, "all": False}


def test_suffix_mismatch_and_quality_shortcut(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, quality in (("real", 95), ("fake", 60)):
        for index in range(3):
            (tmp_path / label).mkdir(exist_ok=True)
            mk.make_image(rng, 0, 32).save(tmp_path / label / f"{index}.jpg", quality=quality)
    Image.new("RGB", (32, 32)).save(tmp_path / "fake" / "odd.jpg", format="PNG")
    report = inspect_dataset(tmp_path)
    assert report["suffix_mismatch"] == 1
    assert any("JPEG-quality shortcut: median quality 95 for reals vs 60" in w for w in report["warnings"])


def test_cli_text_and_json(tmp_path, capsys):
    root = mk.make_genimage_dataset(tmp_path, generators=("SDv1.4",), n_per_class=2)
    assert main(["data", "inspect", str(root)]) == 0
    text = capsys.readouterr().out
    assert "layout genimage, 8 images (4 real, 4 fake)" in text
    assert "file-format shortcut" in text
    assert main(["data", "inspect", str(root), "--json", "--max-files", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sampled"] == {"checked": 4, "of": 8, "all": False}


def test_cli_reports_dataset_errors(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_modules_and_data_package_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; import pinclip_sdk.training.cli_eval, pinclip_sdk.training.cli_inspect; "
        "from pinclip_sdk.training.data import discover, Sample, scan; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
