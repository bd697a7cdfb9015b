"""Serve a model bundle over HTTP: POST image bytes to /v1/detect, get the calibrated verdict.

Requests from concurrent clients are micro-batched into the backend; the queue, the body size, the
pixels per image and the time per request are bounded (503, 413, 504), undecodable uploads get 422.
Each answer carries the upload's provenance findings (`evidence`: C2PA, XMP, PNG text, EXIF;
--no-evidence turns it off), which never change the score. /healthz, /readyz, /v1/model and
/metrics (Prometheus) serve operations. Binds to 127.0.0.1 unless --host says otherwise. SIGTERM
stops accepting, answers what is in flight and exits 0.
Needs the `serve` extra (starlette, uvicorn, python-multipart, prometheus-client); docs/serving.md.

Exit codes: 0 stopped by a signal, 1 the model did not load (or another fatal error), 2 usage error.

Examples:
    pinclip serve --model model.pinclip
    pinclip serve --model model.pinclip --host 0.0.0.0 --port 8080 --max-batch 16 --api-key-file key.txt
    curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8080/v1/detect
"""

from __future__ import annotations

import argparse
import functools
import signal
import socket
import sys
from typing import Any

from pinclip_sdk.backends.base import BACKENDS
from pinclip_sdk.backends.select import PRECISIONS
from pinclip_sdk.cli.detect import add_provenance_arguments

DEFAULT_MAX_PIXELS = 40_000_000  # an 8K frame (33 Mpx) fits; a decompression bomb does not


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", required=True, help="model bundle (*.pinclip folder)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port, printed)")
    parser.add_argument("--backend", default="auto", choices=("auto", *BACKENDS), help="inference backend")
    parser.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS), help="precision")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--threshold", type=float, default=None, help="override the bundle's threshold")
    parser.add_argument(
        "--openvino-hint",
        default=None,
        choices=("LATENCY", "THROUGHPUT"),
        help="OpenVINO PERFORMANCE_HINT (default LATENCY; THROUGHPUT runs several batches at once)",
    )
    parser.add_argument("--max-batch", type=int, default=8, help="most images per backend call")
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill (default 5 ms)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=64, help="images waiting for the engine before 503 (default 64)"
    )
    parser.add_argument("--timeout-s", type=float, default=30.0, help="per-request deadline before 504")
    parser.add_argument(
        "--max-body-mb", type=float, default=32.0, help="largest request body (MiB) before 413"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest image (width x height) before 413 (default {DEFAULT_MAX_PIXELS})",
    )
    parser.add_argument(
        "--api-key-file", default=None, help="require `Authorization: Bearer <key>` with the key in this file"
    )
    parser.add_argument(
        "--preprocess-workers", type=int, default=None, help="decode / preprocess threads (default: up to 4)"
    )
    parser.add_argument(
        "--exif-transpose",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rotate uploads by their EXIF orientation before scoring (default: what the bundle's spec "
        "records training did)",
    )
    add_provenance_arguments(parser, "upload")


def _load_detector(args: argparse.Namespace) -> Any:
    from pinclip_sdk.detector import Detector

    options = {"openvino": {"performance_hint": args.openvino_hint}} if args.openvino_hint else None
    # the service applies --max-pixels to it (ServeConfig.max_pixels)
    return Detector(
        args.model,
        args.backend,
        args.threads,
        args.precision,
        threshold=args.threshold,
        backend_options=options,
        preprocess_workers=args.preprocess_workers,
        exif_transpose=args.exif_transpose,
        evidence=args.evidence,
        trust_anchors=args.trust_anchors,
        provenance_sets_label=args.provenance_sets_label,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections made once the address is printed wait, not get refused
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from pinclip_sdk.errors import ConfigError
    from pinclip_sdk.serve import ServeConfig, create_app
    from pinclip_sdk.serve.limits import read_api_key

    try:
        config = ServeConfig(
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
            timeout_s=args.timeout_s,
            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
            max_pixels=args.max_pixels,
            api_key=read_api_key(args.api_key_file) if args.api_key_file else None,
            preprocess_workers=args.preprocess_workers,
        )
        if not 0 <= args.port <= 65535:
            raise ConfigError(f"--port {args.port} is not in 0..65535")
        if args.threads is not None and args.threads < 1:
            raise ConfigError(f"--threads {args.threads} must be >= 1")
        if args.provenance_sets_label and not args.evidence:
            raise ConfigError("--provenance-sets-label needs --evidence (the provenance must be read)")
    except ConfigError as exc:
        print(f"pinclip serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"pinclip serve: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    server: uvicorn.Server | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(functools.partial(_load_detector, args), config, on_fatal=stop)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="on",
            log_level="info" if args.verbose else "warning",
            access_log=args.verbose >= 2,
            timeout_graceful_shutdown=None,  # every in-flight request is answered (each has --timeout-s)
        )
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"pinclip serve: listening on http://{shown}:{port} (model loading)", flush=True)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with a no-op
    # handler in place that is harmless, and the exit status says "stopped cleanly" (0).
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    fatal = app.state.serve.fatal
    if fatal:
        print(f"pinclip serve: error: {fatal}", file=sys.stderr)
        return 1
    print("pinclip serve: stopped", file=sys.stderr)
    return 0
