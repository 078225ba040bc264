"""Big parts: where a device GETs them without CDN credentials (``/parts/{name}``)."""

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

from api.deps import CdnDep, CurrentUser, ResourceName, ServicesDep
from azaion_shared import http_contract as contract
from azaion_shared.errors import StorageError

router = APIRouter(tags=["releases"])


class PartFile(FileResponse):
    """A big part streamed in 1 MiB pieces instead of Starlette's 64 KiB: a model's tens of megabytes in a
    few dozen reads and writes, so that serving a download takes little of the CPU that a device on the
    same machine (a small site, the fleet bench) needs for its frames."""

    chunk_size = 1024 * 1024


@router.get(contract.PART, response_model=contract.PartLink)
def part_link(name: ResourceName, user: CurrentUser, found: ServicesDep, cdn: CdnDep) -> contract.PartLink:
    """Where to GET a big part without CDN credentials: a short-lived presigned URL (S3; ``auth`` false),
    or this api's own ``/parts/{name}/content`` (a local-folder CDN; send the bearer token, ``auth`` true).
    Either supports Range requests, so a broken download resumes."""
    seconds = found.options.link_seconds
    try:
        where = cdn.link(name, seconds)
    except StorageError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the CDN does not answer: {exc}") from None
    if where is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no big part {name}")
    if isinstance(where, str):
        return contract.PartLink(url=where, auth=False, expires_in=seconds)
    return contract.PartLink(url=contract.PART_CONTENT.format(name=name), auth=True, expires_in=0)


@router.get(contract.PART_CONTENT, response_class=PartFile)
def part_content(name: ResourceName, user: CurrentUser, found: ServicesDep, cdn: CdnDep):
    """A big part of the local-folder CDN, streamed (Range requests resume a broken download)."""
    where = cdn.link(name, found.options.link_seconds)
    if where is None or isinstance(where, str):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no big part {name} in a local CDN folder")
    return PartFile(where, media_type="application/octet-stream")
