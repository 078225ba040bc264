"""Publishing releases in tests with the trainer's own code (trainer.release) and the project's root
ceremony (2 of 3 offline root keys, the publisher's targets key, the api's online key), and forging
them as an attacker would: with the model key every device holds, but without the signing keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from azaion_shared import tuf_repository as tuf
from azaion_shared.api_client import ApiClient, RetryPolicy
from azaion_shared.cdn import Storage
from azaion_shared.crypto import BLOCK, HEADER_SIZE, IV_SIZE, TAG_SIZE, _derive, read_header
from azaion_shared.signing import generate
from azaion_shared.tuf_client import trust_client
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
    """The training server's side: its api account, its CDN, the model key, the publisher's key, and the
    fleet's root (made and installed at the api when ``trust`` is the api's TrustStore)."""

    api_url: str
    cdn: Storage
    key: bytes
    keys_dir: Path
    trust: object = None  # api.trust.TrustStore of the api under test
    email: str = "trainer@x.io"
    channel: str = "stable"
    _previous_root_keys: list = field(default_factory=list, init=False, repr=False)  # who signed the last root

    def __post_init__(self):
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        for name in ("publisher", "root-1", "root-2", "root-3"):
            if not (self.keys_dir / f"{name}.key").exists():
                generate(self.keys_dir, name)
        self.signing_key = self.keys_dir / "publisher.key"
        self.root_file = self.keys_dir / "root.json"
        if self.trust is not None and not self.root_file.exists():
            self.make_root()

    def make_root(
        self,
        targets_keys: list[str] = ("publisher",),
        root_keys=("root-1", "root-2", "root-3"),
        signers=None,
        online: Path | None = None,
    ):
        """The next root (the first when none is installed) naming these keys, signed by ``signers`` (default:
        two of the old root's keys and two of the new one's), installed at the api; returns its bytes."""
        online_public = online or self.trust.ensure_online_key()
        previous = self.trust.root()
        root = tuf.new_root(
            [tuf.public_key(self.keys_dir / f"{k}.pub") for k in root_keys],
            2,
            [tuf.public_key(self.keys_dir / f"{k}.pub") for k in targets_keys],
            [tuf.public_key(online_public)],
            previous=previous,
        )
        names = signers or sorted({*list(root_keys)[:2], *(self._previous_root_keys[:2] if previous else [])})
        for name in names:
            root.sign(tuf.signer(self.keys_dir / f"{name}.key"), append=True)
        data = tuf.to_bytes(root)
        self.trust.install_root(data)
        if previous is None:
            self.root_file.write_bytes(data)
        self._previous_root_keys = list(root_keys)
        return data

    def client(self, email: str | None = None) -> ApiClient:
        return ApiClient(self.api_url, email or self.email, PASSWORD, retry=FAST, timeout=20)

    def publisher(self, api: ApiClient, signing_key: Path | None = None) -> Publisher:
        trust = trust_client(api, self.root_file, "the fleet's root", self.keys_dir / "trainer-tuf")
        return Publisher(api, self.cdn, self.key, signing_key or self.signing_key, trust, self.channel)

    def release(self, *files: ArtifactFile, run: str = "test-run", promote: bool = False, metrics=None):
        with self.client() as api:
            publisher = self.publisher(api)
            classes = next((f.meta["names"] for f in files if f.meta.get("names")), {})
            release = publisher.publish(run, metrics or {"map50_95": 0.5, "map50": 0.7}, classes, list(files))
            if promote:
                publisher.promote(release.version)
            return release

    def promote(self, version: int, fraction: float = 1.0):
        with self.client() as api:
            return self.publisher(api).promote(version, fraction)

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
