"""`pinclip serve` under closed-loop load: throughput against in-process `predict_batch`, latency, memory.

N client threads (one keep-alive httpx connection each) post JPEG photos to a `pinclip serve`
subprocess on loopback for `--seconds`, each sending its next image as soon as the previous answer
arrives. In the same run, at the same batch size, the same JPEGs go through an in-process
`Detector.predict_batch`; `--rounds` in-process and server runs alternate, so a drifting machine
load (a shared VM) weighs on both sides alike. Reported: throughput and its ratio to in-process
(acceptance >= 0.80), p50 / p99 request latency, responses by status, lost requests (no answer)
and mismatched ones (`p_fake` differs from the in-process prediction for that image), the
server's mean batch size, and its resident memory (VmRSS) from the start of the first round to
the end of the last (acceptance: growth < 50 MB). It exits 1 when an acceptance bound is missed.

The backend must give every image the same score whatever its batch-mates: OpenVINO FP32 (the
default) or INT8, onnxruntime FP32 or static (Q/DQ) INT8. onnxruntime's *dynamic* INT8 does not
(its activation scales are computed per batch), so a mismatch there says nothing about the service.

Without `--bundle` it builds a ViT-B/16 bundle with random weights (open_clip's visual tower + a
linear head, FP32 ONNX and OpenVINO FP32 IR; needs the `train` extra), cached under `--work`.

Usage:
    .venv/bin/python benchmarks/serve.py --work /tmp/pinclip-bench [--bundle B] [--seconds 15]
        [--rounds 2] [--clients 16] [--batch 8] [--backend openvino --precision fp32] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ACCEPT_RATIO = 0.80
ACCEPT_RSS_GROWTH_MB = 50.0
LISTENING = re.compile(r"listening on http://(\S+):(\d+)")


def _runtime_benchmark():
    """benchmarks/runtime.py (its synthetic photos and its ViT-B/16 export)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import runtime

    return runtime


def build_vitb16_fp32_bundle(root: Path) -> Path:
    """ViT-B/16 (random init) + linear head, as FP32 ONNX (onnxruntime) and FP32 IR (OpenVINO)."""
    from pinclip_sdk.backends.openvino import import_openvino
    from pinclip_sdk.bundle import BundleWriter
    from pinclip_sdk.spec import PreprocessSpec

    ov = import_openvino()
    spec = PreprocessSpec.from_open_clip("ViT-B-16")
    writer = BundleWriter(root, overwrite=True)
    onnx_path = root / "onnxruntime-fp32" / "detector.onnx"
    onnx_path.parent.mkdir(parents=True)
    _runtime_benchmark().export_vitb16_onnx(onnx_path, spec.size)
    writer.add_artifact("onnxruntime-fp32", "onnxruntime", "fp32", [onnx_path])
    ov_dir = root / "openvino-fp32"
    ov_dir.mkdir()
    ov.save_model(ov.convert_model(str(onnx_path)), str(ov_dir / "detector.xml"), compress_to_fp16=False)
    writer.add_artifact(
        "openvino-fp32", "openvino", "fp32", [ov_dir / "detector.xml", ov_dir / "detector.bin"]
    )
    writer.finish(
        model_id="vit-b-16-random-fp32",
        backbone={"name": "ViT-B-16", "pretrained": None, "note": "random weights, for benchmarks"},
        preprocess=spec,
        provenance={"built_by": "benchmarks/serve.py"},
    )
    return root


def jpeg_uploads(count: int, size: tuple[int, int]) -> list[bytes]:
    import io

    photo = _runtime_benchmark()._photo
    uploads = []
    for i in range(count):
        buffer = io.BytesIO()
        photo(i, size).save(buffer, format="JPEG", quality=90)
        uploads.append(buffer.getvalue())
    return uploads


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


# ---- in process ---------------------------------------------------------------------------------
def open_detector(args: argparse.Namespace, bundle: Path):
    from pinclip_sdk.detector import Detector

    return Detector(bundle, args.backend, args.threads, args.precision)


