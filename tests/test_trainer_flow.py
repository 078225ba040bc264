"""The trainer for real, on the tiny profile: train, kill, resume, gate, export, publish, fetch, detect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from ingestor_proc import wait_until

from azaion_shared.paths import DataRoot

PASSWORD = "trainer-password"
STARTER = Path(__file__).resolve().parent.parent / "models" / "starter" / "yolo11n-synth.pt"


def trainer_env(root: Path, **extra: str) -> dict:
    return {
        **os.environ,
        "AZAION_ENV": "development",
        "AZAION_ROOT": str(root),
        "AZAION_TRAINER__PROFILE": "tiny",
        # fine-tuned from the starter model at the scenes' own size, so the gate compares models that detect
        "AZAION_TRAINER__WEIGHTS": str(STARTER),
        "AZAION_TRAINER__IMGSZ": "128",
        "AZAION_TRAINER__DEVICE": "cpu",
        "AZAION_TRAINER__WORKERS": "0",
        **extra,
    }


def tool(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` as an operator runs it; exit 0 asserted by the caller."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


def root_ceremony(keys: Path, api_env: dict, out: Path, *, root_keys, targets_key, signers, previous=None) -> None:
    """The offline root ceremony with the project's commands, then the install at the api."""
    online = tool("api", "trust", "online-key", env=api_env)
    assert online.returncode == 0, online.stderr
    online_pub = online.stdout.split("give ")[1].split(" to the root")[0]
    args = ["root", "new", "--out", out, "--targets-key", keys / f"{targets_key}.pub", "--online-key", online_pub]
    for name in root_keys:
        args += ["--root-key", keys / f"{name}.pub"]
    made = tool("azaion_shared", *args, *(["--previous", previous] if previous else []))
    assert made.returncode == 0, made.stderr
    for name in signers:
        assert tool("azaion_shared", "root", "sign", out, "--key", keys / f"{name}.key").returncode == 0
    installed = tool("api", "trust", "root", out, env=api_env)
    assert installed.returncode == 0 and "installed root version" in installed.stdout, installed.stderr


