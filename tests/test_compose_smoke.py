"""CI smoke test of the containers: build the light images with no network in the build, bring up
rabbitmq + api + ingestor + two augmentor replicas (--scale) + the console with docker-compose.yml,
publish annotations, see them ingested and augmented in the shared data volume, log in to the console
through its published port and see them counted there, run the trainer image once on the CPU against
the same data volume (a tiny run: dataset, training, gate, ONNX export), take it all down.

Docker is started here when it is not running (scripts/docker.sh, root). Where it cannot run, the
test fails and says why: it is not skipped. The time each phase took is printed and written to
.run/compose-smoke.txt.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from photos import crops

from azaion_shared.paths import DataRoot, variant_stem

REPO = Path(__file__).resolve().parent.parent
PROJECT = "azaionsmoke"
SERVICES = ["rabbitmq", "api", "ingestor", "augmentor", "console"]
UID = 10001  # the user the images run as


def sh(*command: str, timeout: float = 900, env: dict | None = None, check: bool = True) -> str:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_file(path: Path) -> Path:
    text = (REPO / ".env.example").read_text()
    values = {
        "AZAION_RABBIT__PASSWORD": secrets.token_urlsafe(16),
        "AZAION_API__JWT_SECRET": secrets.token_urlsafe(40),
        "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(16),
        "AZAION_API_CLIENT__PASSWORD": secrets.token_urlsafe(16),
        "AZAION_MODEL_KEY": "not-used-by-the-smoke-test",
        "AZAION_AUGMENTOR__WORKERS": "1",
        "AZAION_AUGMENTOR__RECONCILE_MINUTES": "0",
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values.pop(key)}" if key in values and not line.startswith("#") else line)
    lines += [f"{k}={v}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_compose_stack_ingests_and_augments(tmp_path):
    timings: dict[str, float] = {}

    def lap(name: str, started: float) -> float:
        timings[name] = round(time.monotonic() - started, 1)
        return time.monotonic()

    t = t0 = time.monotonic()
    sh("scripts/docker.sh", "start")
    t = lap("docker engine", t)
    build_env = os.environ | {
        "SERVICES": "api ingestor augmentor console trainer",
        "TAG": "smoke",
        "RABBITMQ_LOCAL": "1",
    }
    build_env.setdefault("BASE", "azaion/python-base:bookworm")  # CI has no registry
    if build_env["BASE"] == "azaion/python-base:bookworm":
        sh("scripts/base-images.sh", timeout=900)
        t = lap("base images (debootstrap, cached)", t)
    sh("scripts/images.sh", env=build_env, timeout=1500)
    t = lap("wheelhouse + images", t)

    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)
    certs = tmp_path / "certs"  # the README's way: a private CA, the api's key readable by the image's user
    sh(sys.executable, "-m", "azaion_shared", "tls", "--out", str(certs), "--owner", str(UID))
    certs.chmod(0o755)
    ports = {
        "RABBITMQ_STREAM_PORT": free_port(),
        "RABBITMQ_AMQP_PORT": free_port(),
        "API_PORT": free_port(),
        "CONSOLE_PORT": free_port(),
    }
    envfile = env_file(tmp_path / "smoke.env")
    compose_env = (
        os.environ
        | {k: str(v) for k, v in ports.items()}
        | {
            "AZAION_ENV_FILE": str(envfile),
            "AZAION_DATA": str(data),
            "AZAION_CERTS_DIR": str(certs),
            "RABBITMQ_IMAGE": "azaion/rabbitmq:local",
            "API_IMAGE": "azaion/api:smoke",
            "INGESTOR_IMAGE": "azaion/ingestor:smoke",
            "AUGMENTOR_IMAGE": "azaion/augmentor:smoke",
            "CONSOLE_IMAGE": "azaion/console:smoke",
        }
    )
    compose = ["docker-compose", "-p", PROJECT, "--env-file", str(envfile), "-f", str(REPO / "docker-compose.yml")]

    def logs() -> str:
        return sh(*compose, "logs", "--no-color", "--tail", "40", env=compose_env, check=False)

    inputs = tmp_path / "in"
    for folder in ("seed", "direct"):
        (inputs / folder).mkdir(parents=True)
    names = []
    for i, (name, image, boxes) in enumerate(crops()[:6]):
        folder = inputs / ("seed" if i < 4 else "direct")
        cv2.imwrite(str(folder / f"{name}.jpg"), image)
        labels = [f"{c} {(a + b) / 2:.5f} {(d + e) / 2:.5f} {b - a:.5f} {e - d:.5f}" for c, a, d, b, e in boxes]
        (folder / f"{name}.txt").write_text("\n".join(labels) + "\n")
        names.append(name)
    for path in inputs.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    inputs.chmod(0o755)

    sh(*compose, "down", "-v", "--remove-orphans", env=compose_env, check=False)
    try:
        sh(*compose, "up", "-d", "--scale", "augmentor=2", *SERVICES, env=compose_env, timeout=300)
        deadline = time.monotonic() + 180
        while True:
            states = {}
            for service in SERVICES:
                ids = sh(*compose, "ps", "-q", service, env=compose_env).split()
                health = [sh("docker", "inspect", "-f", "{{.State.Health.Status}}", cid).strip() for cid in ids]
                states[service] = health or ["?"]
            assert len(states["augmentor"]) in (1, 2) or states["augmentor"] == ["?"]
            if all(h == "healthy" for health in states.values() for h in health) and len(states["augmentor"]) == 2:
                break
            assert time.monotonic() < deadline, f"not healthy after 180 s: {states}\n{logs()}"
            time.sleep(2)
        t = lap("compose up until healthy", t)

        run = [*compose, "run", "--rm", "--no-deps", "-v", f"{inputs}:/in:ro", "ingestor", "python", "-m", "ingestor"]
        sh(*run, "publish", "created", "--role", "Operator", "/in/seed", env=compose_env, timeout=120)
        sh(*run, "publish", "validated", names[0], names[1], env=compose_env, timeout=120)
        sh(*run, "publish", "created", "--role", "Validator", "/in/direct", env=compose_env, timeout=120)

        in_data = set(names[:2] + names[4:6])
        expected_processed = {
            f"{stem}.jpg" for n in in_data for stem in [n, *(variant_stem(n, k) for k in range(1, 8))]
        }
        deadline = time.monotonic() + 240
        while True:
            data_images = {p.stem for p in (data / "data" / "images").glob("*.jpg")}
            seed_images = {p.stem for p in (data / "data-seed" / "images").glob("*.jpg")}
            processed = {p.name for p in (data / "data-processed" / "images").glob("*.jpg")}
            markers = set(DataRoot(data).processed.marker_names())
            if data_images == in_data and seed_images == set(names[2:4]) and markers == in_data:
                break
            assert time.monotonic() < deadline, (
                f"after 240 s: data {sorted(data_images)}, seed {sorted(seed_images)}, "
                f"{len(processed)} processed, markers {sorted(markers)}\n{logs()}"
            )
            time.sleep(2)
        assert processed >= expected_processed
        labels = {p.name for p in (data / "data-processed" / "labels").glob("*.txt")}
        assert {n.replace(".jpg", ".txt") for n in expected_processed} <= labels
        assert not list((data / "data-rejected").glob("*")) if (data / "data-rejected").exists() else True
        import httpx

        ca = ssl.create_default_context(cafile=str(certs / "ca.crt"))  # HTTPS, verified against the site CA
        assert httpx.get(f"https://127.0.0.1:{ports['API_PORT']}/healthz", timeout=10, verify=ca).status_code == 200
        t = lap("publish, ingest, augment", t)

        # The console: its login page through the published port, an Admin of the api let in, the
        # annotations just ingested counted on its overview (it reads the same volume, read-only).
        console = f"http://127.0.0.1:{ports['CONSOLE_PORT']}"
        page = httpx.get(f"{console}/login", timeout=10)
        assert page.status_code == 200 and 'name="password"' in page.text, page.text[:500]
        password = secrets.token_urlsafe(16)
        add_admin = ["python", "-m", "api", "users", "add", "admin@smoke.local", "--role", "Admin", "--password-stdin"]
        added = subprocess.run(
            [*compose, "exec", "-T", "api", *add_admin],
            input=password,
            capture_output=True,
            text=True,
            env=compose_env,
            timeout=120,
        )
        assert added.returncode == 0, added.stderr
        with httpx.Client(base_url=console, timeout=20) as browser:
            answer = browser.post("/login", data={"email": "admin@smoke.local", "password": password})
            assert answer.status_code == 303, answer.text[:500]
            overview = browser.get("/")
            assert overview.status_code == 200, overview.text[:500]
            assert "validated (data/)" in overview.text and "Training runs" in overview.text
        t = lap("console", t)

        # The trainer image, once, on this machine's CPU, on the data the stack just ingested and augmented
        # (docker run: compose's trainer reserves an NVIDIA GPU, which this machine does not have). It
        # needs none of the api's or the CDN's secrets when it does not publish.
        tiny_run = ["python", "-m", "trainer", "run", "--tiny", "--no-publish", "--run", "smoke"]
        trained = subprocess.run(
            ["docker", "run", "--rm", "-v", f"{data}:/azaion", "azaion/trainer:smoke", *tiny_run],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert trained.returncode == 0, trained.stderr[-3000:]
        assert "training on the CPU" in trained.stderr  # the one line that says what it trains on, and why
        assert (data / "models" / "smoke" / "results.csv").is_file() and (data / "models" / "azaion.onnx").is_file()
        assert (
            '"exported": "/azaion/models/azaion.onnx"' in trained.stdout
        )  # the run's JSON report, after the histogram
        t = lap("trainer image, a tiny run on the CPU", t)
    finally:
        sh(*compose, "down", "-v", "--remove-orphans", env=compose_env, check=False, timeout=300)
        shutil.rmtree(data, ignore_errors=True)
        lap("compose down", t)
        timings["total"] = round(time.monotonic() - t0, 1)
        report = "compose smoke test, seconds per phase: " + json.dumps(timings)
        print(report)
        (REPO / ".run").mkdir(exist_ok=True)
        (REPO / ".run" / "compose-smoke.txt").write_text(report + "\n")
