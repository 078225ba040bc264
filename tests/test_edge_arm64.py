"""The arm64 edge images (issue 21), built on this x86-64 machine and run here under qemu emulation.

`scripts/edge-arm64.sh` builds azaion/inference:cpu-arm64 and :rockchip-arm64 (the debootstrapped arm64
base is made once and kept; QEMU >= 8 is registered when the host's is older). Then, as on a board:
the container logs in to the real api as a Device, fetches a signed release through the api and S3
(moto), decrypts the model in memory and detects on a short video, about as the same model does natively
here (its raw outputs on a fixed batch are compared exactly). The rockchip image, with no librknnrt.so
(no board), says so and runs ONNX on the CPU. Last, `scripts/edge-bundle.sh` makes the device bundle,
which `docker load` accepts.
Docker is started when needed; where it cannot run, the tests fail and say why (not skipped).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from photos import frames, write_video
from release_kit import PASSWORD, Kit, onnx_file

from azaion_shared.crypto import generate_key, parse_key

REPO = Path(__file__).resolve().parent.parent
CPU, ROCKCHIP = "azaion/inference:cpu-arm64", "azaion/inference:rockchip-arm64"
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]


def sh(*command: str, timeout: float = 1200, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="module")
def images() -> dict[str, float]:
    started = time.monotonic()
    sh("scripts/docker.sh", "start")
    built = sh("scripts/edge-arm64.sh", "cpu", "rockchip")
    print(built.stdout)
    timings = {"build": round(time.monotonic() - started, 1)}
    (REPO / ".run").mkdir(exist_ok=True)
    (REPO / ".run" / "edge-arm64.txt").write_text(json.dumps(timings) + "\n" + built.stdout)
    return timings


@pytest.fixture
def site(api_server, s3_server, tiny_model, tmp_path):
    """The training server's side (api, CDN, a published release) and a device's folders."""
    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    cdn = s3_server.storage(f"edge-{uuid.uuid4().hex[:8]}")
    api_server.app.state.cdn = cdn  # the device gets presigned links; it holds no S3 credentials
    key_text = generate_key()
    kit = Kit(api_server.url, cdn, parse_key(key_text), tmp_path / "keys", api_server.trust)
    model = tiny_model.onnx(128, 4)
    kit.release(onnx_file(model), promote=True)
    inputs, out = tmp_path / "input", tmp_path / "output"
    inputs.mkdir()
    out.mkdir()
    shots = frames(6, (320, 192))
    write_video(inputs / "drone.mp4", shots, fps=6.0)
    # The same frames as PNG files: decoded alike on every CPU, where two builds of a video decoder differ
    # by a few levels per pixel (seen: up to 3), enough to move this tiny model's marginal boxes.
    (inputs / "frames").mkdir()
    for i, shot in enumerate(shots):
        cv2.imwrite(str(inputs / "frames" / f"{i:02d}.png"), shot)
    for path in (inputs, inputs / "frames", *(inputs / "frames").iterdir(), inputs / "drone.mp4"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for path in (kit.keys_dir, kit.root_file):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the image's user (uid 10001)
    out.chmod(0o777)

    return SimpleNamespace(api_url=api_server.url, key_text=key_text, kit=kit, model=model, inputs=inputs, out=out)


def run_device(site, image: str, source: str = "drone.mp4") -> tuple[dict, list[dict], str]:
    """The image as a board runs it (docker-compose.edge.yml's service, with host networking to reach the
    api on loopback): its summary, its JSON lines and its log."""
    env = {
        "AZAION_ENV": "test",
        "AZAION_API_CLIENT__URL": site.api_url,
        "AZAION_API_CLIENT__EMAIL": "edge@x.io",
        "AZAION_API_CLIENT__PASSWORD": PASSWORD,
        "AZAION_MODEL_KEY": site.key_text,
        "AZAION_INFERENCE__TRUSTED_ROOT": "/keys/root.json",
        "AZAION_INFERENCE__DEVICE_NAME": "arm64-board",
        "AZAION_INFERENCE__THREADS": "1",
    }
    command = ["docker", "run", "--rm", "--platform", "linux/arm64", "--network", "host"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    command += ["-v", f"{site.kit.keys_dir}:/keys:ro", "-v", f"{site.inputs}:/input:ro", "-v", f"{site.out}:/output"]
    command += [image, "python", "-m", "inference", "run", "--source", f"/input/{source}", "--every", "1"]
    command += ["--json", "/output/detections.jsonl", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{image} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    lines = [json.loads(line) for line in (site.out / "detections.jsonl").read_text().splitlines()]
    (site.out / "detections.jsonl").unlink()
    return json.loads(done.stdout.strip().splitlines()[-1]), lines, done.stderr


def native_detections(site, tmp_path: Path, source: str = "drone.mp4") -> list[dict]:
    """The same model on the same source, run natively on this x86-64 machine."""
    out = tmp_path / "native.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"} | {
        "AZAION_ENV": "test"
    }
    command = [
        sys.executable,
        "-m",
        "inference",
        "run",
        "--model",
        str(site.model),
        "--source",
        str(site.inputs / source),
        "--every",
        "1",
        "--json",
        str(out),
        "--no-progress",
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    return [json.loads(line) for line in out.read_text().splitlines()]


RAW = (
    "import numpy as np, onnxruntime as ort, sys;"
    " s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']);"
    " x = np.random.default_rng(0).random((4, 3, 128, 128), dtype=np.float32);"
    " np.save(sys.argv[2], s.run(None, {s.get_inputs()[0].name: x})[0])"
)


def assert_same_model_outputs(site, tmp_path: Path):
    """ONNX Runtime in the arm64 image computes what it computes natively here: the raw output tensor of the
    model on one fixed batch (before any threshold or NMS, where near ties would flip boxes)."""
    models = tmp_path / "model"
    models.mkdir()
    (models / "m.onnx").write_bytes(site.model.read_bytes())
    models.chmod(0o755)
    (models / "m.onnx").chmod(0o644)
    sh(
        "docker",
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        "-v",
        f"{models}:/model:ro",
        "-v",
        f"{site.out}:/output",
        CPU,
        "python",
        "-c",
        RAW,
        "/model/m.onnx",
        "/output/arm64.npy",
    )
    sh(sys.executable, "-c", RAW, str(models / "m.onnx"), str(tmp_path / "native.npy"))
    arm64, native = np.load(site.out / "arm64.npy"), np.load(tmp_path / "native.npy")
    assert arm64.shape == native.shape and np.abs(native).max() > 0
    assert np.abs(arm64 - native).max() <= 1e-3 * np.abs(native).max()


def assert_like_native(arm64: list[dict], native: list[dict]):
    """The device's detections, frame by frame, are about those of the native run on the same pixels: the
    same frames have objects, in about the same number (this tiny model's confidences saturate at 1.0, so
    NMS among ties may keep other boxes on another CPU; the model itself is compared exactly below)."""
    assert [line["frame"] for line in arm64] == [line["frame"] for line in native] == list(range(6))
    counts = [(len(a["detections"]), len(b["detections"])) for a, b in zip(arm64, native, strict=True)]
    assert sum(b for _, b in counts) > 0  # the model sees something in these photographs
    for ours, theirs in counts:
        assert (ours > 0) == (theirs > 0) and abs(ours - theirs) <= max(3, 0.2 * theirs), counts


def test_the_arm64_cpu_image_runs_a_signed_release_as_a_device_and_detects_as_natively(images, site, tmp_path):
    arch = sh("docker", "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "uname", CPU, "-m")
    assert arch.stdout.strip() == "aarch64"
    started = time.monotonic()
    summary, lines, log = run_device(site, CPU)
    images["run_cpu"] = round(time.monotonic() - started, 1)
    assert summary["backend"] == "onnxruntime" and summary["frames"] == 6, summary
    assert {line["model_version"] for line in lines} == {1}  # the signed release, decrypted in the container
    _, same_pixels, _ = run_device(site, CPU, "frames")
    assert_like_native(same_pixels, native_detections(site, tmp_path, "frames"))
    assert_same_model_outputs(site, tmp_path)
    assert "librknnrt" not in log

    # lean: nothing to compile with, no caches, no pip, no test suites of the wheels
    leftovers = sh(
        "docker",
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        CPU,
        "-c",
        "for tool in gcc cc c++ make pip pip3; do command -v $tool; done; ls -d /root/.cache /wheels 2>/dev/null;"
        " find /opt/venv -type d -name tests -path '*site-packages*' | head -n 3; true",
    )
    assert leftovers.stdout.strip() == ""


def test_the_rockchip_image_without_the_boards_runtime_says_so_and_runs_onnx(images, site, tmp_path):
    started = time.monotonic()
    summary, lines, log = run_device(site, ROCKCHIP)
    images["run_rockchip"] = round(time.monotonic() - started, 1)
    assert "RKNN cannot run here: librknnrt.so is not on this system" in log
    assert "docker-compose.rockchip.yml mounts the board's /usr/lib/librknnrt.so" in log
    assert summary["backend"] == "onnxruntime" and len(lines) == 6
    rknnlite = sh(
        "docker",
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        ROCKCHIP,
        "python",
        "-c",
        "import rknnlite.api, importlib.metadata as m; print(m.version('rknn-toolkit-lite2'))",
    )
    assert rknnlite.stdout.strip() == "2.3.2"


def test_the_device_bundle_loads_and_holds_only_what_a_device_needs(images, tmp_path):
    started = time.monotonic()
    made = sh("scripts/edge-bundle.sh", "rockchip", env=os.environ | {"OUT": str(tmp_path)})
    images["bundle"] = round(time.monotonic() - started, 1)
    bundle = tmp_path / "azaion-edge-rockchip-arm64.tar.gz"
    assert bundle.is_file(), made.stdout
    image_id = sh("docker", "image", "inspect", "-f", "{{.Id}}", ROCKCHIP).stdout.strip()
    sh("docker", "rmi", ROCKCHIP)
    loaded = sh("docker", "load", "-i", str(bundle))
    assert f"Loaded image: {ROCKCHIP}" in loaded.stdout
    assert sh("docker", "image", "inspect", "-f", "{{.Id}}", ROCKCHIP).stdout.strip() == image_id
    arch = sh("docker", "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "uname", ROCKCHIP, "-m")
    assert arch.stdout.strip() == "aarch64"

    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "device", members=[m for m in tar.getmembers() if m.name.startswith("./azaion-edge")])
    folder = tmp_path / "device" / "azaion-edge"
    assert {"./manifest.json", "./azaion-edge/INSTALL.md", "./azaion-edge/.env.example"} <= names
    assert {p.name for p in folder.iterdir()} >= {
        "docker-compose.edge.yml",
        "docker-compose.rockchip.yml",
        "certs",
        "keys",
        "edge",
    }
    template = (folder / ".env.example").read_text()
    assert f"INFERENCE_IMAGE={ROCKCHIP}" in template
    for secret in ("JWT_SECRET", "AZAION_CDN__", "MINIO_", "AZAION_RABBIT__", "publisher.key"):
        assert secret not in template  # a device's .env holds no server secret
    install = (folder / "INSTALL.md").read_text()
    assert f"docker load -i {bundle.name}" in install and "librknnrt.so" in install

    # the compose files of the bundle, with a filled-in .env, make the service a board runs
    env = folder / ".env"
    env.write_text(
        template.replace("AZAION_API_CLIENT__PASSWORD=", "AZAION_API_CLIENT__PASSWORD=x").replace(
            "AZAION_MODEL_KEY=", "AZAION_MODEL_KEY=y"
        )
    )
    config = sh(
        "docker-compose",
        "-f",
        "docker-compose.edge.yml",
        "-f",
        "docker-compose.rockchip.yml",
        "--env-file",
        ".env",
        "config",
        env=os.environ | {"PWD": str(folder)},
        cwd=folder,
    )
    assert f"image: {ROCKCHIP}" in config.stdout and "/usr/lib/librknnrt.so" in config.stdout
    assert "/dev/dri" in config.stdout
    (REPO / ".run" / "edge-arm64.txt").write_text(json.dumps(images) + "\n" + made.stdout)
    print(f"arm64 edge timings (s): {images}; {made.stdout.strip()}")
