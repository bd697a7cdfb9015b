"""The gate's labelled images: chosen, preprocessed through the runtime's C++ core, summarised."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.export.int8_calibration import CalibrationFiles, hash_file_list, select_calibration_files
from pinclip_sdk.spec import PreprocessSpec

_logger = logging.getLogger(__name__)

RANDOM_GATE_SIZE = 64


@dataclass(frozen=True)
class GateSet:
    """Preprocessed gate inputs with labels (`None` for random inputs) and where they came from;
    `paths` are the image files in input order (empty for random inputs), so anyone can score the
    very images the gate scored (e.g. with a `Detector`)."""

    inputs: np.ndarray
    labels: np.ndarray | None
    summary: dict[str, Any]
    paths: tuple[Path, ...] = ()


def preprocess_files(
    paths: tuple[Path, ...] | list[Path], spec: PreprocessSpec, chunk: int = 32
) -> np.ndarray:
    """`Preprocessor.batch` over `paths` in chunks, each written into its rows of one float32
    array: the exact pixels the runtime would feed."""
    from pinclip_sdk.preprocess import Preprocessor

    preprocessor = Preprocessor(spec)  # float32
    inputs = preprocessor.empty_batch(len(paths))  # k rows per image for the tiles view
    rows = preprocessor.tiles_per_image
    for start in range(0, len(paths), chunk):
        part = list(paths[start : start + chunk])
        preprocessor.batch(part, inputs[start * rows : (start + len(part)) * rows])
    return inputs


def _held_out(
    calib: Path, used: CalibrationFiles, size: int, seed: int, layout: str
) -> CalibrationFiles | None:
    """Images of `calib` not used for calibration, balanced; `None` when both classes are not left."""
    from pinclip_sdk.training.data import discover

    used_paths = set(used.paths)
    rest = [s for s in discover(calib, layout=layout) if Path(s.path) not in used_paths]
    if not {0, 1} <= {s.label for s in rest}:
        return None
    import random

    rng = random.Random(seed + 1)
    by_label = {label: [s for s in rest if s.label == label] for label in (0, 1)}
    take = {label: min(len(by_label[label]), max(1, size // 2)) for label in (0, 1)}
    chosen = sorted(
        (s for label in (0, 1) for s in rng.sample(by_label[label], take[label])), key=lambda s: str(s.path)
    )
    paths = tuple(Path(s.path) for s in chosen)
    return CalibrationFiles(
        paths,
        tuple(int(s.label) for s in chosen),
        f"{calib} (held out from calibration)",
        hash_file_list(paths, calib),
    )


def build_gate_set(
    spec: PreprocessSpec,
    gate_data: Path | None,
    calib: Path | None,
    int8_calib_files: CalibrationFiles | None,
    size: int,
    seed: int = 0,
    layout: str = "auto",
) -> GateSet:
    """Choose the gate's images: `gate_data`, else `calib` minus the calibration images, else random."""
    files: CalibrationFiles | None = None
    note = ""
    if gate_data is not None:
        files = select_calibration_files(gate_data, size, seed + 1, layout, purpose="the gate")
    elif calib is not None:
        if int8_calib_files is None:
            files = select_calibration_files(calib, size, seed + 1, layout, purpose="the gate")
        else:
            files = _held_out(calib, int8_calib_files, size, seed, layout)
            if files is None:
                files, note = (
                    int8_calib_files,
                    "overlaps the calibration images (no held-out images of both classes)",
                )
                _logger.warning("gate set %s; pass --gate-data for an independent check", note)
    if files is None:
        rng = np.random.default_rng(seed)
        height, width = spec.size
        inputs = rng.standard_normal((RANDOM_GATE_SIZE, 3, height, width)).astype(np.float32)
        summary = {"source": "random inputs (no labelled data given)", "n_images": RANDOM_GATE_SIZE}
        _logger.warning("no labelled data: the gate checks logit parity on random inputs only (no AUC)")
        return GateSet(inputs, None, summary)
    if len(files.paths) == 0:
        raise DatasetError(f"{files.source}: no gate images")
    summary = files.summary()
    if note:
        summary["note"] = note
    return GateSet(preprocess_files(files.paths, spec), np.asarray(files.labels), summary, tuple(files.paths))
