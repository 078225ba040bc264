"""A device following its channel, end to end: the real api (uvicorn) and its TUF repository, S3 (moto's
server), the trainer's release code, and a real inference process playing a video in a loop; then the
attacks of The Update Framework's threat model, each made as the attacker would (a compromised api with
its online key, a stolen or unknown key, a tampered store), each refused by the device, named in its
heartbeat, with frames still coming from the release it ran.

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
from release_kit import PASSWORD, Kit, artifact_file, forge_big_part, onnx_file

from azaion_shared import tuf_repository as tuf
from azaion_shared.atomic import atomic_write_bytes
from azaion_shared.crypto import generate_key, parse_key
from azaion_shared.distribution import big_name, small_name
from azaion_shared.signing import generate

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

    def helpers(self) -> list[int]:
        """The device's fleet helper processes (its children running ``inference.fleet_helper``)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command, stat = (entry / "cmdline").read_bytes(), (entry / "stat").read_text()
            except OSError:  # it ended meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if b"inference.fleet_helper" in command and parent == self.process.pid:
                found.append(int(entry.name))
        return found

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.stderr.close()
        assert self.process.returncode == 0, self.tail()
        return json.loads(out.strip().splitlines()[-1])


def ended(pid: int) -> bool:
    """Whether the process ``pid`` is gone (or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def device_env(root: Path, api_url: str, key_text: str, trusted_root: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    return env | {
        "AZAION_ENV": "test",
        "AZAION_LOG_LEVEL": "INFO",
        "AZAION_ROOT": str(root),
        "AZAION_MODEL_KEY": key_text,
        "AZAION_API_CLIENT__URL": api_url,
        "AZAION_API_CLIENT__EMAIL": "edge@x.io",
        "AZAION_API_CLIENT__PASSWORD": PASSWORD,
        "AZAION_INFERENCE__TRUSTED_ROOT": str(trusted_root),
        "AZAION_INFERENCE__POLL_SECONDS": "0.5",
        "AZAION_INFERENCE__HEARTBEAT_SECONDS": "0.5",
        "AZAION_INFERENCE__DEVICE_NAME": "edge-1",
        "AZAION_INFERENCE__THREADS": "1",
        **extra,
    }


class CompromisedApi:
    """What an attacker who owns the api machine can do: write its store, and sign snapshot and timestamp
    with its online key (never targets: the publisher's key is on the training server)."""

    def __init__(self, trust):
        self.trust = trust

    def newest(self, role: str) -> int:
        return max(int(p.name.split(".")[0]) for p in self.trust.metadata.glob(f"*.{role}.json"))

    def serve_targets(self, metadata) -> None:
        """New targets metadata as the api's newest, with fresh online signatures over it."""
        atomic_write_bytes(self.trust.metadata / f"{metadata.signed.version}.targets.json", tuf.to_bytes(metadata))
        self.resign()

    def roll_back_to(self, version: int) -> list[Path]:
        """Hide every targets version newer than ``version`` and sign a snapshot over the old one."""
        hidden = []
        for path in self.trust.metadata.glob("*.targets.json"):
            if int(path.name.split(".")[0]) > version:
                hidden.append(path.rename(path.with_name(path.name + ".hidden")))
        self.resign()
        return hidden

    def restore(self, hidden: list[Path]) -> None:
        for path in hidden:
            path.rename(path.with_name(path.name.removesuffix(".hidden")))
        self.resign()

    def resign(self) -> None:
        with self.trust._lock:
            self.trust._sign_online()


def test_a_device_follows_its_channel_and_refuses_every_attack_of_the_tuf_threat_model(
    api_server, s3_server, tiny_model, tmp_path, monkeypatch
):
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    cdn = s3_server.storage(f"fleet-{uuid.uuid4().hex[:8]}")
    api_server.app.state.cdn = cdn  # the api presigns links to this bucket; the device holds no S3 credentials
    key_text = generate_key()
    kit = Kit(api_server.url, cdn, parse_key(key_text), tmp_path / "keys", api_server.trust)
    attacker = CompromisedApi(api_server.trust)
    first, second = tiny_model.onnx(128, 4), tiny_model.onnx(96, 2)
    video = write_video(tmp_path / "drone.mp4", frames(12, (320, 192)), fps=8.0)
    env = device_env(tmp_path / "edge", api_server.url, key_text, kit.root_file)
    assert not [k for k in env if k.startswith("AZAION_CDN__")]

    def admin_devices(version: str | None = None) -> list[dict]:
        token = httpx.post(f"{api_server.url}/login", json={"email": "admin@x.io", "password": PASSWORD}).json()
        params = {"version": version} if version else {}
        headers = {"Authorization": f"Bearer {token['token']}"}
        return httpx.get(f"{api_server.url}/devices", params=params, headers=headers).json()

    def reported_error(*texts: str):
        return lambda: next((d for d in admin_devices() if all(t in (d.get("last_error") or "") for t in texts)), None)

    def no_error():
        return next((d for d in admin_devices() if d["last_error"] is None and d["confirmed_at"]), None)

    kit.release(onnx_file(first), promote=True)  # release 1 on stable
    device = Device(env, video, tmp_path / "out", ["--loop"])
    try:
        device.wait_for("frames of release 1", lambda: len(device.lines()) >= 20)
        assert {line["model_version"] for line in device.lines()} == {1}

        kit.release(onnx_file(second, 96, 2), promote=True)  # release 2: another input size and batch
        device.wait_for("release 2", lambda: any(line["model_version"] == 2 for line in device.lines()))
        beat = device.wait_for("heartbeat of release 2", lambda: admin_devices("2"))[0]
        assert beat["confirmed_at"] and beat["stale"] is None
        (helper,) = device.helpers()  # polls, heartbeats, downloads and decryption: a process of their own
        assert os.getpriority(os.PRIO_PROCESS, helper) == 19

        kit.rollback()  # a new pointer (a newer targets version) to release 1
        device.wait_for("the rollback", lambda: device.lines()[-1]["model_version"] == 1)

        # 1. arbitrary software: a big part re-encrypted with the model key every device has (a valid MAC)
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

        # 2. arbitrary installation: targets signed by a key the root does not name, served by the api
        generate(tmp_path / "stranger", "stranger")
        genuine_targets = attacker.newest("targets")
        bogus = tuf.targets(genuine_targets + 1, {})
        bogus.sign(tuf.signer(tmp_path / "stranger" / "stranger.key"))
        attacker.serve_targets(bogus)
        device.wait_for("the unknown key refused", reported_error("metadata refused", "targets"))
        (api_server.trust.metadata / f"{genuine_targets + 1}.targets.json").unlink()  # the api is cleaned up;
        attacker.resign()  # devices saw a snapshot naming the forged version: they wait for a newer genuine one
        kit.release(onnx_file(second, 96, 2), promote=True)  # release 4, at the version the forgery took
        device.wait_for("release 4 after the clean-up", lambda: device.lines()[-1]["model_version"] == 4)
        device.wait_for("the error cleared", no_error)

        # 3. rollback: the api serves an older targets version, freshly timestamped
        hidden = attacker.roll_back_to(attacker.newest("targets") - 1)
        device.wait_for("the rolled-back targets refused", reported_error("metadata refused", "version"))
        assert device.lines()[-1]["model_version"] == 4
        attacker.restore(hidden)
        device.wait_for("the error cleared after the rollback", no_error)

        # 4. mix-and-match: a release's stored manifest replaced by another release's, under the same name
        five = kit.release(onnx_file(first))
        stored = next(api_server.trust.targets.glob(f"releases/*.{five.version}.json"))
        older = next(api_server.trust.targets.glob("releases/*.1.json")).read_bytes()
        atomic_write_bytes(stored, older)
        kit.promote(five.version)
        device.wait_for("the swapped manifest refused", reported_error(f"release {five.version} refused", "hash"))
        assert device.lines()[-1]["model_version"] == 4

        # 5. endless data: a timestamp that does not end (valid JSON padded past the client's limit)
        stamp = api_server.trust.metadata / "timestamp.json"
        real = stamp.read_bytes()
        atomic_write_bytes(stamp, real[:-1] + b" " * 200_000 + b"}")
        device.wait_for("the endless timestamp refused", reported_error("exceed"))
        atomic_write_bytes(stamp, real)

        # 6. a release whose model does not load: signed, hashes right, but no ONNX model inside
        broken = tmp_path / "broken.onnx"
        broken.write_bytes(b"this is not an ONNX model" * 100)
        six = kit.release(onnx_file(broken), promote=True)
        device.wait_for("the broken release refused", reported_error(f"release {six.version} refused"))

        # 7. wrong software: a release with only a TensorRT engine for a GPU this device does not have
        engine = tmp_path / "azaion.cc99.engine"
        engine.write_bytes(os.urandom(2000))
        seven = kit.release(artifact_file(engine, "azaion.cc99.engine", "tensorrt", compute_capability="99"))
        kit.promote(seven.version)
        device.wait_for("the wrong platform refused", reported_error(f"release {seven.version} refused"))

        # 8. freeze: the api stops re-signing; within the expiry the device says its metadata is stale
        trust = api_server.trust
        monkeypatch.setattr(trust, "resign_if_due", lambda: False)
        trust.expiry_hours = 3 / 3600
        attacker.resign()  # the last timestamp it signs, valid for 3 s
        frozen = device.wait_for("the freeze reported", reported_error("expired"), timeout=30)
        assert frozen["confirmed_at"]
        count = len(device.lines())
        device.wait_for("frames after every refusal", lambda: len(device.lines()) > count + 20)
        assert device.lines()[-1]["model_version"] == 4
    finally:
        summary = device.stop()

    deadline = time.monotonic() + 30  # the helper leaves when the device's end of its socket closes
    while not ended(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ended(helper), "the fleet helper outlived its device"
    lines = device.lines()
    assert [line["frame"] for line in lines] == list(range(len(lines)))  # not one frame lost or repeated
    versions = [line["model_version"] for line in lines]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == [1, 2, 1, 4]  # nothing forged, broken or foreign ever ran
    assert summary["model_versions"] == [1, 2, 1, 4] and [s["version"] for s in summary["swaps"]] == [2, 1, 4]
    assert [d["name"] for d in admin_devices("4")] == ["edge-1"]  # "which devices run version 4?"
    assert "Traceback" not in device.tail()

    # the device's own account may read, never publish
    token = httpx.post(f"{api_server.url}/login", json={"email": "edge@x.io", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert httpx.put(f"{api_server.url}/tuf/targets", json={"metadata": {}}, headers=headers).status_code == 403
    assert httpx.put(f"{api_server.url}/resources/x.small", content=b"x", headers=headers).status_code == 403

    # restarted while the api serves what does not verify (here: the frozen, expired timestamp): the device
    # starts its verified release from the cache and says why
    refused_env = env | {"AZAION_INFERENCE__POLL_SECONDS": "0", "AZAION_INFERENCE__HEARTBEAT_SECONDS": "0"}
    restarted = Device(refused_env, video, tmp_path / "restarted", ["--max-frames", "10"])
    restarted.process.communicate(timeout=120)
    restarted.stderr.close()
    assert restarted.process.returncode == 0, restarted.tail()
    assert "refused: " in restarted.tail() and "starting from the cache: release 4" in restarted.tail()
    assert {line["model_version"] for line in restarted.lines()} == {4}

    # offline: the api is unreachable, the device starts from its cache with the release it last ran
    offline_env = refused_env | {
        "AZAION_API_CLIENT__URL": f"http://127.0.0.1:{closed_port()}",
        "AZAION_API_CLIENT__ATTEMPTS": "1",
    }
    offline = Device(offline_env, video, tmp_path / "offline", ["--max-frames", "10"])
    offline.process.communicate(timeout=120)
    offline.stderr.close()
    assert offline.process.returncode == 0, offline.tail()
    assert "cannot be reached" in offline.tail() and "starting from the cache: release 4" in offline.tail()
    assert " ago" in offline.tail() and "Traceback" not in offline.tail()
    assert {line["model_version"] for line in offline.lines()} == {4} and len(offline.lines()) == 10
