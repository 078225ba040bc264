"""The api's HTTP contract, defined once: every route's path and every JSON body's shape.

The api declares these models as its request bodies and ``response_model``s and mounts its routes on
these paths; :class:`azaion_shared.api_client.ApiClient` builds its URLs from the same paths and
parses every answer with the same models. A field or a route changed here changes on both sides; a
field changed on one side only fails ``tests/test_http_contract.py``.

The fleet's TUF metadata and targets (release manifests, channel pointers) travel as the bytes their
signers made (``azaion_shared.tuf_repository``): the api stores and serves them unchanged, so they
have no model here beyond the upload's envelope. Resources and big parts travel as raw bytes.

| method | path | body | answer |
|---|---|---|---|
| GET | ``/healthz`` | – | :class:`Health` |
| POST | ``/login`` | :class:`LoginRequest` | :class:`LoginResponse` |
| GET, PUT | ``/resources/{name}`` | bytes | bytes; :class:`Stored` |
| DELETE | ``/resources/{name}`` | – | :class:`Deleted` |
| GET | ``/releases`` | – | :class:`ReleaseList` (the api's view, for people: devices verify TUF) |
| GET | ``/tuf/metadata/{name}`` | – | TUF metadata (``3.root.json``, ``timestamp.json`` ...) |
| GET | ``/tuf/targets/{folder}/{name}`` | – | a target (``releases/{sha256}.7.json``) |
| PUT | ``/tuf/targets`` | :class:`TargetsUpload` | :class:`TargetsStored` |
| GET | ``/parts/{name}`` | – | :class:`PartLink` |
| GET | ``/parts/{name}/content`` | – | bytes (Range) |
| POST | ``/devices/heartbeat`` | :class:`Heartbeat` | :class:`HeartbeatAck` |
| GET | ``/devices`` | – | list of :class:`DeviceRecord` |
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from azaion_shared.model_formats import BACKENDS

HEALTH = "/healthz"
LOGIN = "/login"
RESOURCE = "/resources/{name}"
RELEASES = "/releases"
TUF_METADATA = "/tuf/metadata/{name}"
TUF_TARGET = "/tuf/targets/{folder}/{name}"
TUF_TARGETS = "/tuf/targets"
PART = "/parts/{name}"
PART_CONTENT = "/parts/{name}/content"
HEARTBEAT = "/devices/heartbeat"
DEVICES = "/devices"

#: A device's name: what it reports in heartbeats and how the inventory lists it.
DEVICE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Health(BaseModel):
    status: str = "ok"


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)

    @field_validator("email", "password")
    @classmethod
    def _encodable(cls, value: str) -> str:
        try:  # a lone UTF-16 surrogate is valid JSON but no text: refuse it here (422), not deep inside (500)
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text") from None
        return value


class LoginResponse(BaseModel):
    token: str


class Stored(BaseModel):
    """A resource stored by ``PUT /resources/{name}``."""

    name: str
    size: int


class Deleted(BaseModel):
    name: str
    existed: bool


class ChannelState(BaseModel):
    channel: str
    version: int
    fraction: float = Field(1.0, description="Below 1: a staged rollout's share of the fleet.")
    previous: int | None = Field(None, description="What devices outside the rollout's fraction run.")


class ReleaseList(BaseModel):
    """The api's view of the current targets metadata (for the console and people; devices verify it)."""

    versions: list[int]
    channels: list[ChannelState] = Field(default_factory=list)
    targets_version: int | None = None
    expires: str | None = Field(None, description="When the api's signature on the present (timestamp) expires.")


class TargetsUpload(BaseModel):
    """New targets metadata (signed by the publisher) and the target files it adds, base64."""

    metadata: dict
    files: dict[str, str] = Field(default_factory=dict)


class TargetsStored(BaseModel):
    version: int


class PartLink(BaseModel):
    """Where to GET a big part: a presigned URL (``auth`` false) or the api's own content route (``auth``
    true: send the bearer token)."""

    url: str
    auth: bool
    expires_in: int = Field(ge=0, description="Seconds the URL stays valid; 0 for the api's own route.")


class Heartbeat(BaseModel):
    name: str = Field(pattern=DEVICE_NAME_PATTERN, description="The device's name.")
    version: str | None = Field(None, max_length=64, description="The model version it runs.")
    backend: str | None = Field(None, max_length=32, description=f"One of {', '.join(BACKENDS)}.")
    fps: float | None = Field(None, ge=0, le=10_000, description="Frames per second lately.")
    last_error: str | None = Field(None, max_length=500, description="The last error, if any.")
    confirmed_at: str | None = Field(
        None, max_length=40, description="ISO 8601, UTC: when the device last confirmed its metadata fresh."
    )


class HeartbeatAck(BaseModel):
    name: str
    seen_at: str = Field(description="ISO 8601, UTC, the api's clock.")


class DeviceRecord(BaseModel):
    """A device's last heartbeat in the inventory, with who reported it and when."""

    name: str
    user: str
    version: str | None
    backend: str | None
    fps: float | None
    last_error: str | None
    seen_at: str = Field(description="ISO 8601, UTC, the api's clock.")
    confirmed_at: str | None = Field(None, description="When the device last confirmed its metadata fresh.")
    stale: str | None = Field(None, description="Why the device is out of date (None: it is not).")
