"""The model bundle: a `*.pinclip` directory holding `manifest.json` and the compiled artifacts.

The manifest says everything the runtime needs without PyTorch: the backbone, the preprocessing
spec, what the output means, the decision threshold and how it was chosen, and every artifact
with its precision and sha256. Loading refuses unknown schema versions; artifacts are hashed
before a backend loads them, so a truncated or tampered file is refused, never run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pinclip_sdk.errors import BackendUnavailableError, BundleError
from pinclip_sdk.spec import PreprocessSpec

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
_HASH_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks (artifacts can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    """

    name: str
    backend: str
    precision: str
    files: tuple[ArtifactFile, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def main_file(self) -> str:
        return self.files[0].path


@dataclass(frozen=True)
class Threshold:
    """Decision threshold on p_fake, with how it was chosen (design decision 5)."""

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
    def from_dict(cls, data: dict[str, Any], source: str = "manifest") -> Manifest:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(
                f"{source}: schema_version {version!r} is not supported by this SDK "
                f"(supports {SCHEMA_VERSION}); upgrade pinclip-sdk or re-export the bundle"
            )
        try:
            artifacts = tuple(
                Artifact(
                    name=a["name"],
                    backend=a["backend"],
                    precision=a["precision"],
                    files=tuple(ArtifactFile(**f) for f in a["files"]),
                    meta=dict(a.get("meta", {})),
                )
                for a in data["artifacts"]
            )
            threshold_data = dict(data.get("threshold") or {})
            band = threshold_data.get("uncertain_band")
            threshold_data["uncertain_band"] = tuple(band) if band is not None else None
            return cls(
                model_id=data["model_id"],
                backbone=dict(data["backbone"]),
                preprocess=PreprocessSpec.from_dict(data["preprocess"]),
                artifacts=artifacts,
                threshold=Threshold(**threshold_data),
                input=dict(data["input"]),
                output=dict(data["output"]),
                provenance=dict(data.get("provenance", {})),
                metrics=dict(data.get("metrics", {})),
                created=data.get("created", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{source}: malformed manifest ({type(exc).__name__}: {exc})") from exc


class Bundle:
    """A loaded `*.pinclip` directory.

    Example:
        >>> bundle = Bundle.load("model.pinclip")  # doctest: +SKIP
        >>> path = bundle.verified_path(bundle.find("onnxruntime", "int8"))  # doctest: +SKIP
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._verified: set[str] = set()

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Read and check a bundle's manifest; artifacts are hashed when first used."""
        root = Path(path)
        manifest_path = root / MANIFEST_NAME
        if not root.is_dir():
            raise BundleError(f"{root}: not a model bundle directory (expected a *.pinclip folder)")
        if not manifest_path.is_file():
            raise BundleError(f"{root}: no {MANIFEST_NAME}; is this a bundle written by `pinclip export`?")
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from exc
        if not isinstance(data, dict):
            raise BundleError(f"{manifest_path}: manifest must be a JSON object")
        manifest = Manifest.from_dict(data, source=str(manifest_path))
        for artifact in manifest.artifacts:
            for entry in artifact.files:
                if Path(entry.path).is_absolute() or ".." in Path(entry.path).parts:
                    raise BundleError(f"{manifest_path}: artifact path {entry.path!r} escapes the bundle")
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
            if not file_path.is_file():
                raise BundleError(f"{self.root}: artifact {artifact.name} is missing {entry.path}")
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
    ) -> Artifact:
        """Record files already written under the bundle root as one artifact (main file first)."""
        if any(a.name == name for a in self._artifacts):
            raise BundleError(f"{self.root}: artifact {name!r} added twice")
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
        artifact = Artifact(name, backend, precision, tuple(entries), dict(meta or {}))
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
        )
        # jsonschema is a dev/train tool; without it Manifest.from_dict still checks what the runtime needs
        with contextlib.suppress(BackendUnavailableError):
            validate_manifest(
                json.loads(json.dumps(manifest.to_dict())), source=str(self.root / MANIFEST_NAME)
            )
        write_manifest(self.root, manifest)
        return Bundle.load(self.root)


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
