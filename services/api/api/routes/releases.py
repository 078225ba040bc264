"""Releases and channels: signed documents the trainer stores and devices poll (ETag, If-None-Match)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import Response

from api.deps import CurrentUser, ServicesDep, require_upload
from api.errors import ConflictError, ResourceError
from api.releases import MAX_DOCUMENT_BYTES, etag
from azaion_shared import http_contract as contract
from azaion_shared.distribution import small_name

router = APIRouter(tags=["releases"])
SIGNED_JSON = {200: {"content": {"application/json": {}}}}


def signed(body: bytes | None, request: Request, what: str) -> Response:
    """A stored signed document with its ETag; 304 when the client has it already."""
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")
    tag = etag(body)
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})


async def read_document(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a document over {MAX_DOCUMENT_BYTES} bytes")
    return body


def stored_or_refused(store_call):
    try:
        return store_call()
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ResourceError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


@router.get(contract.RELEASES, response_model=contract.ReleaseList)
def list_releases(user: CurrentUser, found: ServicesDep) -> contract.ReleaseList:
    """Versions of the stored release manifests."""
    return contract.ReleaseList(versions=found.releases.versions())


@router.get(contract.RELEASE, responses=SIGNED_JSON)
def get_release(version: int, request: Request, user: CurrentUser, found: ServicesDep) -> Response:
    """The signed manifest of a release (verify it against the publisher's key); ETag / If-None-Match."""
    return signed(found.releases.release(version), request, f"release {version}")


@router.put(contract.RELEASE, response_model=contract.ReleaseStored, status_code=status.HTTP_201_CREATED)
async def put_release(
    version: Annotated[int, Path(ge=1)], request: Request, user: CurrentUser, found: ServicesDep
) -> contract.ReleaseStored:
    """Store a signed release manifest (upload roles only); an existing version is never replaced."""
    require_upload(user)
    body = await read_document(request)
    created = stored_or_refused(lambda: found.releases.put_release(version, body))
    return contract.ReleaseStored(version=version, created=created)


@router.delete(contract.RELEASE, response_model=contract.ReleaseDeleted)
def delete_release(version: int, user: CurrentUser, found: ServicesDep) -> contract.ReleaseDeleted:
    """Prune a release (upload roles only): its manifest and small parts; refused while a channel points
    at it. The trainer deletes the big parts from the CDN."""
    require_upload(user)
    try:
        resources = found.releases.delete_release(version)
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ResourceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    for resource in resources:
        found.resources.path(small_name(resource)).unlink(missing_ok=True)
    return contract.ReleaseDeleted(version=version, resources=resources)


@router.get(contract.CHANNEL, responses=SIGNED_JSON)
def get_channel(channel: str, request: Request, user: CurrentUser, found: ServicesDep) -> Response:
    """The signed pointer of a channel (which release it runs); poll it with If-None-Match."""
    return signed(found.releases.channel(channel), request, f"channel {channel}")


@router.put(contract.CHANNEL, response_model=contract.ChannelMoved)
async def put_channel(channel: str, request: Request, user: CurrentUser, found: ServicesDep) -> contract.ChannelMoved:
    """Move a channel (upload roles only); its sequence must grow (a rollback is a newer pointer)."""
    require_upload(user)
    body = await read_document(request)
    sequence = stored_or_refused(lambda: found.releases.put_channel(channel, body))
    return contract.ChannelMoved(channel=channel, sequence=sequence)
