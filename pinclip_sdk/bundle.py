"""The model bundle: a `*.pinclip` directory holding `manifest.json` and the compiled artifacts.

The manifest says everything the runtime needs without PyTorch: the backbone, the preprocessing
spec, what the output means, the decision threshold and how it was chosen, and every artifact
with its precision and sha256. Loading refuses unknown schema versions; artifacts are hashed
before a backend loads them, so a truncated or tampered file is refused, never run. Bundles are
untrusted input: the manifest is size-capped and checked field by field, and every path it names
must resolve (symlinks followed) inside the bundle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pinclip_sdk.errors import BackendUnavailableError, BundleError, ConfigError
from pinclip_sdk.hashing import sha256_file
from pinclip_sdk.spec import INTERPOLATIONS, RESIZE_MODES, TILE_REDUCTIONS, VIEWS, PreprocessSpec
from pinclip_sdk.targets import BACKENDS, PRECISIONS, check_recorded_options

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
MAX_MANIFEST_BYTES = 1 << 20  # a real manifest is a few KB; refuse anything larger unread


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative to the bundle root, POSIX separators
    sha256: str
    size: int


@dataclass(frozen=True)
class Artifact:
    """One compiled model in the bundle, e.g. `onnxruntime-int8` or `openvino-fp32`.

    `backend` names the runtime that executes it (onnxruntime, openvino, tensorrt); `precision` is
    fp32, fp16 or int8; `files[0]` is the file the backend opens (the ONNX or the OpenVINO .xml).
    `load_options` are the backend load options the export gate ran it with (e.g. OpenVINO
    `inference_precision_hint`); the backend applies them under any the caller gives, so what ships
    runs as it was gated. Only a backend's `targets.BackendRecord.recordable_options` may be recorded;
    bundles written before the field have none (`{}`).
    """

    name: str
    backend: str
    precision: str
    files: tuple[ArtifactFile, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    load_options: dict[str, Any] = field(default_factory=dict)

    @property
    def main_file(self) -> str:
        return self.files[0].path


@dataclass(frozen=True)
class Threshold:
    """Decision threshold on p_fake, with how it was chosen (docs/design.md#d5-calibrated-thresholds)."""

    value: float = 0.5
    method: str = "default"  # default | target_fpr | manual
    uncertain_band: tuple[float, float] | None = None  # p_fake in [lo, hi) -> "uncertain"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    model_id: str
    backbone: dict[str, Any]
    preprocess: PreprocessSpec
    artifacts: tuple[Artifact, ...]
    threshold: Threshold = Threshold()
    input: dict[str, Any] = field(
        default_factory=lambda: {"name": "pixel_values", "layout": "NCHW", "dtype": "float32"}
    )
    output: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "logits",
            "semantics": "one logit per image; p_fake = sigmoid(logit)",
        }
    )
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocess"] = self.preprocess.to_dict()
        band = self.threshold.uncertain_band
        data["threshold"]["uncertain_band"] = list(band) if band is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "manifest") -> Manifest:
        """Build a manifest from untrusted JSON data; anything malformed is a BundleError naming the field."""
        if not isinstance(data, dict):
            raise BundleError(f"{source}: manifest must be a JSON object")
        version = data.get("schema_version")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise BundleError(
                f"{source}: schema_version {version!r} is not supported by this SDK "
                f"(supports {SCHEMA_VERSION}); upgrade pinclip-sdk or re-export the bundle"
            )
        check = _Checker(source)
        check.keys(
            data,
            "",
            _MANIFEST_KEYS,
            (
                "schema_version",
                "model_id",
                "backbone",
                "preprocess",
                "artifacts",
                "threshold",
                "input",
                "output",
            ),
        )
        artifacts = check.artifacts(data["artifacts"])
        return cls(
            model_id=check.string(data["model_id"], "model_id"),
            backbone=check.obj(data["backbone"], "backbone"),
            preprocess=check.preprocess(data["preprocess"]),
            artifacts=artifacts,
            threshold=check.threshold(data["threshold"]),
            input=check.io(data["input"], "input", {"layout": "NCHW", "dtype": "float32"}),
            output=check.io(data["output"], "output", {}),
            provenance=check.obj(data.get("provenance", {}), "provenance"),
            metrics=check.obj(data.get("metrics", {}), "metrics"),
            created=check.string(data.get("created", ""), "created", allow_empty=True),
        )


