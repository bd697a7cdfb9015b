"""One INT8 calibration adapter for all INT8 quantisers (docs/design.md#s26-one-int8-calibration-adapter).

`select_calibration_files` picks a balanced, deterministic subset of real and fake images from any
layout `training.data.discover` reads and hashes the file list. `Int8CalibrationSource` turns items into
float32 NCHW batches through the runtime's own preprocessing (`pinclip_sdk.preprocess.Preprocessor`,
the C++ core), caches them once in a `.npy` file, and hands them to onnxruntime (a
`CalibrationDataReader`), NNCF (an `nncf.Dataset`) or anything wanting one array.
"""

from __future__ import annotations

import hashlib
import logging
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.errors import CalibrationError
from pinclip_sdk.export.constants import INPUT_NAME
from pinclip_sdk.spec import PreprocessSpec

_logger = logging.getLogger(__name__)

DEFAULT_INT8_CALIBRATION_SIZE = 512
MIN_RECOMMENDED = 300  # TensorRT/ModelOpt ask for >= 500 for ViTs; NNCF's default subset is 300


@dataclass(frozen=True)
class CalibrationFiles:
    """The chosen images: sorted paths with labels, plus the hash recorded in the report."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    source: str
    sha256: str

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_images": len(self.paths),
            "n_real": self.labels.count(0),
            "n_fake": self.labels.count(1),
            "file_list_sha256": self.sha256,
        }


def hash_file_list(paths: Sequence[Path], root: Path | None = None) -> str:
    """sha256 of the sorted relative POSIX paths, one a line (stable across machines)."""
    names = sorted(_relative(p, root) for p in paths)
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def select_calibration_files(
    data: str | Path,
    size: int = DEFAULT_INT8_CALIBRATION_SIZE,
    seed: int = 0,
    layout: str = "auto",
    purpose: str = "INT8 calibration",
) -> CalibrationFiles:
    """Balanced real/fake subset of `data` (half each, as far as the data allows), deterministic.

    Raises:
        CalibrationError: fewer than 2 images or only one class.
    """
    from pinclip_sdk.training.data import discover

    if size < 2:
        raise CalibrationError(f"calibration size must be >= 2, got {size}")
    samples = sorted(discover(data, layout=layout), key=lambda s: Path(s.path).as_posix())
    by_label = {0: [s for s in samples if s.label == 0], 1: [s for s in samples if s.label == 1]}
    if not by_label[0] or not by_label[1]:
        counts = {k: len(v) for k, v in by_label.items()}
        raise CalibrationError(
            f"{data}: calibration needs real and fake images, found {counts} (0=real, 1=fake)"
        )
    rng = random.Random(seed)
    half = size // 2
    take_real = min(len(by_label[0]), max(half, size - len(by_label[1])))
    take_fake = min(len(by_label[1]), size - take_real)
    chosen = rng.sample(by_label[0], take_real) + rng.sample(by_label[1], take_fake)
    chosen.sort(key=lambda s: Path(s.path).as_posix())
    if purpose == "INT8 calibration" and len(chosen) < MIN_RECOMMENDED:
        _logger.warning(
            "calibrating INT8 on %d images (recommended >= %d); scales may be noisy",
            len(chosen),
            MIN_RECOMMENDED,
        )
    paths = tuple(Path(s.path) for s in chosen)
    return CalibrationFiles(
        paths=paths,
        labels=tuple(int(s.label) for s in chosen),
        source=str(data),
        sha256=hash_file_list(paths, Path(data)),
    )


class Int8CalibrationSource:
    """Float32 NCHW batches for INT8 calibration, from any items and a preprocessing transform.

    Args:
        items: anything indexable (image paths, arrays, PIL images).
        transform: `items[i:j] -> float32 [n, 3, H, W]`; `None` means the items are already
            `[3, H, W]` arrays.
        batch_size: images per batch handed to the quantisers.

    The batches are computed once and cached in a temporary `.npy` (memory-mapped), so every
    quantiser sees identical data and preprocessing runs once. `close()` deletes the cache.
    """

    def __init__(
        self,
        items: Sequence[Any],
        transform: Callable[[Sequence[Any]], np.ndarray] | None = None,
        batch_size: int = 8,
    ) -> None:
        if len(items) == 0:
            raise CalibrationError(
                "calibration source is empty: check the data path, the layout, and that it holds images"
            )
        if batch_size < 1:
            raise CalibrationError(f"calibration batch_size must be >= 1, got {batch_size}")
        self.items = items
        self.transform = transform
        self.batch_size = min(batch_size, len(items))
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._array: np.ndarray | None = None
        # set by `from_files`: preprocess a chunk straight into its rows of the cache
        self._fill: Callable[[Sequence[Any], np.ndarray], Any] | None = None
        self._item_shape: tuple[int, ...] | None = None

    @classmethod
    def from_files(
        cls, files: CalibrationFiles, spec: PreprocessSpec, batch_size: int = 8
    ) -> Int8CalibrationSource:
        """Preprocess image files exactly as the runtime does (`Preprocessor.batch`, the C++ core)."""
        from pinclip_sdk.preprocess import Preprocessor

        preprocessor = Preprocessor(spec)
        source = cls(list(files.paths), lambda chunk: preprocessor.batch(list(chunk)), batch_size)
        # the tiles view gives k rows per image: each image's cache entry is [k, 3, H, W]
        source._fill = lambda chunk, out: preprocessor.batch(list(chunk), out.reshape(-1, 3, *spec.size))
        tiles = spec.tiles_per_image
        source._item_shape = (3, *spec.size) if tiles == 1 else (tiles, 3, *spec.size)
        return source

    def __len__(self) -> int:
        return len(self.items)

    def as_array(self) -> np.ndarray:
        """All calibration inputs as one float32 `[N, 3, H, W]` array (memory-mapped cache; N is
        images x tiles for the tiles view: every tile is a model input to calibrate on)."""
        if self._array is None:
            self._array = self._materialize()
        return self._array.reshape(-1, *self._array.shape[-3:])

    def _materialize(self) -> np.ndarray:
        if self._fill is not None and self._item_shape is not None:
            return self._materialize_in_place(self._fill, self._item_shape)
        first = self._convert(self.items[: self.batch_size])
        array = self._new_cache(first.shape[1:])
        array[: len(first)] = first
        for start in range(len(first), len(self), self.batch_size):
            chunk = self._convert(self.items[start : start + self.batch_size])
            if chunk.shape[1:] != first.shape[1:]:
                raise CalibrationError(
                    f"calibration batch at {start} has shape {chunk.shape}, expected {first.shape}"
                )
            array[start : start + len(chunk)] = chunk
        array.flush()
        return array

    def _materialize_in_place(
        self, fill: Callable[[Sequence[Any], np.ndarray], Any], item_shape: tuple[int, int, int]
    ) -> np.ndarray:
        """The cache with each chunk preprocessed straight into its rows (no per-chunk copy)."""
        array = self._new_cache(item_shape)
        for start in range(0, len(self), self.batch_size):
            chunk = self.items[start : start + self.batch_size]
            rows = array[start : start + len(chunk)]
            fill(chunk, rows)
            _check_finite(rows)
        array.flush()
        return array

    def _new_cache(self, item_shape: tuple[int, ...]) -> np.ndarray:
        """An empty float32 `[len, *item_shape]` memory map in a temporary folder `close()` deletes."""
        self._tmpdir = tempfile.TemporaryDirectory(prefix="pinclip-calib-")
        cache_path = Path(self._tmpdir.name) / "calibration.npy"
        return np.lib.format.open_memmap(
            cache_path, mode="w+", dtype=np.float32, shape=(len(self), *item_shape)
        )

    def _convert(self, chunk: Sequence[Any]) -> np.ndarray:
        batch = np.stack([np.asarray(x) for x in chunk]) if self.transform is None else self.transform(chunk)
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1] != 3 or len(batch) != len(chunk):
            raise CalibrationError(f"calibration transform must give [n, 3, H, W] float32, got {batch.shape}")
        _check_finite(batch)
        return batch

    def batches(self) -> Iterator[np.ndarray]:
        """Yield `[b, 3, H, W]` float32 batches (the last may be smaller)."""
        array = self.as_array()
        for start in range(0, len(array), self.batch_size):
            yield np.ascontiguousarray(array[start : start + self.batch_size])

    def ort_reader(self) -> Any:
        """An `onnxruntime.quantization.CalibrationDataReader` over the batches."""
        from onnxruntime.quantization import CalibrationDataReader

        source = self

        class _Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._iterator = source.batches()

            def get_next(self) -> dict[str, np.ndarray] | None:
                batch = next(self._iterator, None)
                return None if batch is None else {INPUT_NAME: batch}

            def rewind(self) -> None:
                self._iterator = source.batches()

        return _Reader()

    def nncf_dataset(self) -> Any:
        """An `nncf.Dataset` whose items are the batches (subset size = number of batches)."""
        import nncf

        return nncf.Dataset(_Batches(self))

    @property
    def num_batches(self) -> int:
        return -(-len(self) // self.batch_size)

    def close(self) -> None:
        self._array = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> Int8CalibrationSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Batches:
    """Re-iterable view of a source's batches (NNCF walks the data more than once)."""

    def __init__(self, source: Int8CalibrationSource) -> None:
        self._source = source

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._source.batches()

    def __len__(self) -> int:
        return self._source.num_batches


def _check_finite(batch: np.ndarray) -> None:
    if not np.isfinite(batch).all():
        raise CalibrationError("calibration inputs contain NaN or inf")
