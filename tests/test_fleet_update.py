"""A device following its channel (issue 17), end to end: the real api (uvicorn), S3 (moto's server),
the trainer's release code, and a real inference process playing a video in a loop.

Each step waits for what the device shows (a JSONL line of the new version, a heartbeat with the
error), never for a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from photos import frames, write_video
from release_kit import PASSWORD, Kit, forge_big_part, forged_manifest, onnx_file

from azaion_shared.atomic import atomic_write_text
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.distribution import big_name, small_name
from azaion_shared.releases import ChannelPointer, sign_pointer
from azaion_shared.signing import generate, load_private

pytestmark = pytest.mark.slow


class Device:
    """An inference process and what it has written so far."""

    def __init__(self, env: dict, video: Path, out: Path, extra: list[str]):
        self.jsonl, self.log = out / "dets.jsonl", out / "inference.log"
        out.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "inference", "run", "--source", str(video), "--every", "1"]
        command += ["--json", str(self.jsonl), "--no-progress", *extra]
        self.stderr = self.log.open("w")
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True)

    def lines(self) -> list[dict]:
        if not self.jsonl.exists():
            return []
        return [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.endswith("}")]

    def wait_for(self, what: str, predicate, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the device exited ({self.process.returncode}) waiting for {what}:\n{self.tail()}"
                )
            found = predicate()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-4000:]

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.stderr.close()
        assert self.process.returncode == 0, self.tail()
        return json.loads(out.strip().splitlines()[-1])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def device_env(root: Path, api_url: str, key_text: str, trusted: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_")}
    return env | {
        "AZAION_ENV": "test",
        "AZAION_LOG_LEVEL": "INFO",
        "AZAION_ROOT": str(root),
        "AZAION_MODEL_KEY": key_text,
        "AZAION_API_CLIENT__URL": api_url,
        "AZAION_API_CLIENT__EMAIL": "edge@x.io",
        "AZAION_API_CLIENT__PASSWORD": PASSWORD,
        "AZAION_INFERENCE__TRUSTED_KEYS": json.dumps([str(trusted)]),
        "AZAION_INFERENCE__POLL_SECONDS": "0.5",
        "AZAION_INFERENCE__HEARTBEAT_SECONDS": "0.5",
        "AZAION_INFERENCE__DEVICE_NAME": "edge-1",
        "AZAION_INFERENCE__THREADS": "1",
        **extra,
    }


def test_a_device_follows_its_channel_swaps_without_a_gap_and_refuses_forgeries(
    api_server, s3_server, tiny_model, tmp_path
):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    cdn = s3_server.storage(f"fleet-{uuid.uuid4().hex[:8]}")
    api_server.app.state.cdn = cdn  # the api presigns links to this bucket; the device holds no S3 credentials
    key_text = generate_key()
    kit = Kit(api_server.url, cdn, parse_key(key_text), tmp_path / "keys", api_server.trust)
    first, second = tiny_model.onnx(128, 4), tiny_model.onnx(96, 2)
    video = write_video(tmp_path / "drone.mp4", frames(12, (320, 192)), fps=8.0)
    env = device_env(tmp_path / "edge", api_server.url, key_text, kit.public_key_file)
    assert not [k for k in env if k.startswith("AZAION_CDN__")]

    def admin_devices(version: str | None = None) -> list[dict]:
        token = httpx.post(f"{api_server.url}/login", json={"email": "admin@x.io", "password": PASSWORD}).json()
        params = {"version": version} if version else {}
        headers = {"Authorization": f"Bearer {token['token']}"}
        return httpx.get(f"{api_server.url}/devices", params=params, headers=headers).json()

    def reported_error(text: str):
        return lambda: next((d for d in admin_devices() if text in (d.get("last_error") or "")), None)

    kit.release(onnx_file(first), promote=True)  # release 1 on stable
    device = Device(env, video, tmp_path / "out", ["--loop"])
    try:
        device.wait_for("frames of release 1", lambda: len(device.lines()) >= 20)
        assert {line["model_version"] for line in device.lines()} == {1}

        kit.release(onnx_file(second, 96, 2), promote=True)  # release 2: another input size and batch
        device.wait_for("release 2", lambda: any(line["model_version"] == 2 for line in device.lines()))
        device.wait_for("heartbeat of release 2", lambda: admin_devices("2"))

        kit.rollback()  # a new pointer (sequence 3) to release 1
        device.wait_for("the rollback", lambda: device.lines()[-1]["model_version"] == 1)

        # 1. a forged big part with a valid MAC (made with the model key every device has) in release 3
        three = kit.release(onnx_file(first))
        resource = three.artifacts[0].resource
        small = (api_server.root / "api" / "resources" / small_name(resource)).read_bytes()
        genuine = tmp_path / "genuine.big"
        cdn.download(big_name(resource), genuine)
        forged = tmp_path / "forged.big"
        forged.write_bytes(forge_big_part(small, genuine.read_bytes(), kit.key))
        cdn.upload(big_name(resource), forged)
        kit.promote(3)
        device.wait_for("the forged big part refused", reported_error("release 3 refused"))
        assert "the signed release says" in device.tail()

        # 2. a forged manifest: release 1's, claiming to be release 4, with the genuine signature kept
        with kit.client() as api:
            api.put_release(4, forged_manifest(api.get_release(1), version=4))
            pointer = kit.publisher(api).pointer()
            api.put_channel("stable", sign_pointer(ChannelPointer("stable", pointer.sequence + 1, 4), kit.signing_key))
        device.wait_for("the forged manifest refused", reported_error("does not verify"))

        # 3. a release whose model does not load: signed, hashes right, but no ONNX model inside
        broken = tmp_path / "broken.onnx"
        broken.write_bytes(b"this is not an ONNX model" * 100)
        kit.release(onnx_file(broken), promote=True)  # release 5
        device.wait_for("the broken release refused", reported_error("release 5 refused"))

        # 4. a replayed older pointer (the api refuses it; served anyway, as a compromised api could)
        with kit.client() as api:
            current = json.loads(api.get_channel("stable")[0]["payload"])
        replay = sign_pointer(ChannelPointer("stable", 2, 2), kit.signing_key)
        with kit.client() as api, pytest.raises(Exception, match="409"):
            api.put_channel("stable", replay)
        channel_file = api_server.root / "api" / "channels" / "stable.json"
        atomic_write_text(channel_file, json.dumps(replay))  # whole, as the api writes it: never read half-written
        device.wait_for("the replayed pointer refused", reported_error("a replayed pointer is refused"))

        # 5. a pointer signed by a key the device does not trust
        generate(tmp_path / "stranger")
        stranger = load_private(tmp_path / "stranger" / "publisher.key")
        atomic_write_text(
            channel_file, json.dumps(sign_pointer(ChannelPointer("stable", current["sequence"] + 10, 2), stranger))
        )
        device.wait_for("the unknown key refused", reported_error("signed by an unknown key"))

        # 6. a garbled answer (a proxy's error page, a cut-off body): a warning, the device polls again later
        atomic_write_text(channel_file, "<html>502 Bad Gateway</html>")
        device.wait_for("the garbled channel answer", lambda: "a body that is not JSON" in device.tail())

        count = len(device.lines())
        device.wait_for("frames after every refusal", lambda: len(device.lines()) > count + 20)
    finally:
        summary = device.stop()

    lines = device.lines()
    assert [line["frame"] for line in lines] == list(range(len(lines)))  # not one frame lost or repeated
    versions = [line["model_version"] for line in lines]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == [1, 2, 1]  # release 1, release 2, the rollback; nothing forged or broken ever ran
    assert summary["model_versions"] == [1, 2, 1] and [s["version"] for s in summary["swaps"]] == [2, 1]
    assert [d["name"] for d in admin_devices("1")] == ["edge-1"]  # "which devices still run version 1?"

    # the device's own account may read, never publish
    token = httpx.post(f"{api_server.url}/login", json={"email": "edge@x.io", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert httpx.put(f"{api_server.url}/releases/9", content=b"{}", headers=headers).status_code == 403
    assert httpx.put(f"{api_server.url}/channels/stable", content=b"{}", headers=headers).status_code == 403
    assert httpx.put(f"{api_server.url}/resources/x.small", content=b"x", headers=headers).status_code == 403

    # offline: the api is unreachable, the device starts from its cache with the release it last ran
    offline_env = env | {
        "AZAION_API_CLIENT__URL": f"http://127.0.0.1:{closed_port()}",
        "AZAION_API_CLIENT__ATTEMPTS": "1",
        "AZAION_INFERENCE__POLL_SECONDS": "0",
        "AZAION_INFERENCE__HEARTBEAT_SECONDS": "0",
    }
    offline = Device(offline_env, video, tmp_path / "offline", ["--max-frames", "10"])
    offline.process.communicate(timeout=120)
    offline.stderr.close()
    assert offline.process.returncode == 0, offline.tail()
    assert "starting offline from the cache: release 1" in offline.tail() and " ago" in offline.tail()
    assert "Traceback" not in offline.tail() and "Traceback" not in device.tail()
    assert {line["model_version"] for line in offline.lines()} == {1} and len(offline.lines()) == 10
