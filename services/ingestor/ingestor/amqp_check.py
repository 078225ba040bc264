"""A structural check of an AMQP 1.0 message before rstream's decoder sees it.

rstream's decoder trusts the counts inside the bytes: a 100-byte message that
declares a list of four billion items keeps it busy for many seconds (seen in
our fuzz test). This walk follows the AMQP 1.0 type encoding without building
any value and refuses any size or count that does not fit in what is left, so
the decoder only ever gets messages whose work is bounded by their length.
"""

from __future__ import annotations

import struct

from ingestor.errors import AmqpFormatError

MAX_DEPTH = 32

_FIXED = {
    **dict.fromkeys((0x40, 0x41, 0x42, 0x43, 0x44, 0x45), 0),
    **dict.fromkeys((0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56), 1),
    **dict.fromkeys((0x60, 0x61), 2),
    **dict.fromkeys((0x70, 0x71, 0x72, 0x73, 0x74), 4),
    **dict.fromkeys((0x80, 0x81, 0x82, 0x83, 0x84), 8),
    **dict.fromkeys((0x94, 0x98), 16),
}
_VARIABLE8 = (0xA0, 0xA1, 0xA3)
_VARIABLE32 = (0xB0, 0xB1, 0xB3)
_COMPOUND8 = (0xC0, 0xC1)
_COMPOUND32 = (0xD0, 0xD1)
_ARRAY8, _ARRAY32 = 0xE0, 0xF0
_SECTIONS = range(0x70, 0x79)  # header .. footer descriptors


def check_message(data: bytes) -> None:
    """Raise AmqpFormatError unless ``data`` is a sequence of well-formed AMQP 1.0 message sections."""
    view = memoryview(data)
    if not view:
        raise AmqpFormatError("empty message")
    pos = 0
    while pos < len(view):
        if view[pos] != 0x00 or pos + 2 >= len(view) or view[pos + 1] != 0x53 or view[pos + 2] not in _SECTIONS:
            raise AmqpFormatError(f"byte {pos}: not an AMQP 1.0 message section")
        pos = _value(view, pos + 3, 0)


def _need(view: memoryview, pos: int, size: int) -> None:
    if size < 0 or pos + size > len(view):
        raise AmqpFormatError(f"byte {pos}: declares {size} bytes, {len(view) - pos} remain")


def _value(view: memoryview, pos: int, depth: int) -> int:
    _need(view, pos, 1)
    code = view[pos]
    if code == 0x00:  # described type: descriptor, then value
        if depth >= MAX_DEPTH:
            raise AmqpFormatError("nested too deeply")
        pos = _value(view, pos + 1, depth + 1)
        return _value(view, pos, depth + 1)
    return _body(view, code, pos + 1, depth)


def _body(view: memoryview, code: int, pos: int, depth: int) -> int:
    if code in _FIXED:
        _need(view, pos, _FIXED[code])
        return pos + _FIXED[code]
    if code in _VARIABLE8 or code in _VARIABLE32:
        width = 1 if code in _VARIABLE8 else 4
        _need(view, pos, width)
        size = view[pos] if width == 1 else struct.unpack_from(">I", view, pos)[0]
        _need(view, pos + width, size)
        return pos + width + size
    if code in _COMPOUND8 or code in _COMPOUND32 or code in (_ARRAY8, _ARRAY32):
        if depth >= MAX_DEPTH:
            raise AmqpFormatError("nested too deeply")
        width = 1 if code in (*_COMPOUND8, _ARRAY8) else 4
        _need(view, pos, 2 * width)
        size, count = (view[pos], view[pos + 1]) if width == 1 else struct.unpack_from(">II", view, pos)
        _need(view, pos + width, size)
        end = pos + width + size
        if count > size:  # every item takes at least one byte
            raise AmqpFormatError(f"byte {pos}: {count} items cannot fit in {size} bytes")
        inner = pos + 2 * width
        if code in (_ARRAY8, _ARRAY32):
            inner = _array(view, inner, end, count, depth)
        else:
            for _ in range(count):
                inner = _value(view, inner, depth + 1)
        if inner > end:
            raise AmqpFormatError(f"byte {pos}: items overrun their declared size")
        return end
    raise AmqpFormatError(f"byte {pos - 1}: unknown AMQP type code 0x{code:02x}")


def _array(view: memoryview, pos: int, end: int, count: int, depth: int) -> int:
    _need(view, pos, 1)
    code = view[pos]
    pos += 1
    if code == 0x00:
        pos = _value(view, pos, depth + 1)
        _need(view, pos, 1)
        code = view[pos]
        pos += 1
    if code in _FIXED and _FIXED[code] == 0 and count > end - pos + 1:
        raise AmqpFormatError("array of empty elements larger than its size")
    for _ in range(count):
        pos = _body(view, code, pos, depth + 1)
        if pos > end:
            raise AmqpFormatError("array overruns its declared size")
    return pos
