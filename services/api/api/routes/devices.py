"""The device inventory: heartbeats in, the fleet out (Admin only)."""

from fastapi import APIRouter

from api.deps import CurrentUser, ServicesDep, require_admin
from azaion_shared import http_contract as contract

router = APIRouter(tags=["devices"])


@router.post(contract.HEARTBEAT, response_model=contract.HeartbeatAck)
def heartbeat(body: contract.Heartbeat, user: CurrentUser, found: ServicesDep) -> contract.HeartbeatAck:
    """A device reports what it runs; `python -m api devices list` shows the fleet."""
    seen = found.devices.report(body.name, user.email, body.version, body.backend, body.fps, body.last_error)
    return contract.HeartbeatAck(name=seen.name, seen_at=seen.seen_at)


@router.get(contract.DEVICES, response_model=list[contract.DeviceRecord])
def list_devices(user: CurrentUser, found: ServicesDep, version: str | None = None) -> list[contract.DeviceRecord]:
    """Every device's last heartbeat (Admin only); ``?version=N`` for those still running N."""
    require_admin(user, "sees the device inventory")
    return found.devices.list(version)
