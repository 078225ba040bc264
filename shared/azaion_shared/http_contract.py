"""The api's HTTP contract, defined once: every route's path and every JSON body's shape.

The api declares these models as its request bodies and ``response_model``s and mounts its routes on
these paths; :class:`azaion_shared.api_client.ApiClient` builds its URLs from the same paths and
parses every answer with the same models. A field or a route changed here changes on both sides; a
field changed on one side only fails ``tests/test_http_contract.py``.

Signed documents (release manifests, channel pointers) travel as the signed JSON the publisher made
(``azaion_shared.releases``): the api stores and serves their bytes unchanged, so they have no
model here. Resources and big parts travel as raw bytes.

| method | path | body | answer |
|---|---|---|---|
| GET | ``/healthz`` | – | :class:`Health` |
| POST | ``/login`` | :class:`LoginRequest` | :class:`LoginResponse` |
| GET, PUT | ``/resources/{name}`` | bytes | bytes; :class:`Stored` |
| GET | ``/releases`` | – | :class:`ReleaseList` |
| GET, PUT, DELETE | ``/releases/{version}`` | signed manifest | the manifest (ETag); :class:`ReleaseStored`; |
| | | | :class:`ReleaseDeleted` |
| GET | ``/parts/{name}`` | – | :class:`PartLink` |
| GET | ``/parts/{name}/content`` | – | bytes (Range) |
| GET, PUT | ``/channels/{channel}`` | signed pointer | signed pointer (ETag); :class:`ChannelMoved` |
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
RELEASE = "/releases/{version}"
PART = "/parts/{name}"
PART_CONTENT = "/parts/{name}/content"
CHANNEL = "/channels/{channel}"
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


class ReleaseList(BaseModel):
    versions: list[int]


class ReleaseStored(BaseModel):
    version: int
    created: bool = Field(description="False when the same manifest was stored already (no error).")


class ReleaseDeleted(BaseModel):
    version: int
    resources: list[str] = Field(description="The resources whose small parts the api removed.")


class PartLink(BaseModel):
    """Where to GET a big part: a presigned URL (``auth`` false) or the api's own content route (``auth``
    true: send the bearer token)."""

    url: str
    auth: bool
    expires_in: int = Field(ge=0, description="Seconds the URL stays valid; 0 for the api's own route.")


class ChannelMoved(BaseModel):
    channel: str
    sequence: int


class Heartbeat(BaseModel):
    name: str = Field(pattern=DEVICE_NAME_PATTERN, description="The device's name.")
    version: str | None = Field(None, max_length=64, description="The model version it runs.")
    backend: str | None = Field(None, max_length=32, description=f"One of {', '.join(BACKENDS)}.")
    fps: float | None = Field(None, ge=0, le=10_000, description="Frames per second lately.")
    last_error: str | None = Field(None, max_length=500, description="The last error, if any.")


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
