"""Get the model this device should run, verified and decrypted in memory.

Order of preference (see :mod:`inference.device`): a published engine for this GPU, then an engine
built here earlier (kept encrypted in the cache), then a new engine built here from the ONNX model
(published when this user's role may upload); on Rockchip the RKNN model; everywhere else, and
as the fallback of all, the ONNX model. Plaintext exists only in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.api_client import ApiClient
from azaion_shared.atomic import atomic_write_bytes, private_folder
from azaion_shared.cdn import Storage
from azaion_shared.crypto import MAGIC, decrypt_bytes, encrypt_bytes
from azaion_shared.distribution import fetch_resource, publish_encrypted
from azaion_shared.errors import ApiError, ApiNotFoundError, DecryptionError, StorageError
from azaion_shared.model_formats import BACKENDS, ONNX, RKNN, TENSORRT, format_of
from azaion_shared.roles import may_upload
from inference.device import Device
from inference.errors import ModelError
from inference.settings import InferenceOptions

log = logging.getLogger(__name__)


@dataclass
class Model:
    """A decrypted model in memory, and what it is."""

    name: str
    format: str  # onnx | tensorrt | rknn (azaion_shared.model_formats)
    payload: bytes
    origin: str  # published | built here | local cache | file


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
            raise ModelError(f"{path}: {exc}") from exc
    return Model(path.name, format_of(path.name).name, data, "file")


class Acquirer:
    def __init__(
        self,
        options: InferenceOptions,
        key: bytes,
        api: ApiClient,
        cdn: Storage,
        cache_dir: Path,
        builder: Callable[[bytes], bytes] | None = None,
    ):
        self.options, self.key, self.api, self.cdn = options, key, api, cdn
        self.cache_dir = cache_dir
        self.builder = builder

    def fetch(self, name: str) -> bytes:
        try:
            return fetch_resource(name, self.key, self.api, self.cdn, self.cache_dir)
        except DecryptionError as exc:
            raise ModelError(f"{name}: {exc} (is AZAION_MODEL_KEY the key the model was published with?)") from exc
        except StorageError as exc:
            raise ModelError(f"{name}: the big part could not be fetched from the CDN: {exc}") from exc

    def acquire(self, device: Device, backend: str = "auto") -> Model:
        """The model for ``device`` (``backend`` forces one: onnxruntime, tensorrt, rknn)."""
        want = device.format if backend == "auto" else BACKENDS[backend]
        if want is TENSORRT:
            return self._engine(device)
        if want is RKNN:
            try:
                return Model(self.options.rknn_resource, RKNN.name, self.fetch(self.options.rknn_resource), "published")
            except ApiNotFoundError as exc:
                if backend == "rknn":
                    raise ModelError(f"{self.options.rknn_resource} is not published yet: {exc}") from exc
                log.warning("no %s published; running the ONNX model on the CPU instead", self.options.rknn_resource)
        return self._onnx()

    def _onnx(self) -> Model:
        name = self.options.onnx_resource
        try:
            return Model(name, ONNX.name, self.fetch(name), "published")
        except ApiNotFoundError as exc:
            raise ModelError(f"no model is published yet ({name}): train and publish one first ({exc})") from exc

    # --- TensorRT engines -----------------------------------------------------------------------
    def local_engine_path(self, name: str) -> Path:
        return self.cache_dir / f"{name}.local"

    def _engine(self, device: Device) -> Model:
        name = device.engine_name()
        if name is None:
            raise ModelError("TensorRT needs an NVIDIA GPU, and none was found here (use --backend onnxruntime)")
        try:
            return Model(name, TENSORRT.name, self.fetch(name), "published")
        except ApiNotFoundError:
            log.info("no %s published", name)
        local = self.local_engine_path(name)
        if local.exists():
            try:
                return Model(name, TENSORRT.name, decrypt_bytes(local.read_bytes(), self.key), "local cache")
            except DecryptionError as exc:
                log.warning("the engine built here earlier (%s) is unusable (%s); building it again", local, exc)
        return self.build_engine(name)

    def build_engine(self, name: str) -> Model:
        """Build an engine for this GPU from the ONNX model, cache it encrypted, publish it if allowed."""
        if self.builder is None:
            from inference.backends.tensorrt import build_engine

            options = self.options
            self.builder = lambda onnx: build_engine(onnx, fp16=options.engine_fp16, max_batch=options.engine_max_batch)
        onnx = self._onnx()
        log.info("building %s from %s for this GPU (minutes on a Jetson) ...", name, onnx.name)
        engine = self.builder(onnx.payload)
        encrypted = encrypt_bytes(engine, self.key)
        local = self.local_engine_path(name)
        atomic_write_bytes(private_folder(self.cache_dir, enforce=True) / local.name, encrypted, mode=0o600)
        log.info("engine cached encrypted in %s", local)
        if self.options.publish_engines:
            self._publish(name, local)
        return Model(name, TENSORRT.name, engine, "built here")

    def _publish(self, name: str, encrypted: Path) -> None:
        role = self.api.role()
        if not may_upload(role):
            log.info("this user's role (%s) may not upload; %s stays in the local cache only", role, name)
            return
        try:
            publish_encrypted(encrypted, name, self.api, self.cdn)
        except (ApiError, StorageError) as exc:
            log.warning("could not publish %s (%s); it stays in the local cache", name, exc)
