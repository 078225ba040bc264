"""`make demo`: the whole loop on this machine, on the CPU, with real parts, ending with a model that
visibly detects.

1. annotations of **synthetic** aerial scenes (trainer.synth: drawn, not photographed; vehicles,
   buildings and people seen from above) are published to the stream as an Operator, with one
   malformed message;
2. the ingestor (a real process) applies them to the demo data root; they are validated in bulk
   and one is deleted;
3. the augmentor (a real process, 2 workers) turns each validated annotation into 8 images; a
   contact sheet and a grid of data-processed/ (the dataset visualiser) are drawn;
4. the api service starts on loopback; the trainer forms the dataset and fine-tunes the committed
   starter model (models/starter/yolo11n-synth.pt, mounted as production mounts its weights) for a
   few epochs at 320 px, gates it, exports ONNX and publishes it as release 1, signed with a
   publisher key made for the demo (encrypted: small part to the API, big part to the CDN's local
   folder, or S3 when AZAION_CDN__BUCKET is set), and moves the stable channel to it;
5. the inference service logs in as a Device (no CDN credentials; it trusts only the publisher's
   public key), follows the stable channel, verifies the release, decrypts the model in memory and
   runs it on a synthetic drone flyover with moving vehicles: an annotated mp4 and a JSONL of
   detections, scored against the flyover's ground truth (precision and recall at IoU 0.5);
6. the operations console starts over it all; a real browser (chromium) logs in as an Admin and
   leaves screenshots of its overview and of the run's training page (console-*.png);
7. a summary: counts per stage, the model's mAP, precision and recall, the outputs, time per stage.

Every process started is stopped at the end, unless DEMO_KEEP=1 (then the console, the api, the
ingestor and the augmentor keep running to explore; the console's URL and login are printed).
Knobs: DEMO_ROOT, DEMO_EPOCHS (2), DEMO_SCENES (40), DEMO_FRAMES (80, of which every 2nd is processed), DEMO_STREAM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ROOT = Path(os.environ.get("DEMO_ROOT", REPO / ".run" / "demo"))
STREAM = os.environ.get("DEMO_STREAM", "azaion-demo")
QUEUE = f"{STREAM}-augment"
EPOCHS = os.environ.get("DEMO_EPOCHS", "2")
SCENES = int(os.environ.get("DEMO_SCENES", "40"))
FRAMES = int(os.environ.get("DEMO_FRAMES", "80"))
IMGSZ = "320"
STARTER = REPO / "models" / "starter" / "yolo11n-synth.pt"
#: the separate evaluation set: scenes generated apart from the demo's data (seeded), enough for a stable figure
EVALUATION_SCENES, EVALUATION_SEED = 120, 9001
TRAINER = ("trainer@demo.local", "trainer-demo-password", "ResourceUploader")
DEVICE = ("device@demo.local", "device-demo-password", "Device")
ADMIN = ("admin@demo.local", "admin-demo-password", "Admin")  # the operations console's user


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def make_annotations():
    """(name, jpeg bytes, boxes) of SCENES synthetic aerial scenes (trainer.synth; seeds the starter
    model never saw)."""
    import cv2

    from azaion_shared.boxes import correct_boxes
    from azaion_shared.labels import Box
    from trainer import synth

    out = []
    size = int(IMGSZ)
    for index in range(SCENES):
        image, boxes = synth.scene(900_000 + index, size, size)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"cannot encode scene {index}")
        labels = [Box.from_corners(b.cls, b.x1 / size, b.y1 / size, b.x2 / size, b.y2 / size) for b in boxes]
        out.append((f"scene-{index:03d}", jpeg.tobytes(), correct_boxes(labels, min_size=0.005)))
    return out


def start(argv: list[str], env: dict, log_file: Path) -> subprocess.Popen:
    handle = open(log_file, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", *argv], env=env, stdout=handle, stderr=handle, start_new_session=True
    )


def run(argv: list[str], env: dict, log_file: Path, what: str) -> str:
    """A command to its end; its stdout, or exit with where to look."""
    with open(log_file, "ab") as handle:
        done = subprocess.run([sys.executable, "-m", *argv], env=env, stdout=subprocess.PIPE, stderr=handle, text=True)
    if done.returncode != 0:
        raise SystemExit(f"[demo] {what} failed (exit {done.returncode}); see {log_file}")
    return done.stdout


def wait_for(predicate, timeout: float, what: str, progress=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if progress:
            progress()
        time.sleep(0.5)
    raise SystemExit(f"[demo] timed out after {timeout:.0f} s waiting for {what}; logs are in {ROOT / 'logs'}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Demo:
    """What the stages share: the data root, the environment of every process, and what they found."""

    root: object  # azaion_shared.paths.DataRoot
    env: dict
    port: int
    logs: Path
    processes: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    found: dict = field(default_factory=dict)

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = time.perf_counter() - started


def prepare() -> Demo:
    """An empty demo root (make demo is repeatable), a fresh stream, and every process's environment."""
    if not STARTER.is_file():
        raise SystemExit(
            f"{STARTER} is missing: it is committed with the repository (or make it: scripts/starter_model.py)"
        )
    import asyncio

    from azaion_shared.crypto import generate_key
    from azaion_shared.paths import DataRoot
    from ingestor.publish import producer

    if ROOT.exists():
        shutil.rmtree(ROOT)
    logs = ROOT / "logs"
    logs.mkdir(parents=True)

    async def fresh_stream():
        async with producer(rabbit()) as prod:
            await prod.delete_stream(STREAM, missing_ok=True)

    asyncio.run(fresh_stream())
    port = free_port()
    metrics_ports = (free_port(), free_port())
    env = {
        **os.environ,
        "AZAION_ENV": "development",
        "AZAION_ROOT": str(ROOT),
        "AZAION_RABBIT__STREAM": STREAM,
        "AZAION_INGESTOR__TASK_QUEUE": QUEUE,
        "AZAION_AUGMENTOR__TASK_QUEUE": QUEUE,
        "AZAION_INGESTOR__HEALTH_PORT": str(metrics_ports[0]),  # the console reads their /metrics
        "AZAION_AUGMENTOR__HEALTH_PORT": str(metrics_ports[1]),
        "AZAION_AUGMENTOR__WORKERS": "2",
        "AZAION_AUGMENTOR__RECONCILE_MINUTES": "1",
        "AZAION_API__JWT_SECRET": "demo-only-secret-" + generate_key(),
        "AZAION_API__HOST": "127.0.0.1",
        "AZAION_API__PORT": str(port),
        "AZAION_API_CLIENT__URL": f"http://127.0.0.1:{port}",
        "AZAION_MODEL_KEY": generate_key(),
        "AZAION_TRAINER__PROFILE": "tiny",  # yolo11n; the size is the starter model's
        "AZAION_TRAINER__IMGSZ": IMGSZ,
        "AZAION_TRAINER__EXPORT_IMGSZ": IMGSZ,
        "AZAION_TRAINER__WEIGHTS": str(STARTER),
        "AZAION_TRAINER__DEVICE": "cpu",
        "AZAION_TRAINER__WORKERS": "0",
        "AZAION_TRAINER__EPOCHS": EPOCHS,
        "AZAION_TRAINER__SIGNING_KEY": str(ROOT / "keys" / "publisher.key"),
        "AZAION_TRAINER__TRUSTED_ROOT": str(ROOT / "keys" / "root.json"),
        "AZAION_INFERENCE__TRUSTED_ROOT": str(ROOT / "keys" / "root.json"),
        "AZAION_CONSOLE__PORT": str(free_port()),
        "AZAION_CONSOLE__API_URL": f"http://127.0.0.1:{port}",
        "AZAION_CONSOLE__METRICS": json.dumps(
            {
                "ingestor": f"http://127.0.0.1:{metrics_ports[0]}/metrics",
                "augmentor": f"http://127.0.0.1:{metrics_ports[1]}/metrics",
            }
        ),
    }
    return Demo(DataRoot(ROOT).ensure(), env, port, logs)