def expected_scores(detector, uploads: list[bytes], batch: int) -> list[float]:
    """The JSON `p_fake` (`Prediction.to_dict`, as the service answers) of each upload, in process."""
    expected = [p.to_dict()["p_fake"] for p in detector.predict_batch(uploads, batch_size=batch)]
    if any(p is None for p in expected):
        raise SystemExit("in-process prediction failed for a benchmark image")
    return expected


def in_process_throughput(detector, uploads: list[bytes], batch: int, seconds: float) -> float:
    """Images per second of `predict_batch` (decode, preprocess, inference) over passes of `uploads`."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += len(detector.predict_batch(uploads, batch_size=batch))
    return done / (time.perf_counter() - start)


# ---- the server ---------------------------------------------------------------------------------
class ServerProcess:
    def __init__(self, args: argparse.Namespace, bundle: Path) -> None:
        command = [sys.executable, "-m", "pinclip_sdk", "serve", "--model", str(bundle.resolve())]
        command += ["--port", "0", "--backend", args.backend, "--precision", args.precision]
        command += ["--max-batch", str(args.batch), "--max-wait-ms", str(args.max_wait_ms)]
        command += ["--max-queue", str(max(64, 2 * args.clients))]
        if args.threads is not None:
            command += ["--threads", str(args.threads)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tempfile.gettempdir(),  # the installed SDK, not the repository's source folder
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self.url: str | None = None
        found = threading.Event()
        threading.Thread(target=self._read, args=(found,), daemon=True).start()
        found.wait(300)
        if self.url is None:
            self.stop()
            raise SystemExit("pinclip serve did not start:\n" + "".join(self.lines))

    def _read(self, found: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            match = LISTENING.search(line)
            if match and self.url is None:
                self.url = f"http://{match.group(1)}:{match.group(2)}"
                found.set()
        found.set()

    def wait_ready(self, client) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("pinclip serve exited:\n" + "".join(self.lines))
            try:
                if client.get(f"{self.url}/readyz").status_code == 200:
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.1)
        raise SystemExit("pinclip serve never became ready")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: drains, exits 0
        try:
            return self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def load(url: str, uploads: list[bytes], expected: list, clients: int, seconds: float, pid: int) -> dict:
    """Closed-loop load; every response is checked against `expected`."""
    import httpx

    lock = threading.Lock()
    records: list[tuple[float, float, int]] = []  # (end, latency s, status)
    lost: list[str] = []
    mismatched: list[tuple[int, Any, Any]] = []
    rss_samples: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds

    def client_loop(index: int) -> None:
        k = 0
        with httpx.Client(timeout=120.0) as client:
            while time.perf_counter() < deadline:
                i = (index + k * clients) % len(uploads)
                k += 1
                sent = time.perf_counter()
                try:
                    response = client.post(
                        f"{url}/v1/detect", content=uploads[i], headers={"Content-Type": "image/jpeg"}
                    )
                except httpx.HTTPError as exc:
                    with lock:
                        lost.append(f"{type(exc).__name__}: {exc}")
                    continue
                end = time.perf_counter()
                status = response.status_code
                with lock:
                    records.append((end, end - sent, status))
                    if status == 200 and response.json().get("p_fake") != expected[i]:
                        mismatched.append((i, response.json().get("p_fake"), expected[i]))

    def sample_rss() -> None:
        while time.perf_counter() < deadline:
            rss_samples.append(rss_mb(pid))
            time.sleep(0.5)

    rss_start = rss_mb(pid)
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=sample_rss, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads[:-1]:
        thread.join()
    rss_end = rss_mb(pid)
    ends = sorted(end for end, _, status in records if status == 200 and end <= deadline)
    throughput = answer_rate(ends)
    ok_latencies = sorted(latency for _, latency, status in records if status == 200)
    statuses: dict[str, int] = {}
    for _, _, status in records:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    return {
        "requests": len(records) + len(lost),
        "throughput_ips": throughput,
        "answered_in_window": len(ends),
        "latency_ms": latency_summary(ok_latencies),
        "_latencies": ok_latencies,
        "statuses": statuses,
        "lost": len(lost),
        "lost_examples": lost[:3],
        "mismatched": len(mismatched),
        "mismatched_examples": mismatched[:3],
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "peak": round(max([rss_start, rss_end, *rss_samples]), 1),
            "growth": round(rss_end - rss_start, 1),
        },
    }


def merge(reports: list[dict]) -> dict:
    """One report of several load rounds: summed counts, pooled latencies, RSS over all of them."""
    latencies = sorted(x for r in reports for x in r.pop("_latencies"))
    statuses: dict[str, int] = {}
    for r in reports:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "requests": sum(r["requests"] for r in reports),
        "throughput_ips": statistics.fmean(r["throughput_ips"] for r in reports),
        "answered_in_window": sum(r["answered_in_window"] for r in reports),
        "latency_ms": latency_summary(latencies),
        "statuses": statuses,
        "lost": sum(r["lost"] for r in reports),
        "lost_examples": [x for r in reports for x in r["lost_examples"]][:3],
        "mismatched": sum(r["mismatched"] for r in reports),
        "mismatched_examples": [x for r in reports for x in r["mismatched_examples"]][:3],
        "rss_mb": {
            "start": reports[0]["rss_mb"]["start"],
            "end": reports[-1]["rss_mb"]["end"],
            "peak": max(r["rss_mb"]["peak"] for r in reports),
            "growth": round(reports[-1]["rss_mb"]["end"] - reports[0]["rss_mb"]["start"], 1),
        },
    }


def latency_summary(latencies: list[float]) -> dict[str, float | None]:
    """p50, p99 and mean of sorted latencies (seconds), in ms."""
    if not latencies:
        return {"p50": None, "p99": None, "mean": None}

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000.0

    return {"p50": percentile(0.50), "p99": percentile(0.99), "mean": statistics.fmean(latencies) * 1000.0}


def answer_rate(ends: list[float]) -> float:
    """Images per second from sorted completion times: the least-squares slope of the answered count
    over time. Answers come a batch at a time, so a count in a fixed window is off by up to a batch
    (13% at 2.4 img/s, batch 8, 25 s); the slope through the staircase's steps is not."""
    if len(set(ends)) < 2:
        return 0.0
    counts = range(1, len(ends) + 1)
    mean_t, mean_n = statistics.fmean(ends), statistics.fmean(counts)
    covariance = sum((t - mean_t) * (n - mean_n) for t, n in zip(ends, counts, strict=True))
    return covariance / sum((t - mean_t) ** 2 for t in ends)


