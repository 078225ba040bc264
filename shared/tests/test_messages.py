import json
from datetime import UTC, datetime

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azaion_shared.errors import MessageDecodeError
from azaion_shared.messages import (
    MAX_BULK_NAMES,
    Annotation,
    AnnotationStatus,
    BulkAction,
    Detection,
    application_properties,
    decode_message,
    encode_body,
    status_from_properties,
)

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
DET = {"class_num": 2, "center_x": 0.5, "center_y": 0.4, "width": 0.1, "height": 0.2}


def pack(fields):
    return msgpack.packb(fields, use_bin_type=True)


def created(**overrides):
    fields = {"name": "img_001", "image": JPEG, "detections": json.dumps([DET]), "role": "Operator"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not ...}


def test_round_trip_annotation():
    msg = Annotation(
        status=AnnotationStatus.EDITED,
        name="frame-1.v2",
        image=JPEG,
        detections=(Detection(class_num=1, center_x=0.5, center_y=0.5, width=0.2, height=0.3, confidence=0.9),),
        role="Validator",
        email="v@example.com",
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        media_name="flight.mp4",
        media_time_ms=1234,
    )
    props = application_properties(msg)
    assert props == {"AnnotationStatus": "Edited"}
    decoded = decode_message(encode_body(msg), props["AnnotationStatus"])
    assert decoded == msg


def test_round_trip_bulk():
    msg = BulkAction(status=AnnotationStatus.DELETED, names=("a", "b.c"), email="x@y")
    assert decode_message(encode_body(msg), b"Deleted") == msg


def test_body_matches_wire_format():
    body = msgpack.unpackb(encode_body(decode_message(pack(created()), "Created")), raw=False)
    assert set(body) == {"name", "image", "detections", "role"}
    assert isinstance(body["image"], bytes)
    assert json.loads(body["detections"]) == [DET]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Created", 10), (b"Edited", 20), (30, 30), ("40", 40), (b"40", 40), ("validated", 30)],
)
def test_status_forms(value, expected):
    assert AnnotationStatus.parse(value) == expected


@pytest.mark.parametrize("value", ["Bogus", 11, True, None, b"\xff", 3.5, ""])
def test_bad_status(value):
    with pytest.raises(MessageDecodeError, match="AnnotationStatus"):
        AnnotationStatus.parse(value)


def test_status_from_properties_bytes_keys():
    assert status_from_properties({b"AnnotationStatus": b"Created"}) == AnnotationStatus.CREATED
    assert status_from_properties({"AnnotationStatus": 40}) == AnnotationStatus.DELETED
    with pytest.raises(MessageDecodeError, match="no application properties"):
        status_from_properties(None)
    with pytest.raises(MessageDecodeError, match="no AnnotationStatus"):
        status_from_properties({b"other": b"x"})


def test_integer_coordinates_accepted():
    det = dict(DET, center_x=0, width=1)
    msg = decode_message(pack(created(detections=json.dumps([det]))), "Created")
    assert msg.detections[0].center_x == 0.0 and msg.detections[0].width == 1.0


MALFORMED = {
    "empty body": b"",
    "not msgpack": b"\xc1\xc1\xc1",
    "truncated": pack(created())[:-5],
    "trailing bytes": pack(created()) + b"\x00",
    "a list": pack([1, 2, 3]),
    "a string": pack("hello"),
    "missing name": pack(created(name=...)),
    "missing image": pack(created(image=...)),
    "missing role": pack(created(role=...)),
    "missing detections": pack(created(detections=...)),
    "name is int": pack(created(name=5)),
    "traversal name": pack(created(name="../x")),
    "slash in name": pack(created(name="a/b")),
    "hidden name": pack(created(name=".hidden")),
    "long name": pack(created(name="a" * 10_000)),
    "empty name": pack(created(name="")),
    "newline name": pack(created(name="abc\n")),
    "image as str": pack(created(image="not bytes")),
    "empty image": pack(created(image=b"")),
    "detections not json": pack(created(detections="{nope")),
    "detections as list": pack(created(detections=[DET])),
    "detections json object": pack(created(detections=json.dumps(DET))),
    "detection missing field": pack(created(detections=json.dumps([{"class_num": 1}]))),
    "detection str coord": pack(created(detections=json.dumps([dict(DET, center_x="0.5")]))),
    "detection bool class": pack(created(detections=json.dumps([dict(DET, class_num=True)]))),
    "detection nan": pack(created(detections='[{"class_num":1,"center_x":NaN,"center_y":0,"width":1,"height":1}]')),
    "detection negative class": pack(created(detections=json.dumps([dict(DET, class_num=-1)]))),
    "deeply nested json": pack(created(detections="[" * 100_000 + "]" * 100_000)),
    "too many detections": pack(created(detections=json.dumps([DET] * 10_001))),
    "role empty": pack(created(role="")),
    "role huge": pack(created(role="x" * 5000)),
    "int map keys": msgpack.packb({1: 2}),
    "nested depth": b"\x91" * 100_000,
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_created_refused(name):
    with pytest.raises(MessageDecodeError):
        decode_message(MALFORMED[name], "Created")


BULK_MALFORMED = {
    "missing names": pack({"email": "x"}),
    "names not list": pack({"names": "a"}),
    "name int": pack({"names": [1]}),
    "traversal": pack({"names": ["ok", "../../etc/passwd"]}),
    "huge list": pack({"names": ["a"] * (MAX_BULK_NAMES + 1)}),
    "long name": pack({"names": ["b" * 10_000]}),
}


@pytest.mark.parametrize("name", list(BULK_MALFORMED))
def test_malformed_bulk_refused(name):
    with pytest.raises(MessageDecodeError):
        decode_message(BULK_MALFORMED[name], "Validated")


def test_error_says_what_is_wrong():
    with pytest.raises(MessageDecodeError, match=r"name.*must match"):
        decode_message(pack(created(name="../x")), "Created")
    with pytest.raises(MessageDecodeError, match="not a msgpack"):
        decode_message(b"\xc1", "Deleted")


def test_non_bytes_body():
    with pytest.raises(MessageDecodeError, match="must be bytes"):
        decode_message("text", "Created")  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.sampled_from(["Created", "Edited", "Validated", "Deleted"]))
def test_random_bytes_only_raise_our_error(body, status):
    """Any bytes: a well-formed message of the status asked for, or our error saying why; nothing else."""
    try:
        message = decode_message(body, status)
    except MessageDecodeError as exc:
        assert str(exc).strip(), "a refusal must say what is wrong"
        return
    assert message.status.wire_name == status


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(["name", "image", "detections", "role", "names", "email", "created_at", "x"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, msgpack_values, max_size=6), st.sampled_from(list(AnnotationStatus)))
def test_random_maps_only_raise_our_error(fields, status):
    try:
        message = decode_message(pack(fields), status)
    except MessageDecodeError:
        return
    assert message.status == status
