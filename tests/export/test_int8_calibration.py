"""The INT8 calibration adapter: balanced, deterministic, hashed, preprocessed by the runtime's core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pinclip_sdk.errors import CalibrationError, ConfigError
from pinclip_sdk.export.int8_calibration import (
    Int8CalibrationSource,
    hash_file_list,
    select_calibration_files,
)


def test_balanced_deterministic_and_hashed(dataset: Path) -> None:
    files = select_calibration_files(dataset, size=20, seed=0)
    assert files.labels.count(0) == files.labels.count(1) == 10
    assert list(files.paths) == sorted(files.paths, key=lambda p: p.as_posix())
    again = select_calibration_files(dataset, size=20, seed=0)
    assert again.paths == files.paths
    assert again.sha256 == files.sha256 == hash_file_list(list(reversed(files.paths)), dataset)
    assert select_calibration_files(dataset, size=20, seed=1).sha256 != files.sha256
    everything = select_calibration_files(dataset, size=10_000)
    assert len(everything.paths) == 96  # asks for more than exist: takes all, still both classes


def test_one_class_is_refused(dataset: Path) -> None:
    from pinclip_sdk.errors import PinclipError

    reals = next(dataset.rglob("nature"))
    with pytest.raises(PinclipError, match=r"real|class"):
        select_calibration_files(reals, size=8, layout="reals")


def test_source_uses_the_runtime_preprocessor(dataset: Path) -> None:
    from pinclip_sdk.preprocess import Preprocessor
    from pinclip_sdk.spec import PreprocessSpec

    spec = PreprocessSpec(size=32)
    files = select_calibration_files(dataset, size=10)
    with Int8CalibrationSource.from_files(files, spec, batch_size=4) as source:
        batches = list(source.batches())
        assert [len(b) for b in batches] == [4, 4, 2]
        expected = Preprocessor(spec).batch(list(files.paths))
        np.testing.assert_array_equal(np.concatenate(batches), expected)
        reader = source.ort_reader()
        fed = []
        while (item := reader.get_next()) is not None:
            fed.append(item["pixel_values"])
        assert len(fed) == 3
        assert source.nncf_dataset().get_length() == 3


def test_source_checks_its_inputs() -> None:
    with pytest.raises(CalibrationError, match="calibration source is empty"):
        Int8CalibrationSource([])
    bad = Int8CalibrationSource([np.zeros((3, 4, 4), np.float32), np.full((3, 4, 4), np.nan, np.float32)])
    with pytest.raises(CalibrationError, match="NaN"):
        bad.as_array()
    bad.close()


def test_export_config_validates_up_front() -> None:
    from pinclip_sdk.export.export_config import ExportConfig

    assert ExportConfig(targets="trt,ov").targets == ("tensorrt", "openvino")
    with pytest.raises(ConfigError, match="Did you mean 'openvino'"):
        ExportConfig(targets="openvin")
    with pytest.raises(ConfigError, match="INT8 needs calibration images"):
        ExportConfig(int8=True)
