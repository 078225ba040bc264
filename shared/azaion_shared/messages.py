"""The annotation stream's wire format (DESIGN.md, "Annotation stream: wire format").

A message is an AMQP 1.0 message whose application property
``AnnotationStatus`` is ``Created``, ``Edited``, ``Validated`` or ``Deleted``
(or 10, 20, 30, 40) and whose body is a msgpack map.

:func:`decode_message` is the single door for untrusted bytes: whatever it is
given, it returns a validated message or raises :class:`MessageDecodeError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

import msgpack
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBytes, StrictInt, StrictStr, ValidationError

from azaion_shared.errors import MessageDecodeError

STATUS_PROPERTY = "AnnotationStatus"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

#: Limits that keep a hostile message from exhausting memory or time.
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_IMAGE_BYTES = 60 * 1024 * 1024
MAX_DETECTIONS = 10_000
MAX_BULK_NAMES = 100_000
MAX_TEXT = 1_000


class AnnotationStatus(IntEnum):
    CREATED = 10
    EDITED = 20
    VALIDATED = 30
    DELETED = 40

    @property
    def wire_name(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, value: object) -> AnnotationStatus:
        """From a property value: ``"Created"``, ``b"Created"``, ``10``, ``"10"``, ..."""
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise MessageDecodeError(f"{STATUS_PROPERTY} is not UTF-8: {bytes(value)[:40]!r}") from None
        if isinstance(value, str):
            text = value.strip()
            for status in cls:
                if text.lower() == status.wire_name.lower():
                    return status
            if text.isdigit():
                value = int(text)
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(f"{s.wire_name} ({s.value})" for s in cls)
        raise MessageDecodeError(f"{STATUS_PROPERTY}={str(value)[:40]!r} is not one of {names}")


def status_from_properties(properties: Mapping | None) -> AnnotationStatus:
    """The status from AMQP application properties, whose keys may be str or bytes."""
    if not properties:
        raise MessageDecodeError(f"message has no application properties (expected {STATUS_PROPERTY})")
    for key, value in properties.items():
        if key in (STATUS_PROPERTY, STATUS_PROPERTY.encode()):
            return AnnotationStatus.parse(value)
    raise MessageDecodeError(f"message has no {STATUS_PROPERTY} application property")


def _check_name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(f"name {value[:60]!r} must match ^[A-Za-z0-9][A-Za-z0-9._-]{{0,199}}$")
    return value


def _check_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


Name = Annotated[StrictStr, AfterValidator(_check_name)]
Number = Annotated[StrictInt | float, AfterValidator(_check_finite)]
ShortText = Annotated[StrictStr, Field(max_length=MAX_TEXT)]
Timestamp = ShortText | StrictInt | float | datetime


class Detection(BaseModel):
    """One box as the annotation UI sends it: class and normalised centre/size."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    class_num: StrictInt = Field(ge=0, le=10_000)
    center_x: Number
    center_y: Number
    width: Number
    height: Number
    confidence: Number | None = None


class Annotation(BaseModel):
    """``Created`` or ``Edited``: one image and its boxes."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    status: Literal[AnnotationStatus.CREATED, AnnotationStatus.EDITED] = AnnotationStatus.CREATED
    name: Name
    image: StrictBytes = Field(min_length=1, max_length=MAX_IMAGE_BYTES)
    detections: tuple[Detection, ...] = Field(max_length=MAX_DETECTIONS)
    role: ShortText = Field(min_length=1)
    email: ShortText | None = None
    created_at: Timestamp | None = None
    media_name: ShortText | None = None
    media_time_ms: Number | None = None


class BulkAction(BaseModel):
    """``Validated`` or ``Deleted``: a list of annotation names."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    status: Literal[AnnotationStatus.VALIDATED, AnnotationStatus.DELETED]
    names: tuple[Name, ...] = Field(max_length=MAX_BULK_NAMES)
    email: ShortText | None = None
    created_at: Timestamp | None = None


Message = Annotation | BulkAction

_OPTIONAL_KEYS = ("email", "created_at", "media_name", "media_time_ms")


def encode_body(message: Message) -> bytes:
    """The msgpack body of ``message`` as the wire format gives it."""
    if isinstance(message, Annotation):
        body: dict[str, Any] = {
            "name": message.name,
            "image": message.image,
            "detections": json.dumps([d.model_dump(exclude_none=True) for d in message.detections]),
            "role": message.role,
        }
    else:
        body = {"names": list(message.names)}
    for key in _OPTIONAL_KEYS:
        value = getattr(message, key, None)
        if value is not None:
            body[key] = value
    return msgpack.packb(body, use_bin_type=True, datetime=True)


def application_properties(message: Message) -> dict[str, str]:
    return {STATUS_PROPERTY: message.status.wire_name}


def decode_message(body: bytes, status: object) -> Message:
    """Validate untrusted ``body`` for ``status``; any malformation raises MessageDecodeError only."""
    try:
        return _decode(body, status)
    except MessageDecodeError:
        raise
    except Exception as exc:  # the one boundary where anything else becomes our error
        raise MessageDecodeError(f"malformed message ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _decode(body: bytes, status: object) -> Message:
    status = status if isinstance(status, AnnotationStatus) else AnnotationStatus.parse(status)
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise MessageDecodeError(f"message body must be bytes, got {type(body).__name__}")
    if len(body) > MAX_BODY_BYTES:
        raise MessageDecodeError(f"message body of {len(body)} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
    try:
        fields = msgpack.unpackb(
            bytes(body),
            raw=False,
            strict_map_key=True,
            timestamp=3,
            max_bin_len=MAX_BODY_BYTES,
            max_str_len=MAX_BODY_BYTES,
            max_array_len=MAX_BULK_NAMES + 1,
            max_map_len=64,
        )
    except Exception as exc:
        raise MessageDecodeError(f"body is not a msgpack message ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not isinstance(fields, dict):
        raise MessageDecodeError(f"body must be a msgpack map, got {type(fields).__name__}")
    fields = dict(fields, status=status)
    if status in (AnnotationStatus.CREATED, AnnotationStatus.EDITED):
        fields["detections"] = _parse_detections(fields.get("detections", _MISSING))
        model: type[BaseModel] = Annotation
    else:
        if isinstance(fields.get("names"), list):
            fields["names"] = tuple(fields["names"])
        model = BulkAction
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise MessageDecodeError(f"{status.wire_name} message is invalid: {_summarise(exc)}") from exc


_MISSING = object()


def _parse_detections(raw: object) -> object:
    if raw is _MISSING:
        raise MessageDecodeError("field 'detections' is missing")
    if not isinstance(raw, str):
        raise MessageDecodeError(f"field 'detections' must be a JSON string, got {type(raw).__name__}")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MessageDecodeError(f"field 'detections' is not valid JSON: {str(exc)[:120]}") from exc
    if not isinstance(parsed, list):
        raise MessageDecodeError(f"field 'detections' must hold a JSON list, got {type(parsed).__name__}")
    return tuple(parsed)


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