def _metric_sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pinclip-bench"))
    parser.add_argument("--bundle", type=Path, default=None, help="use this bundle instead of building one")
    parser.add_argument("--backend", default="openvino")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--batch", type=int, default=8, help="server --max-batch and in-process batch size")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (default: 2 x batch)")
    parser.add_argument("--seconds", type=float, default=15.0, help="load duration of each round")
    parser.add_argument("--rounds", type=int, default=2, help="in-process / server rounds, alternating")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument(
        "--in-process-seconds", type=float, default=None, help="each in-process run (default: seconds / 2)"
    )
    parser.add_argument("--images", type=int, default=16, help="distinct JPEG photos")
    parser.add_argument("--image-size", default="640x480")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    args.clients = args.clients or 2 * args.batch
    in_seconds = args.in_process_seconds or max(5.0, args.seconds / 2)

    bundle = args.bundle
    if bundle is None:
        bundle = args.work / "vit-b-16-random-fp32.pinclip"
        if not (bundle / "manifest.json").is_file():
            started = time.perf_counter()
            shutil.rmtree(bundle, ignore_errors=True)
            build_vitb16_fp32_bundle(bundle)
            print(f"built {bundle} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    width, height = (int(v) for v in args.image_size.split("x"))
    uploads = jpeg_uploads(args.images, (width, height))

    import httpx

    # In-process and server rounds alternate, so a machine whose other load drifts (a shared VM)
    # weighs on both sides alike; the idle server and the idle detector cost nothing meanwhile.
    detector = open_detector(args, bundle)
    expected = expected_scores(detector, uploads, args.batch)
    server = ServerProcess(args, bundle)
    rounds: list[tuple[float, dict]] = []
    try:
        with httpx.Client(timeout=60.0) as client:
            server.wait_ready(client)
            load(server.url, uploads, expected, args.clients, args.warmup_seconds, server.process.pid)
            metrics_before = client.get(f"{server.url}/metrics").text
            for _ in range(args.rounds):
                ips = in_process_throughput(detector, uploads, args.batch, in_seconds)
                rounds.append(
                    (ips, load(server.url, uploads, expected, args.clients, args.seconds, server.process.pid))
                )
            metrics_after = client.get(f"{server.url}/metrics").text
    finally:
        exit_code = server.stop()
        detector.close()
    batches = _metric_sum(metrics_after, "pinclip_serve_batch_size_count") - _metric_sum(
        metrics_before, "pinclip_serve_batch_size_count"
    )
    images = _metric_sum(metrics_after, "pinclip_serve_batch_size_sum") - _metric_sum(
        metrics_before, "pinclip_serve_batch_size_sum"
    )
    report = merge([r for _, r in rounds])
    in_process_ips = statistics.fmean(ips for ips, _ in rounds)
    ratio = report["throughput_ips"] / in_process_ips
    acceptance = {
        "ratio": ratio >= ACCEPT_RATIO,
        "no_lost": report["lost"] == 0,
        "no_mismatched": report["mismatched"] == 0,
        "all_200": set(report["statuses"]) == {"200"},
        "rss_growth": report["rss_mb"]["growth"] < ACCEPT_RSS_GROWTH_MB,
        "sigterm_exit_0": exit_code == 0,
    }
    result = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "bundle": str(bundle),
        "backend": args.backend,
        "precision": args.precision,
        "batch": args.batch,
        "max_wait_ms": args.max_wait_ms,
        "clients": args.clients,
        "seconds": args.seconds,
        "images": f"{args.images} JPEG {width}x{height}",
        "rounds": [
            {"in_process_ips": round(ips, 2), "server_ips": round(r["throughput_ips"], 2)}
            for ips, r in rounds
        ],
        "in_process_ips": round(in_process_ips, 2),
        "server": {**report, "mean_batch_size": round(images / batches, 2) if batches else None},
        "ratio": round(ratio, 3),
        "acceptance": {**acceptance, "all": all(acceptance.values())},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        server_report = result["server"]
        latency = server_report["latency_ms"]
        print(f"machine: {result['machine']['cpu']} ({result['machine']['cores']} cores)")
        print(
            f"{args.backend} {args.precision}, batch {args.batch}, {args.clients} clients,"
            f" {args.seconds:g} s, {result['images']}"
        )
        print(f"in-process predict_batch: {in_process_ips:.2f} img/s, by round {result['rounds']}")
        print(
            f"server: {server_report['throughput_ips']:.2f} img/s (ratio {ratio:.2f}), latency p50"
            f" {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms,"
            f" mean batch {server_report['mean_batch_size']}"
        )
        print(
            f"responses by status {server_report['statuses']}, lost {server_report['lost']},"
            f" mismatched {server_report['mismatched']}"
        )
        rss = server_report["rss_mb"]
        print(
            f"server RSS {rss['start']} -> {rss['end']} MB (growth {rss['growth']} MB, peak {rss['peak']} MB)"
        )
        print(f"acceptance: {result['acceptance']}")
    return 0 if result["acceptance"]["all"] else 1


if __name__ == "__main__":
    sys.exit(main())
