from __future__ import annotations

import pytest

from azaion_shared.errors import ModelLoadError
from azaion_shared.model_info import ModelInfo, make_bundle, split_bundle


def test_ultralytics_metadata_strings_are_read():
    info = ModelInfo.from_mapping({"names": "{0: 'person', 3: 'bus'}", "imgsz": "[96, 128]", "batch": "4"})
    assert info.names == {0: "person", 3: "bus"} and info.imgsz == (96, 128) and info.batch == 4
    assert info.name(3) == "bus" and info.name(7) == "class_7"


def test_bundle_round_trip_and_plain_payloads_pass_through():
    meta = {"names": {"0": "person"}, "imgsz": [640, 640], "batch": 4}
    found, payload = split_bundle(make_bundle(meta, b"\x00engine-bytes"))
    assert found == meta and payload == b"\x00engine-bytes"
    for plain in (b"", b"\x08\x00\x00\x00not json", b"RKNN\x00\x01\x02\x03" * 4):
        assert split_bundle(plain) == (None, plain)
    assert ModelInfo.from_mapping(found).names == {0: "person"}


def test_unreadable_metadata_is_a_model_error():
    with pytest.raises(ModelLoadError, match="metadata"):
        ModelInfo.from_mapping({"names": "{'a': 'person'}"})


def test_one_writer_and_one_reader_for_onnx_properties_and_bundles():
    info = ModelInfo({0: "car", 2: "truck"}, (1280, 1280), 4, "20261127", "fp16", "tensorrt")
    assert ModelInfo.from_mapping(info.to_json()) == info
    props = info.onnx_properties()
    assert props == {
        "azaion_version": "20261127",
        "azaion_imgsz": "1280",
        "azaion_batch": "4",
        "azaion_precision": "fp16",
        "azaion_format": "tensorrt",
    }
    ultralytics = {"names": "{0: 'car', 2: 'truck'}", "imgsz": "[1280, 1280]", "batch": "4"}
    assert ModelInfo.from_mapping(ultralytics | props) == info
    meta, payload = split_bundle(make_bundle(info, b"engine"))
    assert ModelInfo.from_mapping(meta) == info and payload == b"engine"
