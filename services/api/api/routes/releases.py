"""The fleet's TUF repository: metadata and targets for devices, new targets from the publisher, and the
api's own view of the releases for people (``GET /releases``)."""

import base64
import binascii
import json

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

from api.deps import CurrentUser, ServicesDep, require_upload
from api.errors import ConflictError, ResourceError
from azaion_shared import http_contract as contract
from azaion_shared.errors import AzaionError, SignatureError
from azaion_shared.releases import parse_pointer
from azaion_shared.tuf_repository import TIMESTAMP, load

router = APIRouter(tags=["releases"])
TUF_JSON = {200: {"content": {"application/json": {}}}}


def _bytes(body: bytes | None, what: str) -> Response:
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get(contract.TUF_METADATA, responses=TUF_JSON)
def tuf_metadata(name: str, user: CurrentUser, found: ServicesDep) -> Response:
    """TUF metadata by file name: ``N.root.json``, ``timestamp.json``, ``N.snapshot.json``, ``N.targets.json``."""
    return _bytes(found.trust.metadata_file(name), f"metadata {name[:80]}")


@router.get(contract.TUF_TARGET, responses=TUF_JSON)
def tuf_target(folder: str, name: str, user: CurrentUser, found: ServicesDep) -> Response:
    """A target by its stored name (``releases/{sha256}.7.json``, ``channels/{sha256}.stable.json``)."""
    return _bytes(found.trust.target(f"{folder}/{name}"), f"target {folder[:40]}/{name[:80]}")


@router.put(contract.TUF_TARGETS, response_model=contract.TargetsStored)
def put_targets(body: contract.TargetsUpload, user: CurrentUser, found: ServicesDep) -> contract.TargetsStored:
    """New targets metadata signed by the publisher, with the target files it adds (upload roles only).
    The api checks it against the root, stores it and signs a new snapshot and timestamp."""
    require_upload(user)
    try:
        files = {path: base64.b64decode(data, validate=True) for path, data in body.files.items()}
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"a target file that is not base64: {exc}") from None
    metadata = json.dumps(body.metadata).encode()
    try:
        version = found.trust.put_targets(metadata, files)
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (ResourceError, SignatureError) as exc:  # a name, version or document that does not fit; unsigned
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return contract.TargetsStored(version=version)


@router.get(contract.RELEASES, response_model=contract.ReleaseList)
def list_releases(user: CurrentUser, found: ServicesDep) -> contract.ReleaseList:
    """The releases and channels of the current targets metadata, as the api stores them (a view for
    people and the console: devices verify the metadata themselves)."""
    versions, channels = [], []
    for path, data in found.trust.listed().items():
        folder, _, name = path.partition("/")
        stem = name.removesuffix(".json")
        if folder == "releases":
            versions.append(int(stem))
        else:
            try:
                pointer = parse_pointer(data, stem)
            except AzaionError:
                continue
            channels.append(contract.ChannelState(**pointer.__dict__))
    targets = found.trust.current_targets()
    timestamp = found.trust.metadata_file("timestamp.json")
    expires = load(timestamp, TIMESTAMP).signed.expires.isoformat() if timestamp else None
    return contract.ReleaseList(
        versions=sorted(versions),
        channels=channels,
        targets_version=targets.signed.version if targets else None,
        expires=expires,
    )
