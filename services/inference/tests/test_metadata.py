from __future__ import annotations

import pytest

from inference.errors import ModelError
from inference.metadata import info_from_mapping, make_bundle, split_bundle


def test_ultralytics_metadata_strings_are_read():
    info = info_from_mapping({"names": "{0: 'person', 3: 'bus'}", "imgsz": "[96, 128]", "batch": "4"})
    assert info.names == {0: "person", 3: "bus"} and info.imgsz == (96, 128) and info.batch == 4
    assert info.name(3) == "bus" and info.name(7) == "class_7"


def test_bundle_round_trip_and_plain_payloads_pass_through():
    meta = {"names": {"0": "person"}, "imgsz": [640, 640], "batch": 4}
    found, payload = split_bundle(make_bundle(meta, b"\x00engine-bytes"))
    assert found == meta and payload == b"\x00engine-bytes"
    for plain in (b"", b"\x08\x00\x00\x00not json", b"RKNN\x00\x01\x02\x03" * 4):
        assert split_bundle(plain) == (None, plain)
    assert info_from_mapping(found).names == {0: "person"}


def test_unreadable_metadata_is_a_model_error():
    with pytest.raises(ModelError, match="metadata"):
        info_from_mapping({"names": "{'a': 'person'}"})
