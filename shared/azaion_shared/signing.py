"""Ed25519 key files: who may sign the fleet's metadata, as opposed to who can read a model.

The model key keeps a model secret, and every device holds it, so it cannot prove who published
anything. The fleet's metadata (The Update Framework: :mod:`azaion_shared.tuf_repository`) is signed
with Ed25519 keys made here: the offline root keys, the publisher's targets key on the training
server and the api's online key. A private key is PEM (PKCS#8, 0600); a public key is PEM
(SubjectPublicKeyInfo). ``python -m azaion_shared keygen --signing --name NAME`` makes a pair.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.errors import SignatureError


def _raw(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key) -> str:
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key_id: str


def generate(folder: str | Path, name: str = "publisher") -> KeyPair:
    """``{name}.key`` (PEM, 0600: it never leaves where it signs) and ``{name}.pub`` (for the root)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    if private.exists():
        raise SignatureError(f"{private} exists: a new key would orphan everything signed with it (rotate instead)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return KeyPair(private, public, key_id(key.public_key()))


def load_private(path: str | Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} is not an Ed25519 private key")
    return key


def load_public(path: str | Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"cannot read the trusted public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} is not an Ed25519 public key")
    return key
