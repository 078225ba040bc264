"""Exports of the promoted model (models/azaion.pt) for the edge: ONNX, TensorRT, RKNN.

Every export goes through :func:`export`: the request is checked first (trainer.formats), the
export is timed and logged, and a JSON lands beside the artifact (class names, image size, batch,
precision, model version, resource name, seconds). ONNX carries the same in its metadata; TensorRT
engines and RKNN models carry it in front of the model (a bundle); both are written and read
through :class:`azaion_shared.model_info.ModelInfo`. Vendor SDKs are reached only through
:mod:`azaion_shared.vendors` (and the RKNN converter's own virtualenv, ``rknn_convert.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from azaion_shared.atomic import atomic_write_bytes, atomic_write_text
from azaion_shared.model_formats import ONNX, RKNN, TENSORRT, engine_resource
from azaion_shared.model_info import ModelInfo, make_bundle
from azaion_shared.paths import DataRoot
from azaion_shared.progress import working
from azaion_shared.vendors import onnxruntime, tensorrt
from trainer.archive import _copy
from trainer.errors import ExportError
from trainer.formats import ExportRequest
from trainer.training import offline

log = logging.getLogger(__name__)

RKNN_CONVERTER = Path(__file__).with_name("rknn_convert.py")
CHECK_IMAGES = 4


@dataclass(frozen=True)
class Exported:
    format: str
    path: Path
    resource: str
    seconds: float
    meta: dict


def export(
    root: DataRoot,
    weights: Path,
    version: str,
    request: ExportRequest,
    onnx_resource: str = ONNX.resource(),
    rknn_python: Path | None = None,
    samples: list[Path] | None = None,
) -> Exported:
    """Export ``weights`` as ``request`` says; ``samples`` are images for INT8 calibration and checks."""
    if not weights.exists():
        raise ExportError(f"nothing to export: {weights} does not exist (train, then pass the gate first)")
    offline()
    started = time.perf_counter()
    log.info("exporting %s as %s ...", weights, request.describe())
    name = request.format.name
    with working(f"export {name}"):
        if name == ONNX.name:
            path, resource, meta = _onnx(root, weights, version, request, onnx_resource)
        elif name == TENSORRT.name:
            path, resource, meta = _tensorrt(root, weights, version, request)
        else:
            path, resource, meta = _rknn(root, weights, version, request, rknn_python, samples or [])
    seconds = time.perf_counter() - started
    meta = meta | {
        "format": name,
        "version": version,
        "imgsz": request.imgsz,
        "batch": request.batch,
        "precision": request.precision,
        "target": request.target,
        "resource": resource,
        "seconds": round(seconds, 1),
    }
    atomic_write_text(path.with_name(path.name + ".json"), json.dumps(meta, indent=2))
    log.info("exported %s -> %s (%s) in %.1f s", weights, path, request.describe(), seconds)
    return Exported(name, path, resource, seconds, meta)


def convert(weights: Path, out: Path, imgsz: int, batch: int) -> Path:
    """``weights`` (an ultralytics .pt) as an ONNX model with our metadata at ``out``: what
    ``inference run --model`` runs, made without the api, a run or the data root."""

    if not weights.is_file() or weights.suffix.lower() != ".pt":
        raise ExportError(f"{weights}: no such .pt file (an ultralytics checkpoint, e.g. models/starter/*.pt)")
    offline()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="azaion-convert-", dir=out.parent) as workdir:
        produced = onnx_model(weights, Path(workdir), f"local {weights.stem}", imgsz, batch)
        os.replace(produced, out)
    return out


def onnx_model(weights: Path, workdir: Path, version: str, imgsz: int, batch: int, dynamic=False, opset=None) -> Path:
    """ultralytics' ONNX export of a copy of ``weights`` in ``workdir``, with our metadata added."""
    import onnx
    from ultralytics import YOLO

    copy = workdir / f"model-{imgsz}-{batch}{'-dynamic' if dynamic else ''}.pt"
    shutil.copyfile(weights, copy)
    try:
        produced = Path(
            YOLO(str(copy)).export(format="onnx", imgsz=imgsz, batch=batch, dynamic=dynamic, simplify=True, opset=opset)
        )
    except Exception as exc:  # ultralytics raises many types from its exporters
        raise ExportError(f"ONNX export of {weights} failed: {exc}") from exc
    model = onnx.load(str(produced))
    info = ModelInfo(imgsz=(imgsz, imgsz), batch=batch, version=version, precision="fp32", format=ONNX.name)
    for key, value in info.onnx_properties().items():
        entry = next((p for p in model.metadata_props if p.key == key), None) or model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(produced))
    return produced


