"""Which files the runtime opens: every suffix training reads, regular files only, EXIF orientation."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import Detector
from pinclip_sdk.cli import main
from pinclip_sdk.errors import InvalidImageError
from pinclip_sdk.imageio import IMAGE_SUFFIXES, load_image
from pinclip_sdk.training.data.discover import discover


def _write_every_format(root, array):
    image = Image.fromarray(array)
    for suffix in sorted(IMAGE_SUFFIXES):
        target = root / f"img{suffix}"
        if suffix == ".ico":
            image.resize((64, 64)).save(target)
        elif suffix == ".pgm":
            image.convert("L").save(target)
        else:
            image.save(target, format={".jfif": "JPEG"}.get(suffix))
    return sorted(root.iterdir())


def test_detect_scores_every_suffix_training_reads(tiny_bundle, images, tmp_path):
    folder = tmp_path / "all"
    (folder / "0_real").mkdir(parents=True)
    (folder / "1_fake").mkdir()
    written = _write_every_format(folder / "0_real", images[0])
    _write_every_format(folder / "1_fake", images[1])
    trained_on = {s.path.name for s in discover(folder) if s.label == 0}
    assert trained_on == {p.name for p in written}

    out = tmp_path / "rows.jsonl"
    argv = ["detect", str(folder / "0_real"), "--model", str(tiny_bundle), "--format", "jsonl"]
    code = main([*argv, "-o", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0, rows
    assert sorted(Path(r["source"]).name for r in rows) == sorted(trained_on)
    assert all(r["label"] != "error" for r in rows)


def test_a_folder_of_gifs_is_not_empty(tiny_bundle, images, tmp_path, capsys):
    for i in range(3):
        Image.fromarray(images[i]).save(tmp_path / f"frame{i}.gif")
    assert main(["detect", str(tmp_path), "--model", str(tiny_bundle)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 3


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_refused_at_once(tiny_bundle, tmp_path):
    fifo = tmp_path / "camera.jpg"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def attempt():
        try:
            load_image(fifo)
        except InvalidImageError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the reader before failing, so the test run itself cannot hang
        with open(fifo, "wb"):
            pass
        pytest.fail("load_image blocked on a FIFO")
    [error] = outcome
    assert "not a regular file" in str(error)
    assert "camera.jpg" in str(error)
    with Detector(tiny_bundle, backend="onnxruntime") as detector:
        [result] = detector.predict_batch([str(fifo)])
        assert result.label == "error"
        assert "not a regular file" in result.error


def test_exif_orientation_is_an_option_of_detector_and_detect(tiny_bundle, images, tmp_path):
    array = np.ascontiguousarray(images[2][:, : images[2].shape[0] // 2])  # not square: rotating changes it
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    path = tmp_path / "phone.jpg"
    Image.fromarray(array).save(path, exif=exif, quality=95)

    with Detector(tiny_bundle, backend="onnxruntime") as stored, Detector(
        tiny_bundle, backend="onnxruntime", exif_transpose=True
    ) as upright:
        assert stored.predict(path).logit != pytest.approx(upright.predict(path).logit, abs=1e-6)
        assert upright.predict(path).logit == pytest.approx(
            stored.predict(load_image(path, exif_transpose=True)).logit, abs=1e-6
        )

    out = tmp_path / "rows.jsonl"
    argv = ["detect", str(path), "--model", str(tiny_bundle), "--backend", "onnxruntime"]
    assert main([*argv, "--format", "jsonl", "--exif-transpose", "-o", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    with Detector(tiny_bundle, backend="onnxruntime", exif_transpose=True) as upright:
        assert row["p_fake"] == pytest.approx(upright.predict(path).p_fake, abs=1e-6)
