"""The device inventory: heartbeats in (each Device account for its own device), the fleet out (Admin only)."""

from datetime import timedelta

from fastapi import APIRouter, HTTPException, status

from api.deps import CurrentUser, ServicesDep
from api.errors import ConflictError
from azaion_shared import http_contract as contract
from azaion_shared.roles import Role, may_upload

router = APIRouter(tags=["devices"])


@router.post(contract.HEARTBEAT, response_model=contract.HeartbeatAck)
def heartbeat(body: contract.Heartbeat, user: CurrentUser, found: ServicesDep) -> contract.HeartbeatAck:
    """A device reports what it runs (Device accounts only, each for the device it reported first)."""
    if user.role is not Role.DEVICE:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"only Device accounts report heartbeats; {user.email} is {user.role.value}"
        )
    try:
        seen = found.devices.report(
            body.name, user.email, body.version, body.backend, body.fps, body.last_error, body.confirmed_at
        )
    except ConflictError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    return contract.HeartbeatAck(name=seen.name, seen_at=seen.seen_at)


@router.get(contract.DEVICES, response_model=list[contract.DeviceRecord])
def list_devices(user: CurrentUser, found: ServicesDep, version: str | None = None) -> list[contract.DeviceRecord]:
    """Every device's last heartbeat (Admins, and the publisher for its rollouts), each marked stale when it
    has not confirmed its metadata fresh within the metadata's lifetime; ``?version=N``: those running N."""
    if not (user.role is Role.ADMIN or may_upload(user.role.value)):  # the publisher watches its rollouts
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an Admin or a publisher sees the device inventory")
    return found.devices.list(version, fresh_for=timedelta(hours=found.options.tuf_expiry_hours))
