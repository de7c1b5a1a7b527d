"""Ed25519 signatures over a bundle's manifest: who exported the bundle, and that nobody edited it since.

``manifest.json`` holds every file's sha256, so one signature over its exact bytes covers the whole
bundle: the normalization, the evaluation numbers, the gate's verdict and, through the checksums,
the model files. The signature lives beside it in ``manifest.sig``::

    {"algorithm": "ed25519", "key_id": "3f2a9c0d1e7b4a65", "signature": "<base64 of 64 bytes>"}

Keys are PEM files that ``openssl pkey`` reads too: the private key PKCS#8 (mode 0600, never in
the repository), the public key SubjectPublicKeyInfo (``.pub``). A key's id is the first 16 hex
digits of the sha256 of its raw 32 public bytes. The gateway trusts the keys in ``PACKAGE_KEYS``
(the project key that signs the bundled model), in ``SYSTEM_KEYS``, given with ``--trusted-key``
(config ``model.trusted_keys``) and listed in ``$EDGE_ANONYMIZE_TRUSTED_KEYS`` (files or folders,
``:``-separated, e.g. from a systemd drop-in). ``cryptography`` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ManifestError

__all__ = ["SIG_NAME", "PACKAGE_KEYS", "SYSTEM_KEYS", "ENV_KEYS", "TrustedKey", "generate_key", "load_private_key",
           "load_public_key", "public_of", "trusted_keys", "sign_manifest", "sign_bundle", "verify_manifest"]  # fmt: skip

SIG_NAME = "manifest.sig"
PACKAGE_KEYS = Path(__file__).resolve().parent / "keys"
SYSTEM_KEYS = Path("/etc/edge-anonymize/keys")
ENV_KEYS = "EDGE_ANONYMIZE_TRUSTED_KEYS"
_HINT = "pip install 'edge-anonymize[edge]'"


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ManifestError(f"bundle signatures need the 'cryptography' package: {_HINT}") from None
    return serialization, ed25519


@dataclass(frozen=True)
class TrustedKey:
    """A public key the gateway accepts signatures from; ``source`` is where it was read."""

    key_id: str
    key: Any  # cryptography's Ed25519PublicKey
    source: str


def _key_id(public: Any) -> str:
    serialization, _ = _crypto()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(out: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new key pair: ``out`` (private, 0600) and ``out.pub``; refuses to overwrite either.

    Returns ``(private path, public path, key id)``. Raises ConfigError (one line) on any failure.
    """
    serialization, ed25519 = _crypto()
    priv_path = Path(out)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    for path in (priv_path, pub_path):
        if path.exists() or path.is_symlink():
            raise ConfigError(f"{path} exists; refusing to overwrite a key")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for path, data, mode in ((priv_path, pem, 0o600), (pub_path, pub, 0o644)):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise ConfigError(f"{path} exists; refusing to overwrite a key") from None
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, mode)  # O_CREAT's mode is masked by the umask
    return priv_path, pub_path, _key_id(key.public_key())


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_private_key(path: str | os.PathLike[str]) -> Any:
    """An Ed25519 private key from a PEM file; ConfigError (one line) if it is not one."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(_read(path, "signing key"), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> TrustedKey:
    """An Ed25519 public key from a PEM ``.pub`` file; ConfigError (one line) if it is not one."""
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_public_key(_read(path, "trusted key"))
    except (ValueError, TypeError):
        raise ConfigError(f"trusted key {path} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"trusted key {path} is not an Ed25519 key")
    return TrustedKey(_key_id(key), key, str(path))


def trusted_keys(extra: Iterable[str | os.PathLike[str]] = (), *, package_dir: Path | None = PACKAGE_KEYS,
                 system_dir: Path | None = SYSTEM_KEYS, env: Mapping[str, str] | None = None) -> list[TrustedKey]:  # fmt: skip
    """The packaged keys, ``system_dir/*.pub`` (if the folder exists), ``$EDGE_ANONYMIZE_TRUSTED_KEYS``
    and ``extra`` (each a ``.pub`` file or a folder of them).

    Raises:
        ConfigError: a named key file is missing or not an Ed25519 public key.
    """
    env = os.environ if env is None else env
    named = [*filter(None, env.get(ENV_KEYS, "").split(os.pathsep)), *extra]
    paths: list[Path] = []
    for folder in (package_dir, system_dir):
        if folder is not None and folder.is_dir():
            paths += sorted(folder.glob("*.pub"))
    for item in named:
        p = Path(item)
        if p.is_dir():
            paths += sorted(p.glob("*.pub"))
        elif p.exists():
            paths.append(p)
        else:
            raise ConfigError(f"trusted key {p} does not exist")
    return [load_public_key(p) for p in paths]


def public_of(key: Any) -> TrustedKey:
    """The public half of a private key, as a trusted key (the exporter checks its own signature)."""
    return TrustedKey(_key_id(key.public_key()), key.public_key(), "signing key")


def sign_manifest(manifest_bytes: bytes, key: Any) -> bytes:
    """The ``manifest.sig`` content for these exact manifest bytes."""
    sig = key.sign(manifest_bytes)
    doc = {"algorithm": "ed25519", "key_id": _key_id(key.public_key()), "signature": base64.b64encode(sig).decode()}
    return (json.dumps(doc) + "\n").encode()


def sign_bundle(folder: str | os.PathLike[str], key: Any) -> Path:
    """Write ``folder/manifest.sig`` (0644, temp file + rename) over ``folder/manifest.json`` as it is."""
    root = Path(folder)
    data = sign_manifest((root / "manifest.json").read_bytes(), key)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-sig-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / SIG_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return root / SIG_NAME


def verify_manifest(manifest_bytes: bytes, sig: bytes | None, keys: Iterable[TrustedKey]) -> str:
    """The id of the trusted key that signed ``manifest_bytes``.

    Raises:
        ManifestError: unsigned (``sig`` None), malformed signature file, a key nobody trusts, or a
            signature that does not match these bytes (the manifest was edited after signing).
    """
    if sig is None:
        raise ManifestError(f"bundle is not signed (no {SIG_NAME})")
    try:
        doc = json.loads(sig)
        algorithm, kid, raw = doc["algorithm"], str(doc["key_id"]), base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"bundle's {SIG_NAME} is malformed") from None
    if algorithm != "ed25519":
        raise ManifestError(f"bundle's {SIG_NAME} uses {algorithm!r}; this runtime verifies ed25519 only")
    keys = list(keys)
    match = [k for k in keys if k.key_id == kid]
    if not match:
        known = ", ".join(sorted({k.key_id for k in keys})) or "none"
        raise ManifestError(f"bundle is signed by key {kid}, which this gateway does not trust (trusted: {known}; "
                            f"add its .pub with --trusted-key or to {SYSTEM_KEYS})")  # fmt: skip
    from cryptography.exceptions import InvalidSignature

    try:
        match[0].key.verify(raw, manifest_bytes)
    except InvalidSignature:
        raise ManifestError(f"bundle's {SIG_NAME} does not match its manifest.json (edited after signing)") from None
    return kid