def rabbit():
    from azaion_shared.settings import RabbitSettings

    return RabbitSettings(stream=STREAM)


def publish_annotations(demo: Demo) -> None:
    """1. Annotations of synthetic scenes to the stream as an Operator, and one malformed message."""
    import asyncio

    from rstream import AMQPMessage

    from azaion_shared.messages import Annotation, Detection
    from ingestor.publish import publish_messages, publish_raw

    t0 = time.perf_counter()
    messages = [
        Annotation(
            name=name,
            image=jpeg,
            role="Operator",
            detections=tuple(
                Detection(class_num=b.class_id, center_x=b.cx, center_y=b.cy, width=b.w, height=b.h) for b in boxes
            ),
        )
        for name, jpeg, boxes in make_annotations()
    ]
    publish_messages(rabbit(), messages)
    malformed = AMQPMessage(body=b"\xc1 not msgpack", application_properties={"AnnotationStatus": "Created"})
    asyncio.run(publish_raw(rabbit(), [malformed]))
    log(f"published {len(messages)} annotations of synthetic aerial scenes as an Operator, and 1 malformed message")
    demo.found["names"] = [m.name for m in messages]
    demo.timed("publish", t0)


def ingest(demo: Demo) -> None:
    """2. The ingestor (and the augmentor beside it) started; a bulk Validated and a Deleted."""
    from azaion_shared.messages import AnnotationStatus, BulkAction
    from ingestor.publish import publish_messages

    t0 = time.perf_counter()
    root, names = demo.root, demo.found["names"]
    demo.processes.append(start(["ingestor", "run"], demo.env, demo.logs / "ingestor.log"))
    demo.processes.append(start(["augmentor", "run"], demo.env, demo.logs / "augmentor.log"))
    wait_for(
        lambda: len(list(root.seed.names())) == len(names) and any(root.rejected.glob("*.reason.txt")),
        90,
        "the ingestor to write data-seed/",
    )
    log(f"ingestor: {len(names)} annotations in data-seed/, 1 message rejected with its reason")
    deleted = names[-1]
    publish_messages(
        rabbit(),
        [
            BulkAction(status=AnnotationStatus.VALIDATED, names=tuple(names)),
            BulkAction(status=AnnotationStatus.DELETED, names=(deleted,)),
        ],
    )
    expected = len(names) - 1
    wait_for(
        lambda: len(list(root.data.names())) == expected and root.deleted.image(deleted).exists(),
        60,
        "the bulk Validated and Deleted",
    )
    log(f"validated {len(names)} in bulk, deleted {deleted}: {expected} in data/, 1 in data_deleted/")
    demo.found["expected"] = expected
    demo.timed("ingest", t0)


