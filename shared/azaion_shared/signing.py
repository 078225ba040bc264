"""Publisher signatures (Ed25519): who released a model, as opposed to who can read it.

The model key keeps a model secret, and every device holds it, so it cannot prove who published
anything. A release is signed with the publisher's Ed25519 private key, which stays on the training
server; devices hold only public keys, and may trust several at once (rotation).

A signed document is an *envelope*::

    {"payload": "<canonical JSON of the document>", "signatures": [{"key_id": "…", "signature": "…"}]}

``payload`` is the document as canonical JSON (sorted keys, no spaces, UTF-8) so that what is
verified is exactly the bytes that were signed; ``key_id`` is the first 16 hex digits of the
SHA-256 of the raw public key; ``signature`` is base64. :func:`verify` returns the document only
when a signature by a trusted key verifies, and otherwise raises
:class:`~azaion_shared.errors.SignatureError` saying which check failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azaion_shared.errors import SignatureError

PRIVATE_NAME = "publisher.key"
PUBLIC_NAME = "publisher.pub"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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


def generate(folder: str | Path) -> KeyPair:
    """``publisher.key`` (PEM, 0600: keep it on the training server) and ``publisher.pub`` (for devices)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    if private.exists():
        raise SignatureError(f"{private} exists: a new signing key would orphan every release signed with it")
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


def sign(document: dict[str, Any], private_key) -> dict[str, Any]:
    """The envelope of ``document`` signed with ``private_key``."""
    payload = canonical(document)
    signature = base64.b64encode(private_key.sign(payload)).decode("ascii")
    return {
        "payload": payload.decode("utf-8"),
        "signatures": [{"key_id": key_id(private_key.public_key()), "signature": signature}],
    }


def verify(envelope: dict[str, Any], trusted: list) -> dict[str, Any]:
    """The signed document, when a signature by one of the ``trusted`` public keys verifies."""
    from cryptography.exceptions import InvalidSignature

    if not trusted:
        raise SignatureError("no trusted publisher key is configured: give the device the training server's key")
    try:
        payload = envelope["payload"].encode("utf-8")
        signatures = list(envelope["signatures"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise SignatureError(f"not a signed document (missing {exc})") from None
    by_id = {key_id(key): key for key in trusted}
    seen = []
    for entry in signatures:
        kid = str(entry.get("key_id", "")) if isinstance(entry, dict) else ""
        seen.append(kid)
        key = by_id.get(kid)
        if key is None:
            continue
        try:
            key.verify(base64.b64decode(entry["signature"], validate=True), payload)
        except (InvalidSignature, KeyError, ValueError) as exc:
            raise SignatureError(
                f"the signature by key {kid} does not verify: the document was altered or forged"
            ) from exc
        try:
            document = json.loads(payload)
        except ValueError as exc:
            raise SignatureError(f"the signed payload is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise SignatureError("the signed payload is not a JSON object")
        return document
    raise SignatureError(
        f"signed by an unknown key ({', '.join(seen) or 'no signature'}); trusted: {', '.join(sorted(by_id))}"
    )
