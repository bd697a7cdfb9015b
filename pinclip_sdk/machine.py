"""A description of the machine a benchmark ran on, so reports from different machines compare.

`describe_machine()` gathers the CPU, memory, OS, Python, NVIDIA GPU (name, driver, CUDA),
Jetson module and JetPack / L4T release, and the versions of the inference libraries. Every
probe is best-effort: a missing tool, file or package gives `None` for that field, never an
exception, because `pinclip bench` must print a report on any machine.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pinclip_sdk.cuda_runtime import find_cuda_runtime
from pinclip_sdk.versions import library_versions  # also re-exported: `pinclip version` imports it here

logger = logging.getLogger(__name__)

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
_SUBPROCESS_TIMEOUT_S = 5.0

# L4T release -> JetPack release, used only when the `nvidia-jetpack` package cannot be queried.
# Longest matching prefix wins. Sources: docs/references.md#jetpack-versions.
L4T_TO_JETPACK: dict[str, str] = {
    "35.1": "5.0.2",
    "35.2": "5.1",
    "35.3": "5.1.1",
    "35.4": "5.1.2",
    "35.5": "5.1.3",
    "35.6": "5.1.4",
    "36.2": "6.0 DP",
    "36.3": "6.0",
    "36.4": "6.1",
    "36.4.3": "6.2",
    "36.4.4": "6.2.1",
    "38.2": "7.0",
    "39.2": "7.2",
}


def describe_machine() -> dict[str, Any]:
    """CPU, memory, OS, Python, GPU, Jetson and library versions of this machine.

    Returns:
        A JSON-serialisable dict; fields that could not be determined are `None`.

    Example:
        >>> info = describe_machine()
        >>> sorted(info)[:3]
        ['cpu', 'gpus', 'jetson']
    """
    return {
        "cpu": _safe(describe_cpu, {}),
        "memory_bytes": _safe(total_memory_bytes, None),
        "os": _safe(platform.platform, None),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "gpus": _safe(describe_gpus, []),
        "cuda": _safe(describe_cuda, {}),
        "jetson": _safe(describe_jetson, None),
        "libraries": _safe(library_versions, {}),
    }


def _safe(probe: Any, default: Any) -> Any:
    """Run one probe; any failure is logged at debug level and gives `default`."""
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 - every probe is best-effort by contract
        logger.debug("machine probe %s failed: %s", getattr(probe, "__name__", probe), exc)
        return default


def describe_cpu() -> dict[str, Any]:
    """CPU model name, architecture, logical and physical core counts."""
    model = None
    physical: set[tuple[str, str]] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        package = core = ""
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("model name", "Model", "Hardware") and model is None and value:
                model = value
            elif key == "physical id":
                package = value
            elif key == "core id":
                core = value
                physical.add((package, core))
    if model is None:
        model = platform.processor() or None
    return {
        "model": model,
        "arch": platform.machine() or None,
        "logical_cores": os.cpu_count(),
        "physical_cores": len(physical) or None,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def total_memory_bytes() -> int | None:
    """Physical memory in bytes (from /proc/meminfo, else sysconf)."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        match = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo.read_text(encoding="utf-8"), re.MULTILINE)
        if match:
            return int(match.group(1)) * 1024
    if hasattr(os, "sysconf"):
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    return None


def describe_gpus() -> list[dict[str, Any]]:
    """NVIDIA GPUs from `nvidia-smi` (name, driver, memory, compute capability), else CUDA."""
    gpus = _gpus_from_nvidia_smi()
    if gpus:
        return gpus
    return _gpus_from_cuda_runtime()


def _gpus_from_nvidia_smi() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    fields = "name,driver_version,memory.total,compute_cap"
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=_SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        return []
    gpus = []
    for line in result.stdout.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 4:
            continue
        name, driver, memory_mib, capability = parts
        gpus.append(
            {
                "name": name,
                "driver": driver or None,
                "memory_bytes": int(memory_mib) * 1024 * 1024 if memory_mib.isdigit() else None,
                "compute_capability": capability if re.fullmatch(r"\d+\.\d+", capability) else None,
            }
        )
    return gpus


def _gpus_from_cuda_runtime() -> list[dict[str, Any]]:
    runtime = find_cuda_runtime()
    if runtime is None:
        return []
    err, count = runtime.cudaGetDeviceCount()
    if int(err) != 0:
        return []
    gpus = []
    for index in range(count):
        err, prop = runtime.cudaGetDeviceProperties(index)
        if int(err) != 0:
            continue
        name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
        gpus.append(
            {
                "name": name.rstrip("\x00"),
                "driver": None,
                "memory_bytes": int(prop.totalGlobalMem),
                "compute_capability": f"{prop.major}.{prop.minor}",
            }
        )
    return gpus


def describe_cuda() -> dict[str, Any]:
    """CUDA driver-API and runtime versions as "major.minor" (from cuda-python), when present."""
    runtime = find_cuda_runtime()
    if runtime is None:
        return {"driver_api": None, "runtime": None}
    return {
        "driver_api": _cuda_version(runtime.cudaDriverGetVersion()),
        "runtime": _cuda_version(runtime.cudaRuntimeGetVersion()),
    }


def _cuda_version(result: tuple[Any, int]) -> str | None:
    err, value = result
    if int(err) != 0 or not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def describe_jetson(
    release_file: Path = NV_TEGRA_RELEASE, model_file: Path = DEVICE_TREE_MODEL
) -> dict[str, Any] | None:
    """Jetson module, L4T and JetPack release; `None` on a machine that is not a Jetson."""
    if not release_file.is_file() and not model_file.is_file():
        return None
    model = None
    if model_file.is_file():
        model = model_file.read_bytes().rstrip(b"\x00").decode(errors="replace").strip() or None
    l4t = parse_l4t_release(release_file.read_text(errors="replace")) if release_file.is_file() else None
    jetpack, source = _jetpack_from_dpkg(), "nvidia-jetpack package"
    if jetpack is None and l4t is not None:
        jetpack, source = jetpack_for_l4t(l4t), "L4T release table"
    return {"model": model, "l4t": l4t, "jetpack": jetpack, "jetpack_source": source if jetpack else None}


def parse_l4t_release(text: str) -> str | None:
    """ "# R36 (release), REVISION: 4.3, GCID: ..." -> "36.4.3"."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not match:
        return None
    return f"{match.group(1)}.{match.group(2).rstrip('.')}"


def jetpack_for_l4t(l4t: str) -> str | None:
    """JetPack release for an L4T release by the longest known prefix, or None."""
    best = None
    for prefix, jetpack in L4T_TO_JETPACK.items():
        if (l4t == prefix or l4t.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, jetpack)
    return best[1] if best else None


def _jetpack_from_dpkg() -> str | None:
    exe = shutil.which("dpkg-query")
    if exe is None:
        return None
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [exe, "--showformat=${Version}", "--show", "nvidia-jetpack"],
        capture_output=True,
        text=True,
        timeout=_SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        return None
    return version.split("+")[0] or None
