"""Publish and fetch a protected model resource (DESIGN.md, "Model resources").

publish: encrypt -> split -> big part to the CDN, then small part to the API.
The big part goes first: a publication becomes visible when its small part
lands, so an edge device never sees a small part whose big part is missing.

fetch: small part from the API + big part from the local cache (downloaded from
the CDN once) -> join -> verify and decrypt, in memory or to a private file.
Cached big parts are named by the publication's salt (read from the small
part's header), so a new publication never meets a stale cached big part.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.api_client import ApiClient
from azaion_shared.atomic import private_file, private_folder
from azaion_shared.cdn import Storage
from azaion_shared.crypto import HEADER_SIZE, decrypt_bytes, encrypt_file, read_header
from azaion_shared.errors import DecryptionError, StorageError
from azaion_shared.split import expected_total, split_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    name: str
    small_bytes: int
    big_bytes: int
    big_sha256: str


def small_name(name: str) -> str:
    return f"{name}.small"


def big_name(name: str) -> str:
    return f"{name}.big"


def publish_resource(path: str | Path, name: str, key: bytes, api: ApiClient, cdn: Storage) -> Published:
    """Encrypt ``path`` and publish it as resource ``name`` (small part to the API, big to the CDN)."""
    with tempfile.TemporaryDirectory(prefix="azaion-publish-") as tmp:
        encrypted = Path(tmp, "model.enc")
        encrypt_file(Path(path), encrypted, key)
        return publish_encrypted(encrypted, name, api, cdn)


def publish_encrypted(encrypted: str | Path, name: str, api: ApiClient, cdn: Storage) -> Published:
    """Publish an already encrypted resource (an edge device publishing an engine it built)."""
    with tempfile.TemporaryDirectory(prefix="azaion-publish-") as tmp:
        small, big = Path(tmp, "small"), Path(tmp, "big")
        small_size, big_size = split_file(Path(encrypted), small, big)
        digest = cdn.upload(big_name(name), big)
        api.upload(small_name(name), small)
    log.info("published %s: %d bytes to the API, %d bytes to the CDN", name, small_size, big_size)
    return Published(name, small_size, big_size, digest)


def _cache_path(cache_dir: Path, name: str, small: bytes) -> Path:
    if len(small) >= HEADER_SIZE:
        salt, _size = read_header(small)
        return cache_dir / f"{name}.{salt.hex()[:16]}.big"
    return cache_dir / f"{name}.big"


def fetch_resource(name: str, key: bytes, api: ApiClient, cdn: Storage, cache_dir: str | Path) -> bytes:
    """The verified, decrypted resource, in memory (nothing plaintext is written to disk)."""
    cache_dir = private_folder(cache_dir, enforce=True)  # encrypted parts, but nobody else's business
    small = api.download(small_name(name))
    cached = _cache_path(cache_dir, name, small)
    if cached.exists():
        try:
            return _join_and_decrypt(small, cached, key)
        except DecryptionError as exc:
            log.warning(
                "cached big part %s does not fit the published small part (%s); downloading it again", cached, exc
            )
            try:
                _download_big(cdn, name, cached, cache_dir)
            except StorageError as storage_exc:
                raise DecryptionError(f"{exc}; a fresh big part could not be fetched either: {storage_exc}") from exc
            return _join_and_decrypt(small, cached, key)
    _download_big(cdn, name, cached, cache_dir)
    return _join_and_decrypt(small, cached, key)


def _download_big(cdn: Storage, name: str, cached: Path, cache_dir: Path) -> None:
    cdn.download(big_name(name), cached)
    private_file(cached, create=False)
    _drop_other_publications(cache_dir, name, keep=cached)


def _join_and_decrypt(small: bytes, big_path: Path, key: bytes) -> bytes:
    big = big_path.read_bytes()
    expected_total(small, len(big))
    return decrypt_bytes(small + big, key)


def _drop_other_publications(cache_dir: Path, name: str, keep: Path) -> None:
    for old in cache_dir.glob(f"{name}.*.big"):
        if old != keep:
            old.unlink(missing_ok=True)
