"""`pinclip serve`: an HTTP detection service (Starlette on uvicorn) around one `Detector`.

Clients post image bytes and get the calibrated verdict the SDK would give in-process. Requests
from many clients are micro-batched into the backend (`batcher`), admission is bounded so memory
never grows with the load (`limits`), and every stage is measured for Prometheus (`metrics`).
Nothing here imports torch. docs/serving.md has the endpoints, limits and error codes.
"""

from __future__ import annotations

from pinclip_sdk.serve.app import ServeState, create_app
from pinclip_sdk.serve.limits import ServeConfig

__all__ = ["ServeConfig", "ServeState", "create_app"]