def augment(demo: Demo) -> None:
    """3. The augmentor's 8 images per annotation; a contact sheet and a grid of data-processed/."""
    from augmentor.contact_sheet import contact_sheet
    from augmentor.settings import AugmentorOptions
    from trainer import synth

    t0 = time.perf_counter()
    root, expected, first = demo.root, demo.found["expected"], demo.found["names"][0]
    shown = [-1]

    def progress():
        done = len(root.processed.marker_names())
        if done != shown[0]:
            shown[0] = done
            log(f"augmentor: {done}/{expected} annotations processed")

    wait_for(lambda: len(root.processed.marker_names()) == expected, 300, "the augmentor", progress)
    progress()
    demo.timed("augment", t0)
    sheet = contact_sheet(
        root.data.image(first), root.data.label(first), AugmentorOptions(), ROOT / "contact-sheet.png", synth.CLASSES
    )
    grid = ROOT / "processed-grid.png"
    run(
        ["trainer", "visualise", str(root.processed.path), "--out", str(grid)],
        demo.env,
        demo.logs / "visualise.log",
        "grid",
    )
    log(f"contact sheet {sheet.name} and a grid of data-processed/ ({grid.name}) drawn")
    demo.found.update(sheet=sheet, grid=grid)


def train(demo: Demo) -> None:
    """4. The api service on loopback; the trainer fine-tunes the starter model, gates, exports and publishes."""
    for email, password, role in (TRAINER, DEVICE, ADMIN):
        add = [sys.executable, "-m", "api", "users", "add", email, "--role", role, "--password-stdin"]
        subprocess.run(add, input=password + "\n", text=True, env=demo.env, check=True, capture_output=True)
    root_ceremony(demo)
    demo.processes.append(start(["api", "serve"], demo.env, demo.logs / "api.log"))
    wait_for(lambda: answers(f"http://127.0.0.1:{demo.port}/healthz"), 30, "the api service")
    log(f"api service on http://127.0.0.1:{demo.port} (docs at /docs); fine-tuning {STARTER.name} on the CPU ...")
    t0 = time.perf_counter()
    trainer_env = demo.env | {"AZAION_API_CLIENT__EMAIL": TRAINER[0], "AZAION_API_CLIENT__PASSWORD": TRAINER[1]}
    out = run(["trainer", "run", "--run", "demo"], trainer_env, demo.logs / "trainer.log", "the trainer")
    report = json.loads(out[out.index("{") :])
    demo.timed("train", t0)
    published = report["published"]
    log(f"trained, gated, exported, released as version {published['version']}: {published['channel']}")
    demo.found["report"] = report
    t0 = time.perf_counter()
    demo.found["evaluation"] = evaluate_separately(demo)
    demo.timed("evaluate", t0)


