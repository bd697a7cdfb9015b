"""The service's limits: configuration, admission control, body size, content type and API key.

Each limit answers with its own status (`RequestRejected`), so a client can tell "retry later"
(503) from "this upload can never work" (413, 415, 422) from "not allowed" (401). Admission counts
images from the moment a request is accepted until its pixels enter a running batch, which bounds
the memory held by waiting requests whatever the number of clients.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.imageio import DEFAULT_MAX_PIXELS

RAW_TYPES = ("application/octet-stream",)  # and every image/* type
MULTIPART_TYPE = "multipart/form-data"
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class ServeConfig:
    """How the service batches and what it refuses.

    Args:
        max_batch: most images per backend call.
        max_wait_ms: how long the first image of a batch waits for others (0: never wait).
        max_queue: most images admitted and not yet in a running batch; above it requests get 503.
        timeout_s: per-request deadline (reading the body included); past it the request gets 504.
        max_body_bytes: largest request body; above it 413.
        max_pixels: largest image (width * height), checked on the header before decoding; above it 413.
        api_key: when set, `Authorization: Bearer <api_key>` is required except on health and readiness.
        preprocess_workers: threads decoding and preprocessing (None: the detector's own count).
    """

    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 64
    timeout_s: float = 30.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    api_key: str | None = None
    preprocess_workers: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "max_batch": self.max_batch >= 1,
            "max_wait_ms": self.max_wait_ms >= 0,
            "max_queue": self.max_queue >= 1,
            "timeout_s": self.timeout_s > 0,
            "max_body_bytes": self.max_body_bytes >= 1,
            "max_pixels": self.max_pixels is None or self.max_pixels >= 1,
            "preprocess_workers": self.preprocess_workers is None or self.preprocess_workers >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"serve: invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
        if self.api_key is not None and not self.api_key:
            raise ConfigError("serve: the API key is empty")

    def public(self) -> dict[str, object]:
        """The settings a client may see (never the API key)."""
        return {
            "max_batch": self.max_batch,
            "max_wait_ms": self.max_wait_ms,
            "max_queue": self.max_queue,
            "timeout_s": self.timeout_s,
            "max_body_bytes": self.max_body_bytes,
            "max_pixels": self.max_pixels,
            "auth": self.api_key is not None,
        }


class RequestRejected(Exception):
    """A request refused with an HTTP status, a message for the client and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def overloaded(what: str) -> RequestRejected:
    return RequestRejected(503, what, {"Retry-After": str(RETRY_AFTER_S)})


class Admission:
    """Counts admitted images against `limit`; `on_change(depth)` reports the count (a gauge)."""

    def __init__(self, limit: int, on_change: Callable[[int], None] = lambda depth: None) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()
        self._on_change = on_change

    @property
    def depth(self) -> int:
        return self._count

    def reserve(self, n: int, *, held: int = 0) -> list[Ticket]:
        """`n` tickets, or `RequestRejected(503)` when they do not fit.

        A caller already holding `held` tickets may exceed the limit when nobody else waits, so a
        multi-file request larger than the queue still runs on an idle service.
        """
        with self._lock:
            if self._count + n > self.limit and self._count != held:
                raise overloaded(f"queue full ({self._count} of {self.limit} images waiting); retry later")
            self._count += n
            depth = self._count
        self._on_change(depth)
        return [Ticket(self) for _ in range(n)]

    def _release(self) -> None:
        with self._lock:
            self._count -= 1
            depth = self._count
        self._on_change(depth)


class Ticket:
    """One admitted image's place; released once, when it enters a batch or its request ends."""

    __slots__ = ("_admission", "released")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._admission._release()


def body_kind(content_type: str | None) -> str:
    """`raw` or `multipart` for an accepted `Content-Type`; `RequestRejected(415)` otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("image/") or media in RAW_TYPES:
        return "raw"
    if media == MULTIPART_TYPE:
        return "multipart"
    raise RequestRejected(
        415,
        f"unsupported Content-Type {content_type or '(none)'!r}: send the image as image/*, "
        f"application/octet-stream or {MULTIPART_TYPE} with `file` fields",
    )


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse a body whose declared length exceeds `limit` before reading it (413)."""
    if content_length is None:
        return
    try:
        length = int(content_length)
    except ValueError:
        raise RequestRejected(400, f"invalid Content-Length {content_length!r}") from None
    if length > limit:
        raise _too_large(length, limit)


async def limited(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass `stream` through, raising `RequestRejected(413)` once more than `limit` bytes arrived
    (a chunked upload declares no length)."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(seen, limit)
        yield chunk


def _too_large(size: int, limit: int) -> RequestRejected:
    return RequestRejected(413, f"request body of {size}+ bytes exceeds the limit of {limit} bytes")


def check_api_key(authorization: str | None, api_key: str | None) -> None:
    """`RequestRejected(401)` unless `Authorization: Bearer <api_key>` (compared in constant time)."""
    if api_key is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise RequestRejected(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})


def read_api_key(path: str) -> str:
    """The key in `path` (surrounding whitespace removed); `ConfigError` if unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--api-key-file {path}: cannot read ({exc})") from exc
    if not key:
        raise ConfigError(f"--api-key-file {path}: the file is empty")
    return key
