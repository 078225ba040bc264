"""What board this is, from the device tree: the Jetson's SoC, a Rockchip RK3588. Not an SDK: a file
every ARM board's kernel publishes (empty elsewhere)."""

from __future__ import annotations

from pathlib import Path

DEVICE_TREE = Path("/proc/device-tree/compatible")


def device_tree() -> str:
    """The board's device-tree ``compatible`` string (empty off ARM boards)."""
    try:
        return DEVICE_TREE.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_rk3588() -> bool:
    return "rockchip,rk3588" in device_tree()
