"""The model bundle manifest: the one schema that export writes and the runtime checks at load.

A bundle is a folder::

    manifest.json                 this schema (``SCHEMA_VERSION``)
    manifest.sig                  Ed25519 signature over manifest.json's exact bytes (``signing``)
    anonymizer_int8.tflite        the model the runtime runs (``model``)
    anonymizer_float.tflite ...   further artefacts (``artifacts``), each with its sha256

Everything the runtime must not guess is here: window and channel view, units, normalization,
quantization parameters, versions of the converter and runtime, training-data attribution,
evaluation numbers and the release gate's verdict. ``load`` refuses a tampered or unknown bundle;
given the keys the gateway trusts it also refuses an unsigned or wrongly signed one (the sha256
checks alone cannot stop an edited manifest whose checksums were recomputed).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contract import WindowSpec
from .errors import ManifestError
from .normalizer import Normalization

if TYPE_CHECKING:
    from .signing import TrustedKey

__all__ = ["SCHEMA_VERSION", "MANIFEST_NAME", "TensorInfo", "Artifact", "Manifest", "load", "dump", "sha256_file"]

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: shape without batch, dtype, and int8 scale/zero point if quantized."""

    shape: tuple[int, ...]
    dtype: str  # "int8" or "float32"
    scale: float = 0.0
    zero_point: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorInfo:
        return cls(tuple(int(v) for v in d["shape"]), str(d["dtype"]), float(d.get("scale", 0.0)), int(d.get("zero_point", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class Artifact:
    """A file of the bundle with its checksum and format ("tflite", "onnx")."""

    file: str
    sha256: str
    format: str
    dtype: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        return cls(str(d["file"]), str(d["sha256"]), str(d["format"]), str(d["dtype"]))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "format": self.format, "dtype": self.dtype}


@dataclass(frozen=True)
class Manifest:
    """Typed view of ``manifest.json``; ``root`` is the bundle folder it was loaded from."""

    model_version: str
    model: Artifact
    input: TensorInfo
    output: TensorInfo
    window: WindowSpec
    normalization: Normalization
    versions: dict[str, str]  # e.g. {"tensorflow": "2.21.0", "ai_edge_litert": "2.3.0"}
    gate: dict[str, Any]  # {"passed": bool, "checks": {...}}
    attribution: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    schema_version: int = SCHEMA_VERSION
    root: Path = Path(".")
    signed_by: str = ""  # id of the trusted key whose signature was verified at load
    unverified: str = ""  # why the signature was not verified, when loaded with allow_unsigned
    labels: tuple[str, ...] = ()  # an activity estimator's classes (output = their probabilities); () = anonymizer

    @property
    def model_path(self) -> Path:
        return self.root / self.model.file

    @property
    def is_estimator(self) -> bool:
        """An activity estimator (``edge_runtime.estimator``), not an anonymizer: it releases nothing."""
        return bool(self.labels)

    @property
    def gate_passed(self) -> bool:
        return bool(self.gate.get("passed", False))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "model_version": self.model_version,
            "model": self.model.to_dict(),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "window": self.window.to_dict(),
            "normalization": self.normalization.to_dict(),
            "versions": dict(self.versions),
            "gate": self.gate,
            "attribution": self.attribution,
            "training": self.training,
            "evaluation": self.evaluation,
            "artifacts": [a.to_dict() for a in self.artifacts],
        } | ({"labels": list(self.labels)} if self.labels else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any], root: Path = Path(".")) -> Manifest:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema version {version!r} is not supported (this runtime reads {SCHEMA_VERSION})")
        try:
            return cls(
                model_version=str(d["model_version"]),
                model=Artifact.from_dict(d["model"]),
                input=TensorInfo.from_dict(d["input"]),
                output=TensorInfo.from_dict(d["output"]),
                window=WindowSpec.from_dict(d["window"]),
                normalization=Normalization.from_dict(d["normalization"]),
                versions={str(k): str(v) for k, v in d.get("versions", {}).items()},
                gate=dict(d.get("gate", {})),
                attribution=str(d.get("attribution", "")),
                training=dict(d.get("training", {})),
                evaluation=dict(d.get("evaluation", {})),
                artifacts=tuple(Artifact.from_dict(a) for a in d.get("artifacts", [])),
                root=root,
                labels=_labels(d.get("labels", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"manifest is malformed: {type(exc).__name__}: {exc}") from exc


def _labels(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v) or len(set(v)) != len(v):
        raise ValueError("labels must be a list of distinct non-empty names")
    return tuple(v)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def _refuse(reason: str, p: Path) -> ManifestError:
    return ManifestError(f"{reason}: refusing {p} (sign it with aae export --signing-key KEY, trust the "
                         "signer with --trusted-key FILE, or run with --allow-unsigned)")  # fmt: skip


def load(path: str | os.PathLike[str], *, allow_ungated: bool = False, verify: bool = True,
         keys: Iterable[TrustedKey] | None = None, allow_unsigned: bool = False) -> Manifest:  # fmt: skip
    """Read and check a bundle (folder or its manifest.json).

    Args:
        keys: the public keys the caller trusts; ``manifest.sig`` must be a valid signature of one
            of them over the manifest's exact bytes (the gateway always passes them). None: the
            signature is not checked (tools that only read a bundle, e.g. the exporter's own check).
        allow_unsigned: with ``keys``, run an unsigned or wrongly signed bundle anyway; the reason
            is kept in ``Manifest.unverified`` so every status line can say so.
    Raises:
        ManifestError: missing/unreadable file, bad or missing signature (with ``keys``), unknown
            schema, sha256 mismatch of any listed file, or a model whose release gate did not pass
            (unless ``allow_ungated``).
    """
    p = Path(path)
    mpath = p / MANIFEST_NAME if p.is_dir() else p
    try:
        raw = mpath.read_bytes()  # the bytes that are verified are the bytes that are parsed
        d = json.loads(raw.decode("utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"no model bundle at {p} (missing {MANIFEST_NAME})") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read {mpath}: {exc}") from exc
    signed_by = unverified = ""
    if keys is not None:
        from .signing import SIG_NAME, verify_manifest

        try:
            sig = (mpath.parent / SIG_NAME).read_bytes()
        except FileNotFoundError:
            sig = None
        except OSError as exc:
            raise ManifestError(f"cannot read {mpath.parent / SIG_NAME}: {exc.strerror}") from None
        try:
            signed_by = verify_manifest(raw, sig, keys)
        except ManifestError as exc:
            if not allow_unsigned:
                raise _refuse(str(exc), mpath.parent) from None
            unverified = str(exc)
    if not isinstance(d, dict):
        raise ManifestError(f"{mpath} is not a JSON object")
    m = replace(Manifest.from_dict(d, root=mpath.parent), signed_by=signed_by, unverified=unverified)
    if verify:
        for art in (m.model, *m.artifacts):
            f = m.root / art.file
            if not f.is_file():
                raise ManifestError(f"bundle file {art.file} is missing")
            if sha256_file(f) != art.sha256:
                raise ManifestError(f"bundle file {art.file} does not match its sha256 in the manifest (tampered or corrupt)")
    if not m.gate_passed and not allow_ungated:
        raise ManifestError("model did not pass the release gate; refusing (override with --allow-ungated)")
    return m


def dump(manifest: Manifest, folder: str | os.PathLike[str]) -> Path:
    """Write ``manifest.json`` atomically (temp file + rename) into ``folder``."""
    out = Path(folder) / MANIFEST_NAME
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".manifest-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the service user must be able to read the bundle
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
