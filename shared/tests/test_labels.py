import pytest
from hypothesis import given
from hypothesis import strategies as st

from azaion_shared.errors import LabelError
from azaion_shared.labels import Box, format_labels, parse_labels, read_labels


def test_parse_and_format():
    text = "0 0.5 0.5 0.2 0.1\n\n3 0.1 0.2 0.05 0.05\n"
    boxes = parse_labels(text)
    assert boxes == [Box(0, 0.5, 0.5, 0.2, 0.1), Box(3, 0.1, 0.2, 0.05, 0.05)]
    assert format_labels(boxes) == "0 0.500000 0.500000 0.200000 0.100000\n3 0.100000 0.200000 0.050000 0.050000\n"
    assert format_labels([]) == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "expected 5 columns"),
        ("0 0.5 0.5 0.2 0.1 0.9", "expected 5 columns"),
        ("x 0.5 0.5 0.2 0.1", "not an integer"),
        ("-1 0.5 0.5 0.2 0.1", "unknown class id -1"),
        ("0 abc 0.5 0.2 0.1", "cx 'abc' is not a number"),
        ("0 1.5 0.5 0.2 0.1", "cx=1.5 is outside 0..1"),
        ("0 0.5 -0.1 0.2 0.1", "cy=-0.1 is outside 0..1"),
        ("0 0.5 0.5 nan 0.1", "outside 0..1"),
        ("0 0.5 0.5 0 0.1", "zero size"),
    ],
)
def test_errors_name_file_and_line(line, message):
    with pytest.raises(LabelError) as info:
        parse_labels(f"0 0.5 0.5 0.2 0.1\n{line}\n", source="labels/a.txt")
    assert str(info.value).startswith("labels/a.txt:2: ")
    assert message in str(info.value)
    assert info.value.line == 2


def test_class_limit():
    with pytest.raises(LabelError, match=r"unknown class id 80 \(0..79\)"):
        parse_labels("80 0.5 0.5 0.1 0.1", num_classes=80)


def test_read_labels_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(LabelError, match=r"bad\.txt: cannot read"):
        read_labels(bad)
    with pytest.raises(LabelError, match="cannot read"):
        read_labels(tmp_path / "missing.txt")


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
positive = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False)
boxes = st.lists(st.builds(Box, st.integers(0, 79), unit, unit, positive, positive), max_size=20)


@given(boxes)
def test_round_trip(original):
    parsed = parse_labels(format_labels(original))
    assert len(parsed) == len(original)
    for a, b in zip(original, parsed, strict=True):
        assert a.class_id == b.class_id
        for x, y in zip((a.cx, a.cy, a.w, a.h), (b.cx, b.cy, b.w, b.h), strict=True):
            assert abs(x - y) <= 5e-7
    # Formatting what was parsed is a fixed point.
    assert format_labels(parse_labels(format_labels(parsed))) == format_labels(parsed)