def trainer(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        env=trainer_env(root, **env),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> DataRoot:
    from augmentor.processor import Processor
    from augmentor.settings import AugmentorOptions
    from azaion_shared.labels import Box, format_labels
    from trainer import synth

    root = DataRoot(tmp_path_factory.mktemp("trainer") / "root").ensure()
    root.data.ensure()
    processor = Processor(root, AugmentorOptions(workers=1)).ensure()
    for i in range(24):  # synthetic aerial scenes: what a model can learn, and be measured on
        name = f"scene-{i:03d}"
        image, boxes = synth.scene(5000 + i, 128, 128)
        cv2.imwrite(str(root.data.image(name)), image)
        labels = [Box.from_corners(b.cls, b.x1 / 128, b.y1 / 128, b.x2 / 128, b.y2 / 128) for b in boxes]
        root.data.label(name).write_text(format_labels(labels))
        assert processor.process(name).status == "processed"
    return root


def test_kill_mid_training_then_resume(processed):
    root = processed.root
    assert trainer(root, "dataset", "--run", "r1").returncode == 0
    env = trainer_env(root)
    log = open(root / "train.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "train", "--run", "r1", "--set", "epochs=4"],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    weights = root / "models" / ".train" / "r1" / "weights"
    try:
        wait_until(lambda: (weights / "epoch1.pt").exists(), 300, interval=0.1, what="two epochs saved")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # power loss
        proc.wait()
    # A save cut short by the power loss: last.pt half-written. Resume must not use it.
    last = weights / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 3])
    done = trainer(root, "resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "does not load" in done.stderr
    results = (root / "models" / "r1" / "results.csv").read_text().strip().splitlines()
    epochs = [int(float(line.split(",")[0])) for line in results[1:]]
    assert epochs == [1, 2, 3, 4]  # none lost; an epoch re-run after the resume is archived once
    assert (root / "models" / "r1" / "weights" / "best.pt").exists()
    assert (root / "models" / "r1" / "dataset-manifest.json").exists()


def test_gate_export_publish_fetch_detect(processed, api_server, s3_server, tmp_path):
    root = processed.root
    from azaion_shared.crypto import generate_key

    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    api_server.app.state.cdn = s3_server.storage(bucket)  # the api hands devices links into this bucket
    key = generate_key()
    keys = tmp_path / "keys"
    for name in ("root-1", "root-2", "root-3", "root-4", "publisher", "publisher-2"):
        made = tool("azaion_shared", "keygen", "--signing", "--name", name, "--out", keys)
        assert made.returncode == 0, made.stderr
    api_env = {**os.environ, "AZAION_ENV": "test", "AZAION_ROOT": str(api_server.root)}
    root_ceremony(
        keys,
        api_env,
        keys / "root.json",
        root_keys=("root-1", "root-2", "root-3"),
        targets_key="publisher",
        signers=("root-1", "root-2"),
    )
    env = {
        "AZAION_MODEL_KEY": key,
        "AZAION_TRAINER__SIGNING_KEY": str(keys / "publisher.key"),
        "AZAION_TRAINER__TRUSTED_ROOT": str(keys / "root.json"),
        "AZAION_API_CLIENT__URL": api_server.url,
        "AZAION_API_CLIENT__EMAIL": "trainer@x.io",
        "AZAION_API_CLIENT__PASSWORD": PASSWORD,
        "AZAION_CDN__BUCKET": bucket,
        "AZAION_CDN__ENDPOINT_URL": s3_server.url,
        "AZAION_CDN__ACCESS_KEY": "test",
        "AZAION_CDN__SECRET_KEY": "test",
    }
    if not (root / "models" / "r1" / "weights" / "best.pt").exists():
        assert trainer(root, "dataset", "--run", "r1").returncode == 0
        assert trainer(root, "train", "--run", "r1").returncode == 0
    gate = trainer(root, "gate", "--run", "r1")
    assert gate.returncode == 0, gate.stderr[-2000:]
    assert "no current model" in gate.stdout
    assert (root / "models" / "azaion.pt").exists()
    exported = trainer(root, "export", "--run", "r1")
    assert exported.returncode == 0, exported.stderr[-2000:]
    published = trainer(root, "publish", "--run", "r1", **env)
    assert published.returncode == 0, published.stderr[-2000:]
    assert "release 1: azaion.v1.onnx" in published.stdout
    assert "channel stable -> release 1" in published.stdout

    # Releases by hand: another (not promoted), promote it, roll back, prune what no channel needs.
    again = trainer(root, "publish", "--run", "r1", "--no-promote", **env)
    assert "release 2: azaion.v2.onnx" in again.stdout and "channel" not in again.stdout
    assert "channel stable -> release 2" in trainer(root, "release", "promote", "2", **env).stdout
    assert "channel stable -> release 1" in trainer(root, "release", "rollback", **env).stdout
    listed = trainer(root, "release", "list", **env).stdout.splitlines()
    assert listed[0].split()[0] == "1" and listed[0].endswith("<- stable (the whole fleet)") and "run r1" in listed[0]
    assert listed[1].split()[0] == "2" and "stable" not in listed[1] and "onnx" in listed[1]
    missing = trainer(root, "release", "promote", "7", **env)
    assert missing.returncode == 2 and "there is no release 7" in missing.stderr

    # Rotating the publisher key with the project's commands: a new root names publisher-2 (signed by the
    # root keys' threshold), the trainer switches keys and signs the releases from before the rotation again.
    root_ceremony(
        keys,
        api_env,
        keys / "root-v2.json",
        root_keys=("root-1", "root-2", "root-3"),
        targets_key="publisher-2",
        signers=("root-1", "root-2"),
        previous=keys / "root.json",
    )
    old_key = trainer(root, "release", "promote", "2", **env)
    assert old_key.returncode == 2 and "not signed by the targets key" in old_key.stderr  # revoked: refused
    rotated = env | {"AZAION_TRAINER__SIGNING_KEY": str(keys / "publisher-2.key")}
    resigned = trainer(root, "release", "resign", **rotated)
    assert resigned.returncode == 0 and "signed with" in resigned.stdout, resigned.stderr
    listed = trainer(root, "release", "list", **rotated).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["1", "2"]  # nothing from before the rotation was lost
    assert "channel stable -> release 2" in trainer(root, "release", "promote", "2", **rotated).stdout
    assert "channel stable -> release 1" in trainer(root, "release", "rollback", "--to", "1", **rotated).stdout

    # Rotating a root key: root-1 out, root-4 in; signed by a threshold of the old root's keys and the new's.
    root_ceremony(
        keys,
        api_env,
        keys / "root-v3.json",
        root_keys=("root-2", "root-3", "root-4"),
        targets_key="publisher-2",
        signers=("root-2", "root-3"),
        previous=keys / "root-v2.json",
    )
    under_signed = keys / "root-v4.json"
    made = tool(
        "azaion_shared",
        "root",
        "new",
        "--out",
        under_signed,
        "--root-key",
        keys / "root-1.pub",
        "--targets-key",
        keys / "publisher.pub",
        "--online-key",
        api_server.root / "api" / "keys" / "online.pub",
        "--previous",
        keys / "root-v3.json",
    )
    assert made.returncode == 0
    assert tool("azaion_shared", "root", "sign", under_signed, "--key", keys / "root-1.key").returncode == 0
    stolen = tool("api", "trust", "root", under_signed, env=api_env)  # one stolen, revoked root key: refused
    assert stolen.returncode == 2 and "under-signed" in stolen.stderr and "Traceback" not in stolen.stderr

    pruned = trainer(root, "release", "prune", "--keep", "0", **rotated)
    assert "pruned releases 2" in pruned.stdout  # release 1 stays: the channel points at it
    assert trainer(root, "release", "list", **rotated).stdout.split()[0] == "1"

    # A second run is judged against the current model; the decision and both metrics are recorded.
    assert trainer(root, "dataset", "--run", "r2").returncode == 0
    assert trainer(root, "train", "--run", "r2", "--set", "epochs=1").returncode == 0
    second = trainer(root, "gate", "--run", "r2")
    assert second.returncode in (0, 3)
    import json

    decision = json.loads((root / "models" / "r2" / "gate.json").read_text())
    assert decision["current_map50_95"] is not None and "mAP50-95" in decision["reason"]
    assert decision["new_map50"] > 0.2 and decision["current_map50"] > 0.2, decision  # two models that detect
    # the new model's confusion matrix, of the classes present only (not ultralytics' 80 x 80), for the console
    confusion = json.loads((root / "models" / "r2" / "confusion.json").read_text())
    assert confusion["split"] == decision["split"] and confusion["classes"][-1] == "background"
    size = len(confusion["classes"])
    assert 2 <= size <= 10 and all(len(row) == size for row in confusion["counts"])
    assert sum(map(sum, confusion["counts"])) > 0

    # The edge side: fetch the protected model, decrypt in memory, run it with ONNX Runtime.
    import onnxruntime as ort

    from azaion_shared.api_client import ApiClient
    from azaion_shared.crypto import parse_key
    from azaion_shared.model_formats import ONNX
    from inference.fleet import Channel, start
    from inference.release_cache import ReleaseCache
    from inference.settings import InferenceOptions
    from inference.store import ReleaseStore

    cache = ReleaseCache(tmp_path / "cache")
    with ApiClient(api_server.url, "edge@x.io", PASSWORD) as edge:  # no S3 credentials on the device
        options = InferenceOptions(trusted_root=keys / "root.json")  # the first root: it follows v2 and v3
        begun = start(Channel(options.trust_client(edge, cache.folder), "stable", "edge-1", cache, edge))
        assert begun.release.version == 1 and begun.release.metrics["map50_95"] >= 0
        store = ReleaseStore(parse_key(key), edge, cache)
        model = store.model(begun.release, begun.release.artifact(ONNX.name)).payload
    assert model == (root / "models" / "azaion.onnx").read_bytes()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["azaion_version"] == "r1"
    assert "bus" in meta["names"] and "unused_79" in meta["names"]
    shape = session.get_inputs()[0].shape
    assert shape[0] == 4 and shape[2] == shape[3] == 96
    frames = np.random.default_rng(0).random((4, 3, 96, 96), dtype=np.float32)
    (out,) = session.run(None, {session.get_inputs()[0].name: frames})
    assert out.shape[0] == 4 and out.shape[1] == 4 + 80 and np.isfinite(out).all()


def test_help_and_clear_errors(tmp_path):
    assert "ultralytics train argument" in trainer(tmp_path, "--help").stdout
    empty = trainer(tmp_path, "dataset", "--run", "x")
    assert empty.returncode == 2 and "run the augmentor first" in empty.stderr
    nothing = trainer(tmp_path, "publish")
    assert nothing.returncode == 2 and "nothing to publish" in nothing.stderr
