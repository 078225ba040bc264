"""Resources: the small parts of protected models (``GET``/``PUT /resources/{name}``)."""

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse

from api.deps import CurrentUser, ResourceName, ServicesDep, require_upload
from api.errors import TooLargeError
from azaion_shared import http_contract as contract

router = APIRouter(tags=["resources"])


@router.get(contract.RESOURCE, response_class=FileResponse)
def get_resource(name: ResourceName, user: CurrentUser, found: ServicesDep):
    """A stored resource's bytes: the small part of a protected model (`azaion.v7.onnx.small`)."""
    path = found.resources.path(name)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no resource {name}")
    return FileResponse(path, media_type="application/octet-stream")


@router.put(contract.RESOURCE, response_model=contract.Stored)
async def put_resource(name: ResourceName, request: Request, user: CurrentUser, found: ServicesDep) -> contract.Stored:
    """Store the request's raw body under the name (upload roles only; 413 over the size limit)."""
    require_upload(user, "upload")
    store = found.resources
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > store.max_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"upload over {store.max_bytes} bytes")
    try:
        size = await store.save(name, request.stream())
    except TooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    return contract.Stored(name=name, size=size)


@router.delete(contract.RESOURCE, response_model=contract.Deleted)
def delete_resource(name: ResourceName, user: CurrentUser, found: ServicesDep) -> contract.Deleted:
    """Remove a resource (upload roles only): the trainer prunes the small parts of releases it dropped."""
    require_upload(user, "delete resources")
    path = found.resources.path(name)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return contract.Deleted(name=name, existed=existed)
