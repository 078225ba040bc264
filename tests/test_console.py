"""The operations console in a real browser (Debian's chromium driven by Selenium): the real console
process over a data root made here, the real api (logins, devices), real /metrics servers. Screenshots
land in the test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from azaion_shared.paths import DataRoot
from conftest import free_port

PASSWORD = "a-long-enough-password"
VARIANTS = 7


def write_pair(folder: Path, name: str, colour: int, cls: int = 1) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    image = np.full((96, 128, 3), colour % 256, np.uint8)
    cv2.rectangle(image, (40, 30), (80, 60), (255, 255, 255), -1)
    cv2.imwrite(str(folder / "images" / f"{name}.jpg"), image)
    (folder / "labels" / f"{name}.txt").write_text(f"{cls} 0.46875 0.46875 0.3125 0.3125\n")


def make_root(root: Path) -> dict:
    """30 validated annotations (5 of them augmented), 3 waiting, 2 deleted, 2 rejected messages, two runs."""
    names = [f"img-{i:03d}" for i in range(30)]
    for i, name in enumerate(names):
        write_pair(root / "data", name, i * 7, cls=2 if i % 10 == 0 else 1)
    for i in range(3):
        write_pair(root / "data-seed", f"seed-{i}", 200 + i)
    for i in range(2):
        write_pair(root / "data_deleted", f"gone-{i}", 100 + i)
    processed = DataRoot(root).processed
    processed.markers.mkdir(parents=True)
    for name in names[:5]:
        write_pair(root / "data-processed", name, 50)
        for v in range(1, VARIANTS + 1):
            write_pair(root / "data-processed", f"{name}+{v}", 50 + v * 20)
        processed.marker_path(name).write_text(json.dumps({"name": name, "variants": VARIANTS}))
    rejected = root / "data-rejected"
    rejected.mkdir()
    raws = {}
    for offset, reason in ((41, "not msgpack"), (97, "image is not a JPEG")):
        stem = f"1700000000-{offset}-{offset:012x}"
        raws[stem] = os.urandom(300 + offset)
        (rejected / f"{stem}.bin").write_bytes(raws[stem])
        (rejected / f"{stem}.reason.txt").write_text(reason + "\n")
    models = root / "models"
    run = models / "run-a"
    run.mkdir(parents=True)
    header = "                  epoch,  train/box_loss,  train/cls_loss,  train/dfl_loss,  metrics/precision(B),"
    header += (
        "  metrics/recall(B),  metrics/mAP50(B),  metrics/mAP50-95(B),  val/box_loss,  val/cls_loss,  val/dfl_loss"
    )
    rows = [
        f"{e}, {2 - e * 0.3}, {3 - e * 0.5}, 1.2, {0.3 + e * 0.1}, {0.2 + e * 0.1}, {0.25 + e * 0.1}, "
        f"{0.1 + e * 0.05}, {2.1 - e * 0.2}, {3.1 - e * 0.4}, 1.3"
        for e in range(1, 5)
    ]
    (run / "results.csv").write_text("\n".join([header, *rows]) + "\n")
    gate = {
        "publish": True,
        "reason": "no current model: the first one is published",
        "split": "test",
        "new_map50_95": 0.3763321118012422,
        "new_map50": 0.65,
        "current_map50_95": None,
        "current_map50": None,
    }
    (run / "gate.json").write_text(json.dumps(gate))
    (run / "dataset-manifest.json").write_text(
        json.dumps({"run": "run-a", "counts": {"train": 24, "valid": 3, "test": 3}})
    )
    (run / "dataset-histogram.json").write_text(
        json.dumps({"train": {"1": 40, "2": 3}, "valid": {"1": 5}, "test": {"1": 4}})
    )
    (run / "dataset-data.yaml").write_text("names:\n  0: person\n  1: car\n  2: truck\n")
    plot = np.full((120, 160, 3), 230, np.uint8)
    cv2.line(plot, (10, 110), (150, 10), (200, 60, 20), 3)
    cv2.imwrite(str(run / "confusion_matrix.png"), plot)  # ultralytics' 80 x 80 plot: hidden by confusion.json
    cv2.imwrite(str(run / "PR_curve.png"), plot)
    confusion = {
        "split": "test",
        "classes": ["car", "truck", "background"],
        "counts": [[9, 1, 2], [0, 3, 0], [1, 0, 0]],
    }
    (run / "confusion.json").write_text(json.dumps(confusion))
    (models / "run-b").mkdir()
    (models / "run-b" / "results.csv").write_text("\n".join([header, rows[0]]) + "\n")
    (models / "azaion.pt.json").write_text(json.dumps({"run": "run-a"}))
    (models / "azaion.onnx").write_bytes(b"\0" * 4096)
    return {"names": names, "raws": raws}


def snapshot(root: Path) -> dict:
    """Every path under the root with its mode, size and modification time (what a writer would change)."""
    out = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        out[str(path.relative_to(root))] = (stat.st_mode, stat.st_size, stat.st_mtime_ns)
    out["."] = root.stat().st_mtime_ns
    return out


@pytest.fixture
def metrics_servers():
    """The real ingestor's and augmentor's metrics, served over HTTP as the services serve them."""
    from prometheus_client import start_http_server

    from augmentor.metrics import Metrics as AugmentorMetrics
    from ingestor.metrics import Metrics as IngestorMetrics

    ingestor, augmentor = IngestorMetrics(), AugmentorMetrics()
    ingestor.offset.set(1234)
    ingestor.lag.set(7)
    ingestor.applied.labels(status="created").inc(500)
    ingestor.rejected.inc(2)
    augmentor.queue_depth.set(3)
    servers, urls = [], {}
    for name, registry in (("ingestor", ingestor.registry), ("augmentor", augmentor.registry)):
        port = free_port()
        servers.append(start_http_server(port, addr="127.0.0.1", registry=registry))
        urls[name] = f"http://127.0.0.1:{port}/metrics"
    yield ingestor, urls
    for server, _thread in servers:
        server.shutdown()


def browser(width: int = 1280, height: int = 900):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def log_in(driver, url: str, email: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/login")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login").click()


@pytest.mark.slow
def test_console_in_a_browser(api_server, metrics_servers, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root = tmp_path / "root"
    made = make_root(root)
    before = snapshot(root)
    api_server.add_user("admin@x.io", PASSWORD, "Admin")
    api_server.add_user("edge@x.io", PASSWORD, "Device")
    token = httpx.post(f"{api_server.url}/login", json={"email": "edge@x.io", "password": PASSWORD}).json()["token"]
    beat = {"name": "jetson-7", "version": "3", "backend": "tensorrt", "fps": 24.5}
    httpx.post(f"{api_server.url}/devices/heartbeat", json=beat, headers={"Authorization": f"Bearer {token}"})

    ingestor, urls = metrics_servers
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"} | {
        "AZAION_ENV": "test",
        "AZAION_ROOT": str(root),
        "AZAION_CONSOLE__PORT": str(port),
        "AZAION_CONSOLE__API_URL": api_server.url,
        "AZAION_CONSOLE__METRICS": json.dumps(urls | {"trainer": "http://127.0.0.1:9/metrics"}),
        "AZAION_CONSOLE__REFRESH_SECONDS": "1",
    }
    console = subprocess.Popen([sys.executable, "-m", "console"], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(url + "/", follow_redirects=False).headers["location"] == "/login"
        driver = browser()
        try:
            wait = WebDriverWait(driver, 15)
            # a Device is refused
            log_in(driver, url, "edge@x.io")
            refused = wait.until(lambda d: d.find_elements(By.ID, "error"))  # the form's answer, once it has loaded
            assert "only an Admin" in refused[0].text
            assert driver.get_cookie("azaion_console") is None
            # an Admin gets the overview, whose figures are the data root's and the services'
            log_in(driver, url, "admin@x.io")
            wait.until(lambda d: d.find_elements(By.ID, "seed"))
            cookie = driver.get_cookie("azaion_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            text = {
                key: driver.find_element(By.ID, key).text
                for key in (
                    "seed",
                    "data",
                    "deleted",
                    "augmented",
                    "pending",
                    "rejected",
                    "offset",
                    "lag",
                    "replicas",
                    "queue",
                    "current",
                    "releases",
                )
            }
            assert text == {
                "seed": "3",
                "data": "30",
                "deleted": "2",
                "augmented": "5",
                "pending": "25",
                "rejected": "2",
                "offset": "1234",
                "lag": "7",
                "replicas": "1",
                "queue": "3",
                "current": "run-a",
                "releases": "none",
            }, text
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "trainer metrics unreachable" in body  # a source that does not answer is said, not a 500
            devices_table = driver.find_element(By.ID, "devices").text
            assert "jetson-7" in devices_table and "STALE: metadata not confirmed fresh yet" in devices_table
            runs = driver.find_element(By.ID, "runs").text
            assert "run-a" in runs and "promoted" in runs and "run-b" in runs
            assert "mAP50-95 (valid)" in runs and "0.300 0.650" in runs  # the split named, figures to 3 decimals
            assert "24.5" in driver.find_element(By.CSS_SELECTOR, "#devices td.fps").text
            seen = driver.find_element(By.CSS_SELECTOR, "#devices time")  # a relative time, the exact one on hover
            assert seen.text.endswith("ago") or seen.text == "just now", seen.text
            assert seen.get_attribute("title").endswith(" UTC")
            age = driver.find_element(By.CSS_SELECTOR, "#age time")
            assert age.text.endswith("s ago") or age.text == "just now"
            driver.save_screenshot(str(tmp_path / "overview.png"))
            # it refreshes itself without reloading the page
            driver.execute_script("window.notReloaded = true")
            ingestor.offset.set(1300)
            wait.until(lambda d: d.find_element(By.ID, "offset").text == "1300")
            assert driver.execute_script("return window.notReloaded") is True
            # the ingestor's metrics through the console, not a link to a port a browser cannot reach
            driver.find_element(By.LINK_TEXT, "offset").click()
            wait.until(lambda d: d.find_elements(By.ID, "samples"))
            assert "ingestor_offset 1300.000" in driver.find_element(By.ID, "samples").text
            assert urls["ingestor"] in driver.find_element(By.TAG_NAME, "body").text  # where it was read from
            driver.back()
            wait.until(lambda d: d.find_elements(By.LINK_TEXT, "run-a"))
            # a run: its charts drawn, ultralytics' plot shown, the gate and the dataset
            driver.find_element(By.LINK_TEXT, "run-a").click()
            wait.until(lambda d: d.find_elements(By.ID, "charts"))
            lines = driver.find_elements(By.CSS_SELECTOR, "#charts polyline.series")
            assert len(lines) >= 8 and all(len(line.get_attribute("points").split()) == 4 for line in lines)
            svg = driver.find_element(By.CSS_SELECTOR, "#charts svg")
            assert svg.size["width"] > 100 and svg.size["height"] > 40
            plot = driver.find_element(By.CSS_SELECTOR, "img[alt='PR_curve.png']")
            assert driver.execute_script("return arguments[0].naturalWidth", plot) == 160
            assert not driver.find_elements(By.CSS_SELECTOR, "img[alt='confusion_matrix.png']")
            confusion = driver.find_element(By.ID, "confusion").text
            assert "truck" in confusion and "background" in confusion and "person" not in confusion
            gate = driver.find_element(By.ID, "gate").text
            assert "0.376" in gate and "0.3763" not in gate and "0.650" in gate and "mAP50-95 (test)" in gate
            assert driver.find_element(By.ID, "split").text == "train 24 · valid 3 · test 3"
            assert "truck" in driver.find_element(By.ID, "histogram").text
            assert "azaion.onnx: 4096 bytes" in driver.find_element(By.ID, "artifacts").text
            driver.save_screenshot(str(tmp_path / "run.png"))
            # the data browser: two pages of data/, images with their boxes drawn
            driver.get(url + "/data?folder=data")
            assert driver.find_element(By.ID, "page").text == "1"
            assert len(driver.find_elements(By.CSS_SELECTOR, "#images img")) == 24
            driver.find_element(By.ID, "next").click()
            wait.until(lambda d: d.find_element(By.ID, "page").text == "2")
            images = driver.find_elements(By.CSS_SELECTOR, "#images img")
            assert len(images) == 6
            wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", i) == 128 for i in images))
            driver.get(url + "/data?folder=data&cls=2")
            assert "3 images" in driver.find_element(By.ID, "paging").text  # img-000, -010, -020 hold a truck
            driver.get(url + "/data?folder=data&cls=Truck")  # by name, any case
            assert "3 images" in driver.find_element(By.ID, "paging").text
            driver.get(url + "/data?folder=data&cls=tank")
            assert "no class 'tank'" in driver.find_element(By.ID, "problem").text
            driver.get(url + "/annotation/img-001")
            assert len(driver.find_elements(By.CSS_SELECTOR, "#variants img")) == 2 + VARIANTS
            # a rejected message's raw bytes, downloaded with the browser's session
            driver.get(url + "/rejected")
            links = driver.find_elements(By.CSS_SELECTOR, "#rejected a.raw")
            assert len(links) == 2
            href = links[0].get_attribute("href")
            got = httpx.get(href, cookies={"azaion_console": cookie["value"]})
            assert got.status_code == 200 and got.content == made["raws"][href.rsplit("/", 1)[1][: -len(".bin")]]
            assert httpx.get(href).status_code in (303, 307)  # not without the session
            # a phone-sized screen: nothing wider than the screen
            driver.set_window_size(390, 844)
            driver.get(url + "/")
            wait.until(lambda d: d.find_elements(By.ID, "seed"))
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 400
            driver.save_screenshot(str(tmp_path / "overview-phone.png"))
        finally:
            driver.quit()
    finally:
        console.terminate()
        console.wait(timeout=10)
    for shot in ("overview.png", "run.png", "overview-phone.png"):
        assert cv2.imread(str(tmp_path / shot)) is not None
    assert snapshot(root) == before, "the console wrote to the data root"


def test_the_console_says_when_the_api_is_unreachable(tmp_path):
    """A login while the api is down is a page that says so (503), not an error page."""
    from console.app import create_app
    from console.settings import ConsoleOptions
    from fastapi.testclient import TestClient

    app = create_app(ConsoleOptions(api_url=f"http://127.0.0.1:{free_port()}", timeout=1), tmp_path)
    with TestClient(app) as client:
        response = client.post(
            "/login", content="email=a%40x.io&password=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 503 and "unreachable" in response.text
        assert client.get("/overview.json").status_code == 401
