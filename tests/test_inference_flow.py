"""Edge inference end to end: our detections against ultralytics', and the whole flow from a
signed release (api + moto's S3) to a JSONL and an annotated mp4 on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from photos import frames, write_video

from azaion_shared.crypto import generate_key, parse_key

PASSWORD = "a-long-enough-password"
CONF = 0.25


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, image = capture.read()
        if not ok:
            return out
        out.append(image)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x2 - x1, 0) * max(y2 - y1, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 1.0


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """24 frames of real photographs (pans over ultralytics' samples), as an mp4."""
    return write_video(tmp_path_factory.mktemp("video") / "drone.mp4", frames(24, (640, 360)), fps=8.0)


@pytest.fixture(scope="module")
def odd_video(tmp_path_factory) -> Path:
    """The same kind of video at an odd size (622 x 354): a dynamic model gets it padded to 384 x 640."""
    return write_video(tmp_path_factory.mktemp("odd") / "odd.mp4", frames(24, (622, 354)), fps=8.0)


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "dynamic"), [(4, False), (1, False), (4, True)])
def test_detections_match_ultralytics(tiny_model, video, odd_video, batch, dynamic):
    """Fixed-shape models are letterboxed to their square; a dynamic-shape one, as ultralytics does, only
    up to the next multiple of 32 (rect): the detections agree either way."""
    from ultralytics import YOLO

    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.pipeline import Pipeline
    from inference.source import Frame

    onnx = tiny_model.onnx(128, batch, dynamic=dynamic)
    images = video_frames(odd_video if dynamic else video)
    assert len(images) >= 20
    ours = []
    backend = OnnxRuntimeBackend(onnx.read_bytes())
    assert backend.dynamic_size == dynamic
    pipeline = Pipeline(backend, [], conf=CONF, iou=0.7, on_frame=lambda f, d: ours.append(d))
    pipeline.run(Frame(i, 0.0, image) for i, image in enumerate(images))
    model = YOLO(str(onnx), task="detect")
    theirs = [r.boxes for r in model.predict(images, conf=CONF, iou=0.7, imgsz=128, stream=True, verbose=False)]
    assert len(ours) == len(theirs) == len(images)
    compared = 0
    for index, (mine, ref) in enumerate(zip(ours, theirs, strict=True)):
        assert len(mine) == len(ref), f"frame {index}: {len(mine)} detections, ultralytics {len(ref)}"
        ref_boxes, ref_scores, ref_classes = ref.xyxy.numpy(), ref.conf.numpy(), ref.cls.numpy().astype(int)
        for box, score, cls, rbox, rscore, rcls in zip(
            mine.boxes, mine.scores, mine.classes, ref_boxes, ref_scores, ref_classes, strict=True
        ):
            assert cls == rcls, f"frame {index}"
            assert abs(score - rscore) <= 1e-3, f"frame {index}"
            assert iou(box, rbox) >= 0.99, f"frame {index}: {box} vs {rbox}"
            compared += 1
    assert compared >= 20, f"only {compared} detections compared: the tiny model detects too little to compare"


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    return env | {"AZAION_ENV": "test", "AZAION_LOG_LEVEL": "INFO"} | extra