def _names(onnx_path: Path) -> dict:
    """The class names in the exported model (a ModelLoadError from the vendor module when it does not load)."""
    return onnxruntime.metadata(onnx_path.read_bytes()).get("names") or {}


def _onnx(root, weights, version, request, resource):
    with tempfile.TemporaryDirectory(prefix="azaion-export-") as tmp:
        produced = onnx_model(weights, Path(tmp), version, request.imgsz, request.batch)
        target = root.models / ONNX.resource()
        _copy(produced, target)
    return target, resource, {"names": _names(target)}


def cuda_capability() -> str:
    """This machine's GPU as ``86``; an ExportError when there is none."""
    cc = tensorrt.compute_capability()
    if cc is None:
        raise ExportError(
            "tensorrt: this machine has no NVIDIA GPU (neither CUDA nor nvidia-smi sees one). An engine runs only on "
            "the GPU model it "
            "was built for: build it on a GPU server with `python -m trainer export --format tensorrt`, or let the "
            "inference service build one on the device at its first start"
        )
    return cc


def _tensorrt(root, weights, version, request):
    cc = cuda_capability()
    tensorrt.tensorrt()  # RuntimeUnavailable, with the install hint, before anything is exported
    with tempfile.TemporaryDirectory(prefix="azaion-export-") as tmp:
        onnx_path = onnx_model(weights, Path(tmp), version, request.imgsz, request.batch, dynamic=True)
        engine = tensorrt.build_engine(
            onnx_path.read_bytes(), fp16=request.precision == "fp16", max_batch=request.batch
        )
        names = _names(onnx_path)
    name = engine_resource(cc)
    target = root.models / name
    atomic_write_bytes(target, engine)
    return target, name, {"names": names, "compute_capability": cc}


# --- RKNN -------------------------------------------------------------------------------------
def check_inputs(samples: list[Path], imgsz: int, count: int = CHECK_IMAGES):
    """Letterboxed RGB uint8 (1, imgsz, imgsz, 3) inputs from the first ``count`` sample images."""
    import cv2
    from ultralytics.data.augment import LetterBox

    inputs = []
    for path in samples[:count]:
        image = cv2.imread(str(path))
        if image is not None:
            inputs.append(LetterBox((imgsz, imgsz), auto=False)(image=image)[None, ..., ::-1].copy())
    return inputs


def detections(output, conf: float = 0.25, iou: float = 0.7):
    import torch
    from ultralytics.utils.nms import non_max_suppression

    return non_max_suppression(torch.from_numpy(output), conf_thres=conf, iou_thres=iou)[0].numpy()


def agreement(reference: list, candidate: list, min_iou: float = 0.9) -> dict:
    """How many of the reference detections (x1 y1 x2 y2 score class) the candidate found: same class, IoU."""
    import numpy as np

    matched = total = 0
    score_diffs = []
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref)
        for det in ref:
            same = cand[cand[:, 5] == det[5]] if len(cand) else cand
            if not len(same):
                continue
            x1, y1 = np.maximum(det[0], same[:, 0]), np.maximum(det[1], same[:, 1])
            x2, y2 = np.minimum(det[2], same[:, 2]), np.minimum(det[3], same[:, 3])
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            union = (det[2] - det[0]) * (det[3] - det[1]) + (same[:, 2] - same[:, 0]) * (same[:, 3] - same[:, 1])
            ious = inter / np.maximum(union - inter, 1e-9)
            best = int(ious.argmax())
            if ious[best] >= min_iou:
                matched += 1
                score_diffs.append(abs(float(det[4]) - float(same[best, 4])))
    return {
        "reference_detections": total,
        "matched": matched,
        "agreement": matched / total if total else 1.0,
        "max_score_difference": max(score_diffs) if score_diffs else 0.0,
        "min_iou": min_iou,
    }


#: What the converted model may differ from ONNX Runtime by, on the same letterboxed inputs: raw box
#: outputs by 1 % of the image size, raw class scores by 0.01, and 90 % of the detections found again.
BOX_TOLERANCE, SCORE_TOLERANCE, DETECTION_AGREEMENT = 0.01, 0.01, 0.9
TOLERANCE_TEXT = "boxes within 1 % of the image size, scores within 0.01, >= 90 % of the detections"


