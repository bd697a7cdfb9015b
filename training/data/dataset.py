"""`ImageDataset` and `collate`: samples to tensors, with unreadable files reported, not hidden.

Files are opened by the runtime's decoder (`pinclip_sdk.imageio.load_image`): the image keeps its mode
(RGBA, P, CMYK, 16-bit, ...) and the transform converts it as open_clip does, so training, `pinclip eval`
and the deployed `Detector` score the same pixels. EXIF orientation follows the spec.

An image that cannot be decoded (truncated download, wrong suffix) becomes an item with
`pixels=None` and the reason; `collate` drops it from the batch and lists it under `unreadable`,
so the count survives DataLoader worker processes and the trainer / evaluator can report it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from pinclip_sdk.errors import InvalidImageError
from pinclip_sdk.imageio import load_image
from pinclip_sdk.training.data.sample import Sample

logger = logging.getLogger(__name__)

Transform = Callable[[Image.Image], torch.Tensor]


class ImageDataset(Dataset):
    """A torch `Dataset` over `Sample`s.

    Items are `{"pixels": Tensor[3,H,W] | None, "label": int, "generator": str, "path": str,
    "index": int, "error": str | None}`; `pixels` is `None` (and `error` says why) for an
    unreadable file. `unreadable` counts them when iterated in this process (`num_workers=0`).

    Args:
        samples: the images, e.g. from `discover`.
        transform: `PIL.Image -> Tensor[3,H,W]` (`build_train_transform` / `build_eval_transform`).
        image_transform: optional `PIL.Image -> PIL.Image` applied before `transform` (degradations);
            it receives the image converted to RGB, as a re-encoded copy would be.
        exif_transpose: rotate files by their EXIF orientation; None takes the transform's
            `spec.exif_transpose` (False when the transform has no spec).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: Transform,
        image_transform: Callable[[Image.Image], Image.Image] | None = None,
        *,
        exif_transpose: bool | None = None,
    ) -> None:
        if exif_transpose is None:
            spec = getattr(transform, "spec", None)
            exif_transpose = bool(getattr(spec, "exif_transpose", False))
        self.exif_transpose = exif_transpose
        self.samples = list(samples)
        self.transform = transform
        self.image_transform = image_transform
        self.unreadable = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        item: dict[str, Any] = {
            "pixels": None,
            "label": int(sample.label),
            "generator": sample.generator,
            "path": str(sample.path),
            "index": int(index),
            "error": None,
        }
        try:
            image = load_image(sample.path, exif_transpose=self.exif_transpose)
            if self.image_transform is not None:
                image = self.image_transform(image.convert("RGB"))
            item["pixels"] = self.transform(image)
        except InvalidImageError as exc:  # undecodable, or too large (ImageTooLargeError)
            self.unreadable += 1
            logger.warning("%s", exc)
            item["error"] = str(exc)
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack readable items into a batch; unreadable ones go to `batch["unreadable"]` as `(path, error)`.

    Returns:
        `{"pixels": Tensor[N,3,H,W], "label": LongTensor[N], "generator": list[str], "path": list[str],
        "index": LongTensor[N], "unreadable": list[tuple[str, str]]}`; `N` may be 0 when every item
        of the batch was unreadable (`pixels` is then an empty tensor).
    """
    good = [item for item in items if item["pixels"] is not None]
    unreadable = [(item["path"], item["error"]) for item in items if item["pixels"] is None]
    # default_collate stacks straight into shared memory inside a DataLoader worker, so the batch
    # crosses to the trainer without another copy
    pixels = default_collate([item["pixels"] for item in good]) if good else torch.empty(0, 3, 0, 0)
    return {
        "pixels": pixels,
        "label": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "generator": [item["generator"] for item in good],
        "path": [item["path"] for item in good],
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "unreadable": unreadable,
    }