def evaluate_separately(demo: Demo) -> dict:
    """The trained model scored on scenes generated apart from its data: the demo's own test split holds
    a handful of images, too few for a figure that means anything."""
    import yaml

    from trainer import synth
    from trainer.classes import HEAD_SIZE, load_classes, padded_names
    from trainer.gate import evaluate

    folder = synth.write_dataset(ROOT / "evaluation", EVALUATION_SCENES, EVALUATION_SEED, 320)
    data = folder / "data.yaml"
    names = padded_names(load_classes())
    data.write_text(
        yaml.safe_dump({"path": str(folder), "train": "images", "val": "images", "nc": HEAD_SIZE, "names": names})
    )
    here = Path.cwd()
    os.chdir(ROOT)  # ultralytics' validator makes runs/detect/val* in the working directory
    try:
        map50_95, map50, _ = evaluate(demo.root.current_model, data, "val", 320, "cpu")
    finally:
        os.chdir(here)
    log(f"scored on {EVALUATION_SCENES} separately generated scenes: mAP50 {map50:.3f} (mAP50-95 {map50_95:.3f})")
    return {"images": EVALUATION_SCENES, "seed": EVALUATION_SEED, "map50": map50, "map50_95": map50_95}


def root_ceremony(demo: Demo) -> None:
    """The fleet's trust with the project's own commands: three offline root keys (two must sign), the
    publisher's key, the api's online key; the signed root installed at the api (docs: rotate keys)."""
    keys = ROOT / "keys"
    for name in ("root-1", "root-2", "root-3", "publisher"):
        run(
            ["azaion_shared", "keygen", "--signing", "--name", name, "--out", str(keys)],
            demo.env,
            demo.logs / "keys.log",
            "keygen",
        )
    online = run(["api", "trust", "online-key"], demo.env, demo.logs / "keys.log", "the api's online key")
    online_pub = online.split("give ")[1].split(" to the root")[0]
    new = [
        "azaion_shared",
        "root",
        "new",
        "--out",
        str(keys / "root.json"),
        "--targets-key",
        str(keys / "publisher.pub"),
    ]
    new += ["--online-key", online_pub] + [a for n in (1, 2, 3) for a in ("--root-key", str(keys / f"root-{n}.pub"))]
    run(new, demo.env, demo.logs / "keys.log", "root new")
    for name in ("root-1", "root-2"):
        run(
            ["azaion_shared", "root", "sign", str(keys / "root.json"), "--key", str(keys / f"{name}.key")],
            demo.env,
            demo.logs / "keys.log",
            "root sign",
        )
    run(["api", "trust", "root", str(keys / "root.json")], demo.env, demo.logs / "keys.log", "api trust root")
    log(f"the fleet's root (2 of 3 offline keys; demo keys: keep real ones offline) in {keys}/root.json")