def simulator_check(reference, candidate, box_diff: float, score_diff: float, imgsz: int) -> dict:
    found = agreement(reference, candidate)
    passed = (
        box_diff <= BOX_TOLERANCE * imgsz
        and score_diff <= SCORE_TOLERANCE
        and found["agreement"] >= DETECTION_AGREEMENT
    )
    return found | {"max_box_difference_px": box_diff, "max_score_difference_raw": score_diff, "passed": passed}


def _rknn(root, weights, version, request, rknn_python, samples):
    import numpy as np

    if rknn_python is None or not Path(rknn_python).exists():
        raise ExportError(
            f"rknn: rknn-toolkit2 is not installed where AZAION_TRAINER__RKNN_PYTHON points ({rknn_python}): "
            "`make rknn-env` makes .venv-rknn with rknn-toolkit2 2.3.2 (x86-64 Linux; it needs its own "
            "virtualenv because it pins torch 2.4 and onnx < 1.19)"
        )
    rknn_python = Path(rknn_python).absolute()  # not resolve(): the venv's python is a symlink
    if request.precision == "int8" and not samples:
        raise ExportError("rknn: int8 needs calibration images: form a dataset first (python -m trainer dataset)")
    with tempfile.TemporaryDirectory(prefix="azaion-rknn-") as tmp:
        work = Path(tmp)
        onnx_path = onnx_model(weights, work, version, request.imgsz, 1, opset=12)
        checks = check_inputs(samples, request.imgsz)
        check_paths = []
        for i, array in enumerate(checks):
            check_paths.append(str(work / f"input-{i}.npy"))
            np.save(check_paths[-1], array)
        dataset = None
        if request.precision == "int8":
            dataset = work / "dataset.txt"
            dataset.write_text("\n".join(str(p) for p in samples[: request.calibration_images]) + "\n")
        job = {
            "onnx": str(onnx_path),  # the converter's request (rknn_convert imports nothing of ours)
            "out": str(work / "model.rknn"),
            "target": request.target,
            "int8": request.precision == "int8",
            "dataset": str(dataset) if dataset else None,
            "checks": check_paths,
            "outputs": str(work),
        }
        (work / "request.json").write_text(json.dumps(job))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZAION_", "PYTHON"))}
        done = subprocess.run(
            [str(rknn_python), str(RKNN_CONVERTER), str(work / "request.json")],
            capture_output=True,
            text=True,
            timeout=3600,
            env=env,
            cwd=tmp,
        )
        result_file = work / "result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else {"ok": False}
        if not result.get("ok"):
            tail = (done.stdout + done.stderr)[-2000:]
            raise ExportError(f"rknn: conversion failed: {result.get('error', 'no result')}\n{tail}")
        # the simulator's detections against ONNX Runtime's on the same inputs
        session = onnxruntime.cpu_session(str(onnx_path))
        name = session.get_inputs()[0].name
        reference, candidate, box_diff, score_diff = [], [], 0.0, 0.0
        for array, out_path in zip(checks, result["outputs"], strict=True):
            tensor = np.ascontiguousarray(array.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
            ours, theirs = session.run(None, {name: tensor})[0], np.load(out_path)
            box_diff = max(box_diff, float(np.abs(ours[:, :4] - theirs[:, :4]).max()))
            score_diff = max(score_diff, float(np.abs(ours[:, 4:] - theirs[:, 4:]).max()))
            reference.append(detections(ours))
            candidate.append(detections(theirs))
        check = simulator_check(reference, candidate, box_diff, score_diff, request.imgsz) | {"images": len(checks)}
        (log.info if check["passed"] else log.warning)(
            "rknn simulator vs ONNX Runtime on %d images: raw boxes within %.2f px, scores within %.4f; "
            "%d of %d detections agree (same class, IoU >= %.1f)%s",
            len(checks),
            box_diff,
            score_diff,
            check["matched"],
            check["reference_detections"],
            check["min_iou"],
            "" if check["passed"] else f": OUTSIDE the tolerance ({TOLERANCE_TEXT}); check the model on the device",
        )
        names = _names(onnx_path)
        info = ModelInfo.from_mapping({"names": names}) if names else ModelInfo()
        info = ModelInfo(info.names, (request.imgsz, request.imgsz), 1, version, request.precision, RKNN.name)
        target = root.models / RKNN.resource()
        atomic_write_bytes(target, make_bundle(info, (work / "model.rknn").read_bytes()))
    return target, RKNN.resource(), {"names": names, "toolkit": result.get("toolkit"), "simulator_check": check}
