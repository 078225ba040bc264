"""What a model says about itself, with one writer and one reader for each way a model carries it.

- **ONNX** carries it as metadata properties: ultralytics writes ``names``, ``imgsz`` and ``batch``
  (Python literals in strings); the trainer adds :meth:`ModelInfo.onnx_properties`
  (``azaion_version``, ``azaion_imgsz``, ``azaion_batch``, ``azaion_precision``, ``azaion_format``).
- **TensorRT engines and RKNN models** carry it the way ultralytics writes engines, a *bundle*: a
  4-byte little-endian length, that many bytes of JSON (:meth:`ModelInfo.to_json` plus anything
  the writer adds), then the model itself (:func:`make_bundle`, :func:`split_bundle`).

:meth:`ModelInfo.from_mapping` reads either. A model without metadata still runs, with classes
named ``class_{id}``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

from azaion_shared.errors import ModelLoadError

_MAX_META = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    names: dict[int, str] = field(default_factory=dict)
    imgsz: tuple[int, int] | None = None
    batch: int | None = None
    version: str | None = None
    precision: str | None = None  # fp32 | fp16 | int8
    format: str | None = None  # onnx | tensorrt | rknn (azaion_shared.model_formats)

    def name(self, class_id: int) -> str:
        return self.names.get(class_id, f"class_{class_id}")

    def to_json(self) -> dict[str, Any]:
        """The bundle header (and the shape every reader accepts)."""
        record: dict[str, Any] = {
            "names": {str(k): v for k, v in self.names.items()},
            "imgsz": list(self.imgsz) if self.imgsz else None,
            "batch": self.batch,
            "azaion_version": self.version,
        }
        if self.precision:
            record["precision"] = self.precision
        if self.format:
            record["format"] = self.format
        return record

    def onnx_properties(self) -> dict[str, str]:
        """What the trainer adds to an ONNX model's metadata (ultralytics writes names, imgsz, batch)."""
        props = {
            "azaion_version": self.version,
            "azaion_imgsz": str(self.imgsz[0]) if self.imgsz and self.imgsz[0] == self.imgsz[1] else self.imgsz,
            "azaion_batch": self.batch,
            "azaion_precision": self.precision,
            "azaion_format": self.format,
        }
        return {k: str(list(v) if isinstance(v, tuple) else v) for k, v in props.items() if v is not None}

    @classmethod
    def from_mapping(cls, meta: dict[str, Any]) -> ModelInfo:
        """From ONNX properties or a bundle header; a ModelLoadError when the values are not what they claim."""
        names = _literal(meta.get("names")) or {}
        if isinstance(names, list):
            names = dict(enumerate(names))
        imgsz = _literal(meta.get("imgsz") or meta.get("azaion_imgsz"))
        if isinstance(imgsz, int):
            imgsz = (imgsz, imgsz)
        batch = _literal(meta.get("batch") or meta.get("azaion_batch"))
        try:
            return cls(
                names={int(k): str(v) for k, v in dict(names).items()},
                imgsz=tuple(int(x) for x in imgsz) if imgsz else None,
                batch=int(batch) if batch else None,
                version=meta.get("azaion_version"),
                precision=meta.get("precision") or meta.get("azaion_precision"),
                format=meta.get("format") or meta.get("azaion_format"),
            )
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"the model's metadata cannot be read ({exc}): {str(meta)[:200]}") from exc


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def literal_metadata(properties: dict[str, str]) -> dict[str, Any]:
    """ONNX metadata properties with their Python-literal values evaluated (names as a str-keyed dict)."""
    meta = {key: _literal(value) for key, value in properties.items()}
    if isinstance(meta.get("names"), dict):
        meta["names"] = {str(k): v for k, v in meta["names"].items()}
    return meta


def make_bundle(meta: dict[str, Any] | ModelInfo, payload: bytes) -> bytes:
    """``len(json) (4 bytes LE) + json + payload``."""
    text = json.dumps(meta.to_json() if isinstance(meta, ModelInfo) else meta).encode()
    return len(text).to_bytes(4, "little") + text + payload


def split_bundle(blob: bytes) -> tuple[dict[str, Any] | None, bytes]:
    """(metadata, payload) of a bundle; (None, blob) when there is no metadata in front."""
    if len(blob) < 6:
        return None, blob
    size = int.from_bytes(blob[:4], "little")
    if not 2 <= size <= min(_MAX_META, len(blob) - 4) or blob[4:5] != b"{":
        return None, blob
    try:
        meta = json.loads(blob[4 : 4 + size].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, blob
    return (meta, blob[4 + size :]) if isinstance(meta, dict) else (None, blob)


def info_of_bundle(blob: bytes) -> tuple[ModelInfo, bytes]:
    """The info a bundle carries (empty when it has none) and the model behind it."""
    meta, payload = split_bundle(blob)
    return (ModelInfo.from_mapping(meta) if meta else ModelInfo()), payload
