"""What a model says about itself: class names, input size, batch, version.

ONNX models exported by ultralytics (and our trainer) carry it as metadata properties. TensorRT
engines and RKNN models carry it the way ultralytics writes engines: a 4-byte little-endian length,
that many bytes of JSON, then the model itself (a *bundle*). A model without metadata still runs,
with classes named ``class_{id}``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from azaion_shared.engines import make_bundle, split_bundle  # noqa: F401 - part of this module's API
from inference.errors import ModelError


@dataclass(frozen=True)
class ModelInfo:
    names: dict[int, str] = field(default_factory=dict)
    imgsz: tuple[int, int] | None = None
    batch: int | None = None
    version: str | None = None

    def name(self, class_id: int) -> str:
        return self.names.get(class_id, f"class_{class_id}")

    def to_json(self) -> dict[str, Any]:
        return {
            "names": {str(k): v for k, v in self.names.items()},
            "imgsz": list(self.imgsz) if self.imgsz else None,
            "batch": self.batch,
            "azaion_version": self.version,
        }


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def info_from_mapping(meta: dict[str, Any]) -> ModelInfo:
    """ModelInfo from ultralytics-style metadata (values may be Python literals held in strings)."""
    names = _literal(meta.get("names")) or {}
    if isinstance(names, list):
        names = dict(enumerate(names))
    imgsz = _literal(meta.get("imgsz") or meta.get("azaion_imgsz"))
    if isinstance(imgsz, int):
        imgsz = (imgsz, imgsz)
    batch = _literal(meta.get("batch") or meta.get("azaion_batch"))
    try:
        return ModelInfo(
            names={int(k): str(v) for k, v in dict(names).items()},
            imgsz=tuple(int(x) for x in imgsz) if imgsz else None,
            batch=int(batch) if batch else None,
            version=meta.get("azaion_version"),
        )
    except (TypeError, ValueError) as exc:
        raise ModelError(f"the model's metadata cannot be read ({exc}): {str(meta)[:200]}") from exc
