"""Datasets: layout readers, `discover`, `ImageDataset`, `collate`, augmentation, `inspect`.

`discover` and `Sample` need no torch; `ImageDataset` and `collate` (torch) load on first use, so
the CLI can import this package cheaply.
"""

from __future__ import annotations

from typing import Any

from pinclip_sdk.training.data.discover import LAYOUT_HELP, LAYOUTS, Discovery, discover, scan
from pinclip_sdk.training.data.sample import FAKE, REAL, Sample

__all__ = [
    "FAKE",
    "LAYOUTS",
    "LAYOUT_HELP",
    "REAL",
    "Discovery",
    "ImageDataset",
    "Sample",
    "collate",
    "discover",
    "scan",
]


def __getattr__(name: str) -> Any:
    if name in ("ImageDataset", "collate"):
        from pinclip_sdk.training.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
