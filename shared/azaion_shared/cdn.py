"""Storage for the big model parts: an S3 bucket (MinIO, AWS, ...) or a local folder.

Both backends have the same small interface (:class:`Storage`). Every object
carries its SHA-256 (S3 object metadata, or a ``.sha256`` file beside it), and
every download is checked against it before it is renamed into place. S3
downloads resume from a ``.part`` file after a dropped connection.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from azaion_shared.atomic import atomic_move, atomic_write_text, atomic_writer, fsync_dir
from azaion_shared.errors import ChecksumMismatchError, ConfigError, StorageError, map_exceptions
from azaion_shared.tls import check_url

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
SHA_KEY = "sha256"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Storage(ABC):
    """Where big parts live. Names are resource names such as ``azaion.onnx.big``."""

    @abstractmethod
    def upload(self, name: str, path: str | Path) -> str:
        """Store the file under ``name``; returns its SHA-256 (hex)."""

    @abstractmethod
    def download(self, name: str, dest: str | Path) -> Path:
        """Fetch ``name`` into ``dest`` (atomically, checksum verified)."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def link(self, name: str, seconds: int) -> str | Path | None:
        """Where a reader without credentials gets ``name``: a presigned URL valid for ``seconds`` (S3),
        the file itself (a folder here: the api streams it), or None when there is no such object."""


def _check(dest_tmp: Path, expected: str | None, name: str) -> None:
    if expected is None:
        raise StorageError(f"{name} has no recorded SHA-256; re-publish it")
    actual = sha256_file(dest_tmp)
    if actual != expected:
        raise ChecksumMismatchError(f"{name}: downloaded SHA-256 {actual[:16]}... differs from {expected[:16]}...")


