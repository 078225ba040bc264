"""Publishing releases in tests with the trainer's own code (trainer.release), and forging them as an
attacker would: with the model key every device holds, but without the publisher's signing key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.api_client import ApiClient, RetryPolicy
from azaion_shared.cdn import Storage
from azaion_shared.crypto import BLOCK, HEADER_SIZE, IV_SIZE, TAG_SIZE, _derive, read_header
from azaion_shared.signing import generate, load_private, load_public
from trainer.release import ArtifactFile, Publisher

PASSWORD = "a-long-enough-password"
FAST = RetryPolicy(attempts=2, base_delay=0.01)


def onnx_file(path: Path, imgsz: int = 128, batch: int = 4, names: dict | None = None) -> ArtifactFile:
    meta = {"resource": "azaion.onnx", "format": "onnx", "imgsz": imgsz, "batch": batch, "precision": "fp32"}
    return ArtifactFile(path, meta | {"names": names or {"0": "person"}})


def artifact_file(path: Path, resource: str, fmt: str, **meta) -> ArtifactFile:
    return ArtifactFile(path, {"resource": resource, "format": fmt, **meta})


@dataclass
class Kit:
    """The training server's side: its api account, its CDN, the model key and the signing key."""

    api_url: str
    cdn: Storage
    key: bytes
    keys_dir: Path
    email: str = "trainer@x.io"
    channel: str = "stable"

    def __post_init__(self):
        if not (self.keys_dir / "publisher.key").exists():
            generate(self.keys_dir)
        self.signing_key = load_private(self.keys_dir / "publisher.key")
        self.public_key_file = self.keys_dir / "publisher.pub"

    def trusted(self) -> list:
        return [load_public(self.public_key_file)]

    def client(self, email: str | None = None) -> ApiClient:
        return ApiClient(self.api_url, email or self.email, PASSWORD, retry=FAST, timeout=20)

    def publisher(self, api: ApiClient) -> Publisher:
        return Publisher(api, self.cdn, self.key, self.signing_key, self.channel)

    def release(self, *files: ArtifactFile, run: str = "test-run", promote: bool = False, metrics=None):
        with self.client() as api:
            publisher = self.publisher(api)
            classes = next((f.meta["names"] for f in files if f.meta.get("names")), {})
            release = publisher.publish(run, metrics or {"map50_95": 0.5, "map50": 0.7}, classes, list(files))
            if promote:
                publisher.promote(release.version)
            return release

    def promote(self, version: int):
        with self.client() as api:
            return self.publisher(api).promote(version)

    def rollback(self, to: int | None = None):
        with self.client() as api:
            return self.publisher(api).rollback(to)


def forge_big_part(small: bytes, big: bytes, key: bytes, tail: bytes = b"attacker's model") -> bytes:
    """A big part that, joined with the genuine small part, decrypts (valid MAC) to a model the attacker
    chose: what anyone with the model key (every device's .env) could make without the signing key."""
    from cryptography.hazmat.primitives import hmac as hmac_mod
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.hashes import SHA256

    blob = small + big
    salt, size = read_header(blob)
    enc_key, mac_key = _derive(key, salt)
    iv = blob[HEADER_SIZE : HEADER_SIZE + IV_SIZE]
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(blob[HEADER_SIZE + IV_SIZE : -TAG_SIZE]) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    plaintext = bytearray(unpadder.update(padded) + unpadder.finalize())
    plaintext[-len(tail) :] = tail  # same size, other content; the small part's ciphertext prefix is unchanged
    padder = padding.PKCS7(BLOCK * 8).padder()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(bytes(plaintext)) + padder.finalize()) + encryptor.finalize()
    body = blob[: HEADER_SIZE + IV_SIZE] + ciphertext
    mac = hmac_mod.HMAC(mac_key, SHA256())
    mac.update(body)
    forged = body + mac.finalize()
    assert forged[: len(small)] == small and len(forged) == len(blob) and size == len(plaintext)
    return forged[len(small) :]


def forged_manifest(envelope: dict, **changes) -> dict:
    """The envelope with its payload changed and the genuine signature kept."""
    payload = json.loads(envelope["payload"])
    payload.update(changes)
    return {**envelope, "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"))}
