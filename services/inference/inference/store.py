"""The device's store: a release's artifact in, verified plaintext bytes out. It knows nothing of hardware.

Every part comes from the encrypted cache or the api (the small part) and the CDN through the api's
link (the big part), and is checked against the signed manifest (size and SHA-256 of the small part,
the big part and the plaintext) before it is used; plaintext exists only in memory. Which artifact a
device wants, and building one where it must, is its backend's business (:mod:`inference.backends`);
the store also keeps what a backend built here (:meth:`ReleaseStore.keep`), encrypted with the model key.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from azaion_shared import memfile
from azaion_shared.api_client import ApiClient
from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.crypto import MAGIC, decrypt_bytes, decrypt_parts, decrypt_parts_into, encrypt_bytes
from azaion_shared.distribution import big_name, small_name
from azaion_shared.errors import ChecksumMismatchError, DecryptionError
from azaion_shared.model_formats import format_of
from azaion_shared.releases import Artifact, Release
from azaion_shared.split import expected_total
from inference.errors import ModelError
from inference.priority import at_lowest_priority
from inference.release_cache import ReleaseCache

log = logging.getLogger(__name__)


@dataclass
class Model:
    """A decrypted model in memory, and what it is."""

    name: str
    format: str  # onnx | tensorrt | rknn (azaion_shared.model_formats)
    payload: bytes
    origin: str  # published | built here | local cache | file
    version: int | None = None  # the release it came from (None: a local file)


def load_file(path: Path, key: bytes | None) -> Model:
    """A model from a local file: encrypted (decrypted in memory with the model key) or plain."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc}") from exc
    if data.startswith(MAGIC):
        if key is None:
            raise ModelError(f"{path} is encrypted: set AZAION_MODEL_KEY or AZAION_MODEL_KEY_FILE")
        try:
            data = decrypt_bytes(data, key)
        except DecryptionError as exc:
            raise DecryptionError(f"{path}: {exc}") from exc
    return Model(path.name, format_of(path.name).name, data, "file")


class ReleaseStore:
    def __init__(self, key: bytes, api: ApiClient, cache: ReleaseCache):
        self.key, self.api, self.cache = key, api, cache

    def model(self, release: Release, artifact: Artifact) -> Model:
        """An artifact of a release as a model in memory, verified; fetched, checked and decrypted at the
        lowest CPU priority (a running model keeps the CPU it needs)."""
        plaintext = at_lowest_priority(lambda: self.plaintext(release, artifact))
        return Model(artifact.resource, artifact.format, plaintext, "published", release.version)

    def plaintext(self, release: Release, artifact: Artifact) -> bytes:
        """The plaintext of an artifact, each part from the cache or the api/CDN, every hash checked."""
        plaintext = self._decrypted(release, artifact, lambda parts: decrypt_parts(parts, self.key))
        self._check(release, artifact, hashlib.sha256(plaintext).hexdigest(), len(plaintext))
        return plaintext

    def plaintext_file(self, release: Release, artifact: Artifact) -> int:
        """:meth:`plaintext` in an anonymous memory file, checked there: its descriptor, which the caller
        closes (a helper process hands it to the device as it is, without a copy). Linux only."""
        fd = memfile.new("plaintext")
        try:
            size = self._decrypted(release, artifact, lambda parts: decrypt_parts_into(parts, self.key, fd))
            digest = hashlib.sha256()
            if size:
                with mmap.mmap(fd, size, prot=mmap.PROT_READ) as view:  # hashed where it lies
                    digest.update(view)
            self._check(release, artifact, digest.hexdigest(), size)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _decrypted(self, release: Release, artifact: Artifact, decrypt):
        """``decrypt([small, big])`` of the artifact's parts, each from the cache or the api/CDN and checked."""
        folder = self.cache.release_dir(release.version)
        try:
            small = self._small(folder / small_name(artifact.resource), artifact)
            big = self._big(folder / big_name(artifact.resource), artifact)
            expected_total(small, len(big))
            return decrypt([small, big])
        except ChecksumMismatchError as exc:
            raise ChecksumMismatchError(f"release {release.version}, {artifact.resource}: {exc}") from exc
        except DecryptionError as exc:
            raise DecryptionError(
                f"release {release.version}, {artifact.resource}: {exc} (is AZAION_MODEL_KEY the key it was "
                "published with?)"
            ) from exc

    @staticmethod
    def _check(release: Release, artifact: Artifact, digest: str, size: int) -> None:
        if digest != artifact.plaintext_sha256 or size != artifact.plaintext_size:
            raise ModelError(
                f"release {release.version}, {artifact.resource}: the decrypted model is not the one the release "
                f"signed (SHA-256 {digest[:16]}…, expected {artifact.plaintext_sha256[:16]}…): refused"
            )

    def _small(self, path: Path, artifact: Artifact) -> bytes:
        if path.is_file():
            data = path.read_bytes()
            if _matches(data, artifact.small_sha256, artifact.small_size):
                return data
        data = self.api.download(small_name(artifact.resource))
        if not _matches(data, artifact.small_sha256, artifact.small_size):
            raise ChecksumMismatchError(
                f"the small part from the api (SHA-256 {hashlib.sha256(data).hexdigest()[:16]}…, {len(data)} bytes) "
                "is not the one the release signed: a forged or corrupted part, refused"
            )
        atomic_write_bytes(path, data, mode=0o600)
        return data

    def _big(self, path: Path, artifact: Artifact) -> bytes:
        if path.is_file():
            data = path.read_bytes()
            if _matches(data, artifact.big_sha256, artifact.big_size):
                return data
            log.warning("the cached %s does not match its release; downloading it again", path.name)
            path.unlink()
        log.info("downloading %s (%d bytes) ...", big_name(artifact.resource), artifact.big_size)
        self.api.download_part(big_name(artifact.resource), path, artifact.big_sha256, artifact.big_size)
        return path.read_bytes()

    # --- what a backend built here, kept on this device only -------------------------------------
    def kept(self, path: Path) -> bytes | None:
        """What :meth:`keep` stored at ``path``, decrypted; None when there is none or it is unusable."""
        if not path.exists():
            return None
        try:
            return decrypt_bytes(path.read_bytes(), self.key)
        except DecryptionError as exc:
            log.warning("%s, built here earlier, is unusable (%s); making it again", path, exc)
            return None

    def keep(self, path: Path, plaintext: bytes) -> None:
        """Store ``plaintext`` encrypted with the model key (0600): it never leaves this device."""
        atomic_write_bytes(path, encrypt_bytes(plaintext, self.key), mode=0o600)


def _matches(data: bytes, sha256: str, size: int) -> bool:
    return len(data) == size and hashlib.sha256(data).hexdigest() == sha256
