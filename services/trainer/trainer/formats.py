"""The export formats, their defaults and the checks that refuse bad combinations (Flow 5).

| format   | artifact                      | image | batch | precision   | target  | needs                          |
|----------|-------------------------------|-------|-------|-------------|---------|--------------------------------|
| onnx     | models/azaion.onnx            | 1280  | 4     | fp32        | -       | onnx, onnxslim (installed)     |
| tensorrt | models/azaion.cc{cc}.engine   | 1280  | 4     | fp16, fp32  | -       | an NVIDIA GPU here, TensorRT   |
| rknn     | models/azaion.rknn            | 1280  | 1     | fp16, int8  | rk3588… | rknn-toolkit2 2.3.2 (own venv) |

The image size of every format defaults to the profile's export size (1280 in production, 96 in
the tiny profile). TensorRT engines get an optimisation profile for batch 1..batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from azaion_shared.model_formats import ONNX, RKNN, TENSORRT
from trainer.errors import ExportError

STRIDE = 32


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    batch: int
    precision: str
    precisions: tuple[str, ...]
    max_batch: int
    target: str | None = None
    targets: tuple[str, ...] = ()
    needs: str = ""


FORMATS: dict[str, ExportFormat] = {
    ONNX.name: ExportFormat(ONNX.name, ONNX.suffix, 4, "fp32", ("fp32",), 16, needs="onnx and onnxslim (installed)"),
    TENSORRT.name: ExportFormat(
        TENSORRT.name,
        TENSORRT.suffix,
        4,
        "fp16",
        ("fp16", "fp32"),
        4,
        needs="an NVIDIA GPU on this machine and TensorRT",
    ),
    RKNN.name: ExportFormat(
        RKNN.name,
        RKNN.suffix,
        1,
        "fp16",
        ("fp16", "int8"),
        1,
        "rk3588",
        ("rk3588", "rk3576", "rk3568", "rk3566", "rk3562"),
        "rknn-toolkit2 2.3.2 in its own virtualenv (make rknn-env)",
    ),
}


@dataclass(frozen=True)
class ExportRequest:
    format: ExportFormat
    imgsz: int
    batch: int
    precision: str
    target: str | None
    calibration_images: int = 0  # int8: images of the dataset used to calibrate

    def describe(self) -> str:
        target = f", target {self.target}" if self.target else ""
        return f"{self.format.name} ({self.imgsz} px, batch {self.batch}, {self.precision}{target})"


def check_imgsz(imgsz: int, what: str) -> None:
    """A model's input size: a multiple of the stride, or an ExportError saying so."""
    if imgsz < STRIDE or imgsz % STRIDE:
        raise ExportError(f"{what}: the image size must be a multiple of {STRIDE} (the model's stride), got {imgsz}")


def resolve(
    name: str,
    imgsz: int,
    batch: int | None = None,
    precision: str | None = None,
    target: str | None = None,
    calibration_images: int = 100,
) -> ExportRequest:
    """Defaults from the table, then every check; an ExportError says what to change."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise ExportError(f"unknown export format {name!r}; choose one of {', '.join(FORMATS)}")
    check_imgsz(imgsz, name)
    batch = fmt.batch if batch is None else batch
    if not 1 <= batch <= fmt.max_batch:
        raise ExportError(f"{name}: batch must be within 1..{fmt.max_batch}, got {batch}")
    precision = (precision or fmt.precision).lower()
    if precision not in fmt.precisions:
        hint = {
            (ONNX.name, "fp16"): "an FP16 ONNX needs a GPU to export; TensorRT builds FP16 from the FP32 ONNX",
            (TENSORRT.name, "int8"): "INT8 engines need a calibrator this project does not ship; use fp16",
            (RKNN.name, "fp32"): "the NPU computes in fp16 or int8",
        }.get((name, precision), "")
        raise ExportError(
            f"{name}: precision {precision!r} is not supported; choose {' or '.join(fmt.precisions)}"
            + (f" ({hint})" if hint else "")
        )
    if target and not fmt.targets:
        raise ExportError(f"{name}: --target is only for rknn (the chip), not for {name}")
    target = target or fmt.target
    if fmt.targets and target not in fmt.targets:
        raise ExportError(f"{name}: unknown target {target!r}; choose one of {', '.join(fmt.targets)}")
    if precision == "int8" and calibration_images < 1:
        raise ExportError(f"{name}: int8 needs calibration images from the dataset (got {calibration_images})")
    request = ExportRequest(fmt, imgsz, batch, precision, target)
    return replace(request, calibration_images=calibration_images) if precision == "int8" else request


def table() -> str:
    """The table above, for --help."""
    rows = [f"{'format':9} {'batch':5} {'precision':12} {'target':8} needs"]
    for f in FORMATS.values():
        precision = "/".join(f.precisions) + f" ({f.precision})"
        rows.append(f"{f.name:9} {f.batch:<5} {precision:12} {f.target or '-':8} {f.needs}")
    return "\n".join(rows)
