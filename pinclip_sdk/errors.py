"""Typed errors raised by the SDK.

Every error names the input it is about and, where there is one, the fix. Callers catch
`PinclipError` to handle anything the SDK raises on purpose; anything else is a bug.
"""

from __future__ import annotations


class PinclipError(Exception):
    """Base class of every error the SDK raises on purpose."""


class InvalidImageError(PinclipError, ValueError):
    """An image (array, file, bytes) cannot be used: wrong dtype, shape, size, or not decodable."""


class ImageTooLargeError(InvalidImageError):
    """An image exceeds the configured pixel limit (decompression-bomb protection)."""


class ConfigError(PinclipError, ValueError):
    """A configuration value is invalid or inconsistent."""


class DatasetError(PinclipError):
    """A dataset path cannot be used: no images, a single class, an unknown layout."""


class CheckpointError(PinclipError):
    """A checkpoint is missing, corrupt, or does not match the model it is loaded into."""


class TrainingError(PinclipError):
    """Training cannot go on (for example a non-finite loss)."""


class ExportError(PinclipError):
    """An export step failed (ONNX export, quantisation, compilation)."""


class CalibrationError(PinclipError):
    """INT8 or threshold calibration failed (too few images, one class only, ...)."""


class GateFailedError(ExportError):
    """A compiled artifact disagrees with the FP32 reference beyond its gate."""


class BundleError(PinclipError):
    """A model bundle is missing, tampered with, truncated, or of an unknown schema."""


class BackendUnavailableError(PinclipError):
    """A backend cannot load on this machine; the message names the extra to install."""


class BackendError(PinclipError):
    """A backend failed while running inference."""


class VideoError(InvalidImageError):
    """A video cannot be scored: not a container PyAV can open, no video stream, or no frame decodable."""