def infer(demo: Demo) -> None:
    """5. Inference on a flyover video as an edge device, scored against its ground truth; no plaintext copy
    of the model in its cache."""
    from trainer import synth

    edge = ROOT / "edge"
    edge.mkdir()
    video = synth.write_flyover(edge / "flyover.mp4", seed=7, frames=FRAMES, fps=10.0)
    t0 = time.perf_counter()
    device_env = demo.env | {"AZAION_API_CLIENT__EMAIL": DEVICE[0], "AZAION_API_CLIENT__PASSWORD": DEVICE[1]}
    command = ["inference", "run", "--source", str(video), "--every", "2", "--no-progress"]
    command += ["--json", str(edge / "detections.jsonl"), "--output", str(edge / "annotated.mp4")]
    command += ["--events", str(edge / "events.jsonl")]  # what the tracks did: appeared, left
    output = run(command, device_env, demo.logs / "inference.log", "inference")
    demo.found["inference"] = json.loads(output.strip().splitlines()[-1])
    demo.timed("inference", t0)
    detections = [json.loads(line) for line in (edge / "detections.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in video.with_name(video.name + ".truth.jsonl").read_text().splitlines()]
    demo.found["score"] = synth.score(detections, truth, 0.5)
    model = (ROOT / "models" / "azaion.onnx").read_bytes()
    probe = model[len(model) // 2 : len(model) // 2 + 4096]  # any plaintext copy of the model contains it
    demo.found["plaintext"] = [p for p in (ROOT / "edge-cache").rglob("*") if p.is_file() and probe in p.read_bytes()]
    demo.found["edge"] = edge


def console(demo: Demo) -> None:
    """6. The operations console over it all, logged in as an Admin in a real browser (Debian's chromium):
    screenshots of its overview and of the demo run's training page."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    t0 = time.perf_counter()
    url = f"http://127.0.0.1:{demo.env['AZAION_CONSOLE__PORT']}"
    demo.processes.append(start(["console"], demo.env, demo.logs / "console.log"))
    wait_for(lambda: answers(url + "/healthz"), 30, "the console")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    shots = {"overview": ROOT / "console-overview.png", "run": ROOT / "console-run.png"}
    try:
        driver.get(url + "/login")
        driver.find_element(By.NAME, "email").send_keys(ADMIN[0])
        driver.find_element(By.NAME, "password").send_keys(ADMIN[1])
        driver.find_element(By.ID, "login").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "seed"))
        driver.save_screenshot(str(shots["overview"]))
        driver.find_element(By.ID, "current").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "charts"))
        driver.save_screenshot(str(shots["run"]))
    finally:
        driver.quit()
    log(f"console on {url}: screenshots {shots['overview'].name} and {shots['run'].name}")
    demo.found.update(console=url, console_shots=shots)
    demo.timed("console", t0)


def summarize(demo: Demo) -> int:
    """7. summary.json and the lines a person reads; 0 when every stage did what it should."""
    root, timings, found = demo.root, demo.timings, demo.found
    names, expected, report, inference = found["names"], found["expected"], found["report"], found["inference"]
    plaintext, edge = found["plaintext"], found["edge"]
    processed = len(list(root.processed.images.glob("*.jpg")))
    counts = report["dataset"]["counts"]
    gate = report["gate"]
    summary = {
        "stream": {"created": len(names), "validated": 1, "deleted": 1, "malformed": 1},
        "edge_cache_plaintext_files": len(plaintext),
        "ingestor": {
            "data": len(list(root.data.names())),
            "data_deleted": len(list(root.deleted.names())),
            "data_rejected": len(list(root.rejected.glob("*.reason.txt"))),
        },
        "augmentor": {"processed_images": processed, "annotations": expected},
        "trainer": {
            "dataset": counts,
            "map50_95": gate["map50_95"],
            "map50": gate["map50"],
            "epochs": EPOCHS,
            "split": gate.get("split"),
            "split_images": counts.get({"val": "valid"}.get(gate.get("split"), gate.get("split") or "test")),
            "evaluation": found["evaluation"],
            "weights": STARTER.name,
        },
        "published": report["published"],
        "inference": inference | found["score"],
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    (ROOT / "summary.json").write_text(json.dumps(summary, indent=2))
    print("\n=== demo summary ===")
    print(f"stream:     {len(names) + 3} messages ({len(names)} Created, 1 Validated, 1 Deleted, 1 malformed)")
    print(
        f"ingestor:   {expected} in data/, 1 in data_deleted/, {summary['ingestor']['data_rejected']} in "
        f"data-rejected/ with its reason ({timings['ingest']:.1f} s)"
    )
    print(f"augmentor:  {processed} images = {expected} x (1 original + 7 variants) ({timings['augment']:.1f} s)")
    evaluation, split = found["evaluation"], gate.get("split") or "test"
    split_images = counts.get({"val": "valid"}.get(split, split))
    print(
        f"trainer:    dataset {counts['train']}/{counts['valid']}/{counts['test']} (train/valid/test), {EPOCHS} "
        f"epochs from {STARTER.name} ({timings['train']:.1f} s); the gate's {split} split ({split_images} "
        f"images, too few to mean much): mAP50 {gate['map50']:.3f}"
    )
    print(
        f"evaluated:  {evaluation['images']} scenes generated apart from the data (seed {evaluation['seed']}): "
        f"mAP50 {evaluation['map50']:.3f}, mAP50-95 {evaluation['map50_95']:.3f} ({timings['evaluate']:.1f} s)"
    )
    print(
        f"released:   version {report['published']['version']} ({', '.join(report['published']['artifacts'])}), "
        f"signed; {report['published']['small']} bytes to the API, {report['published']['big']} bytes to the CDN; "
        f"{report['published']['channel']}"
    )
    print(
        f"inference:  as a Device: {inference['frames']} frames (every 2nd of {FRAMES}) on {inference['backend']}, "
        f"{inference['detections']} detections, {inference['fps']:.1f} fps; model decrypted in memory only "
        f"({len(plaintext)} plaintext files in the cache) ({timings['inference']:.1f} s)"
    )
    score = found["score"]
    print(
        f"            on the synthetic flyover at IoU 0.5: precision {score['precision']:.2f}, recall "
        f"{score['recall']:.2f} ({score['true_positives']} found, {score['false_positives']} wrong, "
        f"{score['missed']} missed)"
    )
    tracks = inference.get("tracks", [])
    events = len((edge / "events.jsonl").read_text().splitlines())
    print(
        f"            {len(tracks)} objects tracked (a track_id on each detection), the longest over "
        f"{max((t['detections'] for t in tracks), default=0)} frames; {events} track events"
    )
    print(
        f"outputs:    {edge / 'annotated.mp4'}, {edge / 'detections.jsonl'}, {edge / 'events.jsonl'}, "
        f"{found['sheet']}, {found['grid']}"
    )
    print(f"            models in {ROOT / 'models'}, logs in {demo.logs}, this summary in {ROOT / 'summary.json'}")
    shots = found["console_shots"]
    print(f"console:    {found['console']} (log in as {ADMIN[0]}); screenshots {shots['overview']}, {shots['run']}")
    print(f"time:       {', '.join(f'{k} {v:.1f} s' for k, v in timings.items())}")
    return 0 if processed == expected * 8 and not plaintext else 1


def stop(demo: Demo) -> None:
    """Stop every process the demo started, unless DEMO_KEEP=1."""
    if os.environ.get("DEMO_KEEP") == "1":
        log(
            f"DEMO_KEEP=1: the console ({demo.found.get('console')}, log in as {ADMIN[0]} / {ADMIN[1]}), "
            f"the api (http://127.0.0.1:{demo.port}), ingestor and augmentor keep running on {ROOT}; "
            f"stop them with: kill {' '.join(str(p.pid) for p in demo.processes)}"
        )
        return
    for proc in demo.processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in demo.processes:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    log("stopped every process the demo started")


STAGES = (publish_annotations, ingest, augment, train, infer, console)


def main() -> int:
    demo = prepare()
    try:
        for stage in STAGES:
            stage(demo)
        return summarize(demo)
    finally:
        stop(demo)


if __name__ == "__main__":
    sys.exit(main())
