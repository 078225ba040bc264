"""Get the model this device should run out of a signed release, verified and decrypted in memory.

The artifact for this device (see :mod:`inference.device`): the release's TensorRT engine for this
GPU's compute capability, else an engine built here from the release's ONNX model (kept encrypted in
the cache, keyed by the signed ONNX hash, the TensorRT version and the compute capability; a device
never publishes it); on a Rockchip NPU the release's RKNN model; everywhere else, and as the
fallback of all, its ONNX model. Every part is checked against the signed manifest (size and SHA-256
of the small part, the big part and the plaintext) before it is used; plaintext exists only in memory.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.api_client import ApiClient
from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.crypto import MAGIC, decrypt_bytes, encrypt_bytes
from azaion_shared.distribution import big_name, small_name
from azaion_shared.errors import ChecksumMismatchError, DecryptionError
from azaion_shared.model_formats import AUTO, BACKENDS, ONNX, RKNN, TENSORRT, format_of
from azaion_shared.releases import Artifact, Release
from azaion_shared.split import expected_total
from inference.device import Device
from inference.errors import ModelError
from inference.release_cache import ReleaseCache
from inference.settings import InferenceOptions

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


class Acquirer:
    def __init__(
        self,
        options: InferenceOptions,
        key: bytes,
        api: ApiClient,
        cache: ReleaseCache,
        builder: Callable[[bytes], bytes] | None = None,
        tensorrt_version: Callable[[], str] | None = None,
        rknn_missing: Callable[[], str | None] | None = None,
    ):
        self.options, self.key, self.api, self.cache = options, key, api, cache
        self.builder = builder
        self.tensorrt_version = tensorrt_version
        self.rknn_missing = rknn_missing

    # --- parts, verified against the signed manifest -------------------------------------------------
    def fetch(self, release: Release, artifact: Artifact) -> bytes:
        """The plaintext of an artifact, each part from the cache or the api/CDN, every hash checked."""
        folder = self.cache.release_dir(release.version)
        try:
            small = self._small(folder / small_name(artifact.resource), artifact)
            big = self._big(folder / big_name(artifact.resource), artifact)
            expected_total(small, len(big))
            plaintext = decrypt_bytes(small + big, self.key)
        except ChecksumMismatchError as exc:
            raise ChecksumMismatchError(f"release {release.version}, {artifact.resource}: {exc}") from exc
        except DecryptionError as exc:
            raise DecryptionError(
                f"release {release.version}, {artifact.resource}: {exc} (is AZAION_MODEL_KEY the key it was "
                "published with?)"
            ) from exc
        digest = hashlib.sha256(plaintext).hexdigest()
        if digest != artifact.plaintext_sha256 or len(plaintext) != artifact.plaintext_size:
            raise ModelError(
                f"release {release.version}, {artifact.resource}: the decrypted model is not the one the release "
                f"signed (SHA-256 {digest[:16]}…, expected {artifact.plaintext_sha256[:16]}…): refused"
            )
        return plaintext

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

    # --- which artifact ------------------------------------------------------------------------------
    def acquire(self, release: Release, device: Device, backend: str = AUTO) -> Model:
        """The model of ``release`` for ``device`` (``backend`` forces one: onnxruntime, tensorrt, rknn)."""
        want = device.format if backend == AUTO else BACKENDS[backend]
        if want is TENSORRT:
            return self._engine(release, device)
        if want is RKNN:
            if self._rknn_cannot_run():
                return self._onnx(release)
            artifact = release.artifact(RKNN.name)
            if artifact is not None:
                return Model(artifact.resource, RKNN.name, self.fetch(release, artifact), "published", release.version)
            if backend == RKNN.backend:
                raise ModelError(f"release {release.version} has no RKNN model (export and release one)")
            log.warning("release %d has no RKNN model; running its ONNX model on the CPU instead", release.version)
        return self._onnx(release)

    def _rknn_cannot_run(self) -> bool:
        """True, said as a warning (at start and at each new release), when the NPU's runtime is missing: a
        rockchip image on a board without librknnrt.so, or not on a board at all. The device runs ONNX on its
        CPU instead."""
        if self.rknn_missing is None:
            from inference.backends import rknn

            self.rknn_missing = rknn.runtime_missing
        missing = self.rknn_missing()
        if missing:
            log.warning("RKNN cannot run here: %s. Running the ONNX model on the CPU (ONNX Runtime) instead", missing)
        return missing is not None

    def _onnx(self, release: Release) -> Model:
        artifact = release.artifact(ONNX.name)
        if artifact is None:
            raise ModelError(f"release {release.version} has no ONNX model, the fallback every device needs")
        return Model(artifact.resource, ONNX.name, self.fetch(release, artifact), "published", release.version)

    # --- TensorRT engines -----------------------------------------------------------------------
    def _engine(self, release: Release, device: Device) -> Model:
        if device.compute_capability is None:
            raise ModelError("TensorRT needs an NVIDIA GPU, and none was found here (use --backend onnxruntime)")
        artifact = release.artifact(TENSORRT.name, device.compute_capability)
        if artifact is not None:
            return Model(artifact.resource, TENSORRT.name, self.fetch(release, artifact), "published", release.version)
        log.info("release %d has no engine for compute capability %s", release.version, device.compute_capability)
        return self.build_engine(release, device, reuse=True)

    def engine_path(self, release: Release, device: Device) -> Path:
        onnx = release.artifact(ONNX.name)
        if onnx is None:
            raise ModelError(f"release {release.version} has no ONNX model to build a TensorRT engine from")
        if self.tensorrt_version is None:
            from inference.backends import tensorrt

            self.tensorrt_version = tensorrt.version
        return self.cache.engine_path(onnx.plaintext_sha256, self.tensorrt_version(), device.compute_capability or "")

    def build_engine(self, release: Release, device: Device, reuse: bool = False) -> Model:
        """An engine for this GPU from the release's ONNX model: the one built here before (``reuse``),
        else built now and cached encrypted. It stays on this device."""
        path = self.engine_path(release, device)
        name = TENSORRT.resource(device.compute_capability)
        if reuse and path.exists():
            try:
                engine = decrypt_bytes(path.read_bytes(), self.key)
                return Model(name, TENSORRT.name, engine, "local cache", release.version)
            except DecryptionError as exc:
                log.warning("the engine built here earlier (%s) is unusable (%s); building it again", path, exc)
        if self.builder is None:
            from inference.backends.tensorrt import build_engine

            options = self.options
            self.builder = lambda onnx: build_engine(onnx, fp16=options.engine_fp16, max_batch=options.engine_max_batch)
        onnx = self._onnx(release)
        log.info(
            "building %s from release %d's ONNX model for this GPU (minutes on a Jetson) ...", name, release.version
        )
        engine = self.builder(onnx.payload)
        atomic_write_bytes(path, encrypt_bytes(engine, self.key), mode=0o600)
        log.info("engine cached encrypted in %s (never published)", path)
        return Model(name, TENSORRT.name, engine, "built here", release.version)


def _matches(data: bytes, sha256: str, size: int) -> bool:
    return len(data) == size and hashlib.sha256(data).hexdigest() == sha256