@pytest.mark.slow
def test_released_model_to_jsonl_and_mp4(api_server, s3_server, tiny_model, video, tmp_path):
    from release_kit import Kit, onnx_file

    api_server.add_user("trainer@x.io", PASSWORD, "ResourceUploader")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    key_text = generate_key()
    onnx = tiny_model.onnx(128, 4)
    cdn = s3_server.storage("models-flow")
    api_server.app.state.cdn = cdn
    kit = Kit(api_server.url, cdn, parse_key(key_text), tmp_path / "keys", api_server.trust)
    names = {"0": "person", "1": "car", "2": "truck", "3": "bus"}
    kit.release(onnx_file(onnx, names=names), promote=True)

    root, private_tmp = tmp_path / "edge", tmp_path / "tmp"
    private_tmp.mkdir()
    env = _env(
        AZAION_ROOT=str(root),
        TMPDIR=str(private_tmp),
        AZAION_MODEL_KEY=key_text,
        AZAION_API_CLIENT__URL=api_server.url,
        AZAION_API_CLIENT__EMAIL="edge@x.io",
        AZAION_API_CLIENT__PASSWORD=PASSWORD,
        AZAION_INFERENCE__TRUSTED_ROOT=str(kit.root_file),
        AZAION_INFERENCE__HEARTBEAT_SECONDS="0",
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "inference", "run", "--source", str(video), "--every", "2", "--no-progress"]
    command += ["--json", str(out / "dets.jsonl"), "--output", str(out / "annotated.mp4")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 12 and summary["backend"] == "onnxruntime" and summary["batch"] == 4
    assert summary["model_versions"] == [1]

    lines = [json.loads(line) for line in (out / "dets.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(0, 24, 2))
    assert lines[3]["time_ms"] == pytest.approx(6 * 1000 / 8.0)
    assert all((line["width"], line["height"]) == (640, 360) for line in lines)
    assert {line["model_version"] for line in lines} == {1}
    detections = [d for line in lines for d in line["detections"]]
    assert len(detections) == summary["detections"] > 0
    # DESIGN.md's keys, and the track id (null until a track is confirmed), a key it only grows by
    assert any(d["track_id"] is not None for d in detections) and summary["tracks"]
    for d in detections:
        assert set(d) == {"class_id", "class_name", "confidence", "x1", "y1", "x2", "y2", "track_id"}
        assert d["track_id"] is None or d["track_id"] in {t["track_id"] for t in summary["tracks"]}
        assert 0 <= d["x1"] <= d["x2"] <= 640 and 0 <= d["y1"] <= d["y2"] <= 360 and d["confidence"] > CONF
        assert d["class_name"] == {0: "person", 1: "car", 2: "truck", 3: "bus"}[d["class_id"]]
    capture = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    ok, first = capture.read()
    assert ok and first.shape == (360, 640, 3)
    assert not np.array_equal(first, video_frames(video)[0])  # boxes were drawn

    # no plaintext model anywhere on disk: not in the cache, the temp folder, the data root
    plaintext = onnx.read_bytes()
    probe = plaintext[len(plaintext) // 2 : len(plaintext) // 2 + 4096]
    written = [p for p in (*root.rglob("*"), *private_tmp.rglob("*")) if p.is_file()]
    assert written, "the encrypted big part should be cached"
    assert not [p for p in written if probe in p.read_bytes()]

    # the same run with a wrong key: a clear error, no output
    env["AZAION_MODEL_KEY"] = generate_key()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "AZAION_MODEL_KEY" in done.stderr


def test_cli_refuses_a_run_without_outputs_and_a_window_without_gui(tiny_model, video, tmp_path):
    base = [sys.executable, "-m", "inference", "run", "--source", str(video), "--model", str(tiny_model.onnx(128, 4))]
    env = _env(AZAION_ENV="development")  # --model FILE is the development path: no api credentials
    done = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "choose at least one output" in done.stderr
    done = subprocess.run([*base, "--show"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no GUI support" in done.stderr and "--live PORT" in done.stderr
    done = subprocess.run([sys.executable, "-m", "inference", "device"], env=_env(), capture_output=True, text=True)
    report = json.loads(done.stdout)
    from azaion_shared.model_formats import TENSORRT
    from inference.device import detect

    here = detect()  # whatever this host has: a GPU, an NPU or neither
    assert (report["kind"], report["format"], report["wants"]) == (here.kind, here.format.name, here.wanted_resource())
    assert report["backends"]["onnxruntime"]["available"]
    assert report["backends"]["tensorrt"]["available"] == TENSORRT.available()[0]


def test_a_folder_of_images_counts_every_image_and_names_it(tiny_model, tmp_path):
    """--every skips frames of a video; in a folder each image counts, and each line names its file."""
    import cv2
    from photos import frames

    folder = tmp_path / "images"
    folder.mkdir()
    for i, shot in enumerate(frames(5, (320, 192))):
        cv2.imwrite(str(folder / f"shot-{i}.jpg"), shot)
    out = tmp_path / "dets.jsonl"
    command = [sys.executable, "-m", "inference", "run", "--source", str(folder), "--json", str(out)]
    command += ["--model", str(tiny_model.onnx(128, 4)), "--no-progress"]
    done = subprocess.run(command, env=_env(AZAION_ENV="development"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["source"] for line in lines] == [f"shot-{i}.jpg" for i in range(5)]
    every_other = subprocess.run(
        [*command, "--every", "2"], env=_env(AZAION_ENV="development"), capture_output=True, text=True, timeout=120
    )
    assert every_other.returncode == 0, every_other.stderr[-2000:]
    assert [json.loads(line)["source"] for line in out.read_text().splitlines()] == [
        "shot-0.jpg",
        "shot-2.jpg",
        "shot-4.jpg",
    ]


def test_live_view_serves_mjpeg(tiny_model, video):
    import threading

    import httpx

    from inference.backends.onnx import OnnxRuntimeBackend
    from inference.pipeline import Pipeline
    from inference.sinks import LiveSink
    from inference.source import Source

    sink = LiveSink("127.0.0.1", 0)
    received: list[bytes] = []

    def watch():
        with httpx.stream("GET", f"http://127.0.0.1:{sink.port}/stream.mjpg", timeout=20) as response:
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            buffer = b""
            for chunk in response.iter_bytes():
                buffer += chunk
                while b"\xff\xd9" in buffer and b"\xff\xd8" in buffer:
                    start = buffer.index(b"\xff\xd8")
                    end = buffer.index(b"\xff\xd9", start) + 2
                    received.append(buffer[start:end])
                    buffer = buffer[end:]
                if len(received) >= 2:
                    return

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    try:
        assert httpx.get(f"http://127.0.0.1:{sink.port}/", timeout=5).text.count("stream.mjpg") == 1
        assert httpx.get(f"http://127.0.0.1:{sink.port}/healthz", timeout=5).status_code == 200
        deadline = 50
        while not sink.viewers and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        backend = OnnxRuntimeBackend(tiny_model.onnx(128, 4).read_bytes())
        Pipeline(backend, [sink]).run(Source(str(video), every=1))
        viewer.join(timeout=20)
    finally:
        sink.close()
    assert len(received) >= 2
    image = cv2.imdecode(np.frombuffer(received[0], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)


@pytest.mark.slow
def test_sigterm_mid_video_finishes_the_outputs(tiny_model, tmp_path):
    """Stopped half-way (SIGTERM, as docker stop does), the run still closes a playable mp4 and a
    JSONL with one line per frame written to it."""
    import signal
    import time

    long_video = write_video(tmp_path / "long.mp4", frames(240, (640, 360)), fps=25.0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "inference", "run", "--source", str(long_video), "--every", "1"]
    command += ["--model", str(tiny_model.onnx(128, 4)), "--no-progress"]
    command += ["--json", str(out / "d.jsonl"), "--output", str(out / "a.mp4")]
    proc = subprocess.Popen(command, env=_env(AZAION_ENV="development"), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jsonl = out / "d.jsonl"
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    lines = (out / "d.jsonl").read_text().splitlines()
    assert 8 <= summary["frames"] == len(lines) < 240, "stopped part-way, every processed frame written"
    assert [json.loads(line)["frame"] for line in lines] == list(range(len(lines)))
    capture = cv2.VideoCapture(str(out / "a.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == len(lines)
    assert not list(out.glob(".*part*"))


@pytest.mark.slow
def test_the_starter_model_finds_the_flyovers_vehicles(tmp_path):
    """The committed starter model, exported as the trainer exports, run by the real inference process on a
    synthetic flyover: its detections, scored against the flyover's ground truth, find most of what is
    there, the moving vehicles included (a model that detects makes this a test of the whole path)."""
    import shutil

    from ultralytics import YOLO

    from trainer import synth

    weights = tmp_path / "starter.pt"  # exported beside a copy: nothing is written into the repository
    shutil.copyfile(Path(__file__).resolve().parent.parent / "models" / "starter" / "yolo11n-synth.pt", weights)
    onnx = Path(YOLO(str(weights)).export(format="onnx", imgsz=320, batch=4))
    video = synth.write_flyover(tmp_path / "flyover.mp4", seed=11, frames=30, fps=10.0)
    command = [sys.executable, "-m", "inference", "run", "--source", str(video), "--model", str(onnx), "--every", "1"]
    command += ["--json", str(tmp_path / "dets.jsonl"), "--no-progress"]
    done = subprocess.run(command, env=_env(AZAION_ENV="development"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "dets.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in video.with_name("flyover.mp4.truth.jsonl").read_text().splitlines()]
    score = synth.score(lines, truth, 0.5)
    assert score["frames"] == 30 and score["recall"] >= 0.5 and score["precision"] >= 0.5, score
    assert score["moving_recall"] >= 0.4, score