_MANIFEST_KEYS = frozenset(f.name for f in dataclasses.fields(Manifest))
_PREPROCESS_REQUIRED = frozenset({"size", "resize_mode", "interpolation", "mean", "std", "fill_color"})
# Absent in bundles written before they existed (and the view fields in bundles of other views).
_PREPROCESS_KEYS = _PREPROCESS_REQUIRED | {
    "exif_transpose",
    "view",
    "tile_grid",
    "tile_reduce",
    "patch_size",
    "view_seed",
}
_THRESHOLD_METHODS = ("default", "target_fpr", "manual")
_MAX_SIDE = 4096
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Checker:
    """Type and range checks of untrusted manifest data; each refusal names the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> BundleError:
        return BundleError(f"{self.source}: {where or '<root>'}: {problem}")

    def keys(self, data: dict[str, Any], where: str, known: Iterable[str], required: Iterable[str]) -> None:
        prefix = f"{where}." if where else ""
        for key in required:
            if key not in data:
                raise self.fail(f"{prefix}{key}", "is required but missing")
        unknown = sorted(str(k) for k in set(data) - set(known))
        if unknown:
            raise self.fail(where, f"unknown keys {unknown}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        return dict(value)

    def string(self, value: Any, where: str, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail(where, f"must be a non-empty string, got {value!r:.80}")
        return value

    def choice(self, value: Any, where: str, allowed: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(where, f"must be one of {allowed}, got {value!r:.80}")
        return value

    def integer(self, value: Any, where: str, lo: int, hi: int | None = None) -> int:
        if type(value) is not int or value < lo or (hi is not None and value > hi):
            bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise self.fail(where, f"must be an integer {bound}, got {value!r:.80}")
        return value

    def number(self, value: Any, where: str, lo: float, hi: float, lo_open: bool = False) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > lo if lo_open else value >= lo) and value <= hi
        if not ok:
            bound = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
            raise self.fail(where, f"must be a finite number in {bound}, got {value!r:.80}")
        return float(value)

    def array(self, value: Any, where: str, length: int | None = None, min_length: int = 0) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {type(value).__name__}")
        if (length is not None and len(value) != length) or len(value) < min_length:
            wanted = f"exactly {length}" if length is not None else f"at least {min_length}"
            raise self.fail(where, f"must have {wanted} items, got {len(value)}")
        return value

    def preprocess(self, value: Any) -> PreprocessSpec:
        data = self.obj(value, "preprocess")
        self.keys(data, "preprocess", _PREPROCESS_KEYS, _PREPROCESS_REQUIRED)
        exif_transpose = data.get("exif_transpose", False)
        if not isinstance(exif_transpose, bool):
            raise self.fail("preprocess.exif_transpose", f"must be true or false, got {exif_transpose!r:.80}")
        size = data["size"]
        if isinstance(size, list):
            sides = self.array(size, "preprocess.size", length=2)
            size = tuple(self.integer(s, f"preprocess.size[{i}]", 1, _MAX_SIDE) for i, s in enumerate(sides))
        elif type(size) is int:
            size = self.integer(size, "preprocess.size", 1, _MAX_SIDE)
        else:
            raise self.fail("preprocess.size", f"must be an int or a list of two ints, got {size!r:.80}")
        mean = self.array(data["mean"], "preprocess.mean", length=3)
        std = self.array(data["std"], "preprocess.std", length=3)
        view: dict[str, Any] = {}
        if "view" in data:
            view["view"] = self.choice(data["view"], "preprocess.view", VIEWS)
        if "tile_grid" in data:
            grid = self.array(data["tile_grid"], "preprocess.tile_grid", length=2)
            view["tile_grid"] = tuple(
                self.integer(g, f"preprocess.tile_grid[{i}]", 1, 8) for i, g in enumerate(grid)
            )
        if "tile_reduce" in data:
            view["tile_reduce"] = self.choice(data["tile_reduce"], "preprocess.tile_reduce", TILE_REDUCTIONS)
        if "patch_size" in data:
            view["patch_size"] = self.integer(data["patch_size"], "preprocess.patch_size", 1, 128)
        if "view_seed" in data:
            view["view_seed"] = self.integer(data["view_seed"], "preprocess.view_seed", 0, 2**63 - 1)
        try:
            return PreprocessSpec(
                size=size,
                resize_mode=self.choice(data["resize_mode"], "preprocess.resize_mode", RESIZE_MODES),
                interpolation=self.choice(data["interpolation"], "preprocess.interpolation", INTERPOLATIONS),
                mean=tuple(self.number(m, f"preprocess.mean[{i}]", -1e3, 1e3) for i, m in enumerate(mean)),
                std=tuple(self.number(s, f"preprocess.std[{i}]", 1e-6, 1e3) for i, s in enumerate(std)),
                fill_color=self.integer(data["fill_color"], "preprocess.fill_color", 0, 255),
                exif_transpose=exif_transpose,
                **view,
            )
        except ConfigError as exc:
            raise self.fail("preprocess", str(exc)) from None

    def threshold(self, value: Any) -> Threshold:
        data = self.obj(value, "threshold")
        self.keys(data, "threshold", ("value", "method", "uncertain_band", "evidence"), ("value", "method"))
        band = data.get("uncertain_band")
        if band is not None:
            pair = self.array(band, "threshold.uncertain_band", length=2)
            lo, hi = (self.number(b, f"threshold.uncertain_band[{i}]", 0, 1) for i, b in enumerate(pair))
            if lo > hi:
                raise self.fail("threshold.uncertain_band", f"lower end {lo} is above upper end {hi}")
            band = (lo, hi)
        return Threshold(
            value=self.number(data["value"], "threshold.value", 0, 1),
            method=self.choice(data["method"], "threshold.method", _THRESHOLD_METHODS),
            uncertain_band=band,
            evidence=self.obj(data.get("evidence", {}), "threshold.evidence"),
        )

    def io(self, value: Any, where: str, fixed: dict[str, str]) -> dict[str, Any]:
        data = self.obj(value, where)
        self.string(data.get("name"), f"{where}.name")
        for key, wanted in fixed.items():
            if data.get(key) != wanted:
                raise self.fail(f"{where}.{key}", f"must be {wanted!r}, got {data.get(key)!r:.80}")
        for key, item in data.items():
            if key != "name" and not isinstance(item, str):
                raise self.fail(f"{where}.{key}", f"must be a string, got {type(item).__name__}")
        return data

    def artifacts(self, value: Any) -> tuple[Artifact, ...]:
        artifacts = []
        names: set[str] = set()
        for i, item in enumerate(self.array(value, "artifacts")):
            where = f"artifacts[{i}]"
            data = self.obj(item, where)
            self.keys(
                data,
                where,
                ("name", "backend", "precision", "files", "meta", "load_options"),
                ("name", "backend", "precision", "files"),
            )
            name = self.string(data["name"], f"{where}.name")
            if name in names:
                raise self.fail(f"{where}.name", f"artifact {name!r} is listed twice")
            names.add(name)
            backend = self.choice(data["backend"], f"{where}.backend", tuple(BACKENDS))
            files = self.array(data["files"], f"{where}.files", min_length=1)
            artifacts.append(
                Artifact(
                    name=name,
                    backend=backend,
                    precision=self.choice(data["precision"], f"{where}.precision", PRECISIONS),
                    files=tuple(self.file(f, f"{where}.files[{j}]") for j, f in enumerate(files)),
                    meta=self.obj(data.get("meta", {}), f"{where}.meta"),
                    load_options=self.load_options(data.get("load_options", {}), backend, where),
                )
            )
        return tuple(artifacts)

    def load_options(self, value: Any, backend: str, where: str) -> dict[str, Any]:
        """An artifact's recorded load options: only keys and values a bundle may set for `backend`."""
        try:
            return check_recorded_options(backend, self.obj(value, f"{where}.load_options"))
        except ConfigError as exc:
            raise self.fail(f"{where}.load_options", str(exc)) from None

    def file(self, value: Any, where: str) -> ArtifactFile:
        data = self.obj(value, where)
        self.keys(data, where, ("path", "sha256", "size"), ("path", "sha256", "size"))
        path = self.string(data["path"], f"{where}.path")
        pure = PurePosixPath(path)
        if (
            "\\" in path
            or "\0" in path
            or pure.is_absolute()
            or PureWindowsPath(path).drive
            or ".." in pure.parts
        ):
            raise self.fail(f"{where}.path", f"{path!r:.120} escapes the bundle (must be relative, no '..')")
        sha = data["sha256"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise self.fail(f"{where}.sha256", f"must be 64 lowercase hex digits, got {sha!r:.80}")
        return ArtifactFile(path, sha, self.integer(data["size"], f"{where}.size", 0))


class Bundle:
    """A loaded `*.pinclip` directory.

    Example:
        >>> bundle = Bundle.load("model.pinclip")  # doctest: +SKIP
        >>> path = bundle.verified_path(bundle.find("onnxruntime", "int8"))  # doctest: +SKIP
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._real_root = root.resolve()
        self._verified: set[str] = set()

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Read and check a bundle's manifest; artifacts are hashed when first used.

        The manifest is untrusted: it is size-capped, type-checked field by field, and every path it
        names must resolve (symlinks followed) inside the bundle.
        """
        root = Path(path)
        manifest_path = root / MANIFEST_NAME
        if not root.is_dir():
            raise BundleError(f"{root}: not a model bundle directory (expected a *.pinclip folder)")
        if not manifest_path.is_file():
            raise BundleError(f"{root}: no {MANIFEST_NAME}; is this a bundle written by `pinclip export`?")
        real_root = root.resolve(strict=True)
        _inside(real_root, manifest_path, f"{manifest_path}: {MANIFEST_NAME}")
        try:
            with open(manifest_path, "rb") as handle:
                raw = handle.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from exc
        if len(raw) > MAX_MANIFEST_BYTES:
            raise BundleError(f"{manifest_path}: manifest is larger than {MAX_MANIFEST_BYTES} bytes; refused")
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise BundleError(f"{manifest_path}: unreadable manifest (JSON nested too deeply)") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from exc
        if not isinstance(data, dict):
            raise BundleError(f"{manifest_path}: manifest must be a JSON object")
        try:
            manifest = Manifest.from_dict(data, source=str(manifest_path))
        except RecursionError:
            raise BundleError(f"{manifest_path}: manifest nested too deeply") from None
        for i, artifact in enumerate(manifest.artifacts):
            for j, entry in enumerate(artifact.files):
                _inside(real_root, root / entry.path, f"{manifest_path}: artifacts[{i}].files[{j}].path")
        return cls(root, manifest)

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return self.manifest.artifacts

    def find(self, backend: str, precision: str | None = None) -> Artifact:
        """The artifact for `backend` (and `precision`), or a BundleError listing what exists."""
        for artifact in self.artifacts:
            if artifact.backend == backend and (precision is None or artifact.precision == precision):
                return artifact
        available = ", ".join(f"{a.backend}/{a.precision}" for a in self.artifacts) or "none"
        wanted = f"{backend}/{precision}" if precision else backend
        raise BundleError(f"{self.root}: no {wanted} artifact (bundle has: {available})")

    def verify(self, artifact: Artifact) -> None:
        """Check every file of `artifact` exists with its recorded size and sha256."""
        if artifact.name in self._verified:
            return
        for entry in artifact.files:
            file_path = self.root / entry.path
            real = _inside(self._real_root, file_path, f"{self.root}: artifact {artifact.name} file path")
            if not real.is_file():
                raise BundleError(f"{self.root}: artifact {artifact.name} is missing {entry.path}")
            file_path = real
            size = file_path.stat().st_size
            if size != entry.size:
                raise BundleError(
                    f"{self.root}: {entry.path} is {size} bytes, manifest says {entry.size} "
                    "(truncated or replaced); re-export the bundle"
                )
            actual = sha256_file(file_path)
            if actual != entry.sha256:
                raise BundleError(
                    f"{self.root}: {entry.path} sha256 {actual[:12]}... does not match the manifest "
                    f"({entry.sha256[:12]}...); the file was modified; re-export the bundle"
                )
        self._verified.add(artifact.name)

    def verified_path(self, artifact: Artifact) -> Path:
        """Path of the artifact's main file after its hashes were checked."""
        self.verify(artifact)
        return self.root / artifact.main_file


class BundleWriter:
    """Assembles a bundle directory; `finish()` writes the manifest last, so a crash leaves no
    manifest and the half-written directory is never loaded as a bundle."""

    def __init__(self, root: str | Path, overwrite: bool = False) -> None:
        self.root = Path(root)
        if self.root.exists():
            if not overwrite:
                raise BundleError(f"{self.root} exists; pass overwrite=True (CLI: --overwrite) to replace it")
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self._artifacts: list[Artifact] = []

    def add_artifact(
        self,
        name: str,
        backend: str,
        precision: str,
        files: Iterable[str | Path],
        meta: dict[str, Any] | None = None,
        load_options: dict[str, Any] | None = None,
    ) -> Artifact:
        """Record files already written under the bundle root as one artifact (main file first),
        with the backend `load_options` it is gated and shipped with (see `Artifact`)."""
        if any(a.name == name for a in self._artifacts):
            raise BundleError(f"{self.root}: artifact {name!r} added twice")
        try:
            options = check_recorded_options(backend, dict(load_options or {}))
        except ConfigError as exc:
            raise BundleError(f"{self.root}: artifact {name!r}: load_options: {exc}") from None
        entries = []
        for file in files:
            file_path = Path(file)
            if not file_path.is_absolute():
                file_path = self.root / file_path
            try:
                relative = file_path.resolve().relative_to(self.root.resolve())
            except ValueError:
                raise BundleError(f"{file_path} is not inside the bundle {self.root}") from None
            entries.append(
                ArtifactFile(relative.as_posix(), sha256_file(file_path), file_path.stat().st_size)
            )
        if not entries:
            raise BundleError(f"artifact {name!r} has no files")
        artifact = Artifact(name, backend, precision, tuple(entries), dict(meta or {}), options)
        self._artifacts.append(artifact)
        return artifact

    def finish(
        self,
        model_id: str,
        backbone: dict[str, Any],
        preprocess: PreprocessSpec,
        threshold: Threshold | None = None,
        provenance: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Bundle:
        """Write `manifest.json` and return the loaded bundle."""
        manifest = Manifest(
            model_id=model_id,
            backbone=backbone,
            preprocess=preprocess,
            artifacts=tuple(self._artifacts),
            threshold=threshold or Threshold(),
            provenance=provenance or {},
            metrics=metrics or {},
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            output={"name": "logits", "semantics": output_semantics(preprocess)},
        )
        # jsonschema is a dev/train tool; without it Manifest.from_dict still checks what the runtime needs
        with contextlib.suppress(BackendUnavailableError):
            validate_manifest(
                json.loads(json.dumps(manifest.to_dict())), source=str(self.root / MANIFEST_NAME)
            )
        write_manifest(self.root, manifest)
        return Bundle.load(self.root)


def output_semantics(spec: PreprocessSpec) -> str:
    """What the model's logits mean for a bundle of this view, as written into the manifest."""
    if spec.view == "tiles":
        rows, cols = spec.tile_grid
        return (
            f"one logit per tile; an image is {rows}x{cols} native crops (tiles view) and its logit is the "
            f"{spec.tile_reduce} of its tiles' logits; p_fake = sigmoid(image logit)"
        )
    return "one logit per image; p_fake = sigmoid(logit)"


def _inside(real_root: Path, path: Path, what: str) -> Path:
    """`path` with symlinks resolved; a BundleError naming `what` when it lands outside `real_root`."""
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # symlink loop
        raise BundleError(f"{what} {str(path)!r} cannot be resolved ({exc})") from None
    if real != real_root and real_root not in real.parents:
        raise BundleError(f"{what} {str(path)!r} resolves outside the bundle (to {str(real)!r}); refused")
    return real


def validate_manifest(data: dict[str, Any], source: str = "manifest") -> None:
    """Check a manifest dict against `manifest.schema.json` (needs `jsonschema`, a dev/train tool).

    The runtime does not need this: `Manifest.from_dict` already refuses what it cannot use. The
    exporter calls it before writing, so a bundle never ships a manifest that breaks the schema.
    """
    try:
        import jsonschema
    except ImportError as exc:
        raise BackendUnavailableError("validating a manifest needs jsonschema (pinclip-sdk[dev])") from exc
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5])
        raise BundleError(f"{source}: manifest does not match schema v{SCHEMA_VERSION}: {details}")


def replace_threshold(bundle: Bundle, threshold: Threshold) -> Bundle:
    """Rewrite `bundle`'s manifest with a new threshold (artifacts untouched) and reload it."""
    manifest = dataclasses.replace(bundle.manifest, threshold=threshold)
    write_manifest(bundle.root, manifest)
    return Bundle.load(bundle.root)


def write_manifest(root: str | Path, manifest: Manifest) -> None:
    """(Re)write a bundle's manifest atomically (used by `pinclip calibrate` to set the threshold)."""
    target = Path(root) / MANIFEST_NAME
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)