class LocalStorage(Storage):
    """The embedded default: a folder on this machine (or a shared mount)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise StorageError(f"invalid object name {name!r}")
        return self.folder / name

    def upload(self, name: str, path: str | Path) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = sha256_file(path)
        atomic_write_text(self._path(name + ".sha256"), digest + "\n")
        with open(path, "rb") as src, atomic_writer(self._path(name)) as dst:
            shutil.copyfileobj(src, dst, 4 * 1024 * 1024)
        return digest

    def download(self, name: str, dest: str | Path) -> Path:
        source = self._path(name)
        if not source.is_file():
            raise StorageError(f"{name} is not in the local CDN folder {self.folder}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        shutil.copyfile(source, part)
        sidecar = self._path(name + ".sha256")
        _check(part, sidecar.read_text().strip() if sidecar.exists() else None, name)
        atomic_move(part, dest)
        return dest

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        for path in (self._path(name), self._path(name + ".sha256")):
            path.unlink(missing_ok=True)

    def link(self, name: str, seconds: int) -> str | Path | None:
        path = self._path(name)
        return path if path.is_file() else None


class S3Storage(Storage):
    """An S3 bucket; ``endpoint_url`` points at MinIO or any S3-compatible server."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        multipart_mb: int = 16,
        attempts: int = 5,
        client=None,
        ca_bundle: Path | None = None,
        public_endpoint_url: str | None = None,
    ):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.attempts = attempts
        self._client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            verify=str(ca_bundle) if ca_bundle else None,  # None: the system's CAs
            config=Config(retries={"max_attempts": attempts, "mode": "standard"}, signature_version="s3v4"),
        )
        # Presigned links name the host they were made for: devices outside the server's network reach
        # the S3 endpoint under another name than the services do (https://SERVER:9000, not https://minio:9000).
        self._signer = (
            boto3.client(
                "s3",
                endpoint_url=public_endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=Config(signature_version="s3v4"),
            )
            if public_endpoint_url
            else self._client
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_mb * 1024 * 1024, multipart_chunksize=multipart_mb * 1024 * 1024
        )

    def _errors(self):
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def _s3(self, what: str):
        """The one translation table of S3's errors (botocore's, and the local file's) into StorageError."""
        return map_exceptions(dict.fromkeys((*self._errors(), OSError), StorageError), what)

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors():
            with self._s3(f"cannot create bucket {self.bucket}"):
                self._client.create_bucket(Bucket=self.bucket)

    def upload(self, name: str, path: str | Path) -> str:
        digest = sha256_file(path)
        with self._s3(f"upload of {name} to s3://{self.bucket} failed"):
            self._client.upload_file(
                str(path), self.bucket, name, ExtraArgs={"Metadata": {SHA_KEY: digest}}, Config=self._transfer
            )
        return digest

    def download(self, name: str, dest: str | Path) -> Path:
        """Ranged GETs into ``dest.part``, resuming after a dropped connection; checksum, then rename."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with self._s3(f"{name} is not available in s3://{self.bucket}"):
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        size = head["ContentLength"]
        expected = head.get("Metadata", {}).get(SHA_KEY)
        etag = head.get("ETag")
        last_error: Exception | None = None
        for attempt in range(self.attempts):
            have = part.stat().st_size if part.exists() else 0
            if have > size:
                part.unlink()
                have = 0
            if have == size:
                break
            try:
                response = self._client.get_object(
                    Bucket=self.bucket, Key=name, Range=f"bytes={have}-", **({"IfMatch": etag} if etag else {})
                )
                with open(part, "ab") as fh:
                    for chunk in response["Body"].iter_chunks(CHUNK):
                        fh.write(chunk)
                continue
            except (*self._errors(), OSError) as exc:
                last_error = exc
                if _is_precondition_failure(exc):  # the object changed under us: start over
                    part.unlink(missing_ok=True)
                    return self.download(name, dest)
                delay = min(10.0, 0.5 * 2**attempt)
                log.warning(
                    "download of %s interrupted at %d/%d bytes (%s); resuming in %.1f s",
                    name,
                    part.stat().st_size if part.exists() else 0,
                    size,
                    exc,
                    delay,
                )
                time.sleep(delay)
        else:
            raise StorageError(f"download of {name} gave up after {self.attempts} attempts: {last_error}")
        try:
            _check(part, expected, name)
        except ChecksumMismatchError:
            part.unlink(missing_ok=True)
            raise
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        atomic_move(part, dest)
        fsync_dir(dest.parent)
        return dest

    def exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
            return True
        except self._errors():
            return False

    def link(self, name: str, seconds: int) -> str | Path | None:
        if not self.exists(name):
            return None
        with self._s3(f"cannot presign {name} in s3://{self.bucket}"):
            return self._signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": name}, ExpiresIn=seconds
            )

    def delete(self, name: str) -> None:
        with self._s3(f"cannot delete {name} from s3://{self.bucket}"):
            self._client.delete_object(Bucket=self.bucket, Key=name)


def _is_precondition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in ("PreconditionFailed", "412")


class CdnSettings(BaseModel):
    """``AZAION_CDN__*``: S3 when a bucket is set, else the local folder."""

    bucket: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    region: str = "us-east-1"
    local_dir: Path | None = None
    ca_bundle: Path | None = Field(
        None, description="PEM file of the CA that signed the S3 endpoint's certificate (the site CA's ca.crt)."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow a plain http:// endpoint_url to a host other than loopback (trusted network only)."
    )
    public_endpoint_url: str | None = Field(
        None,
        description="The S3 endpoint as edge devices reach it, for the links the api hands them "
        "(https://SERVER:9000); default endpoint_url.",
    )


def storage_from_settings(settings: CdnSettings, root: Path) -> Storage:
    if settings.bucket:
        if settings.endpoint_url:
            check_url(
                settings.endpoint_url,
                "AZAION_CDN__ENDPOINT_URL",
                settings.allow_insecure_http,
                "AZAION_CDN__ALLOW_INSECURE_HTTP",
            )
        if settings.ca_bundle is not None and not settings.ca_bundle.is_file():
            raise ConfigError(f"AZAION_CDN__CA_BUNDLE={settings.ca_bundle} does not exist")
        return S3Storage(
            settings.bucket,
            endpoint_url=settings.endpoint_url,
            access_key=settings.access_key,
            secret_key=settings.secret_key.get_secret_value() if settings.secret_key else None,
            region=settings.region,
            ca_bundle=settings.ca_bundle,
            public_endpoint_url=settings.public_endpoint_url,
        )
    return LocalStorage(settings.local_dir or root / "cdn")
