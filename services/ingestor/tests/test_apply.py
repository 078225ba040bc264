"""The applier on its own: routing, edits, bulk moves, rejections, idempotent replays."""

import os
import random

import msgpack
import pytest
from annotations import Expected, actual_files, annotation, make_jpeg, random_workload
from rstream import AMQPMessage

from azaion_shared.messages import AnnotationStatus, BulkAction, application_properties, encode_body
from azaion_shared.paths import DataRoot, rejected_stem
from ingestor.apply import Applier
from ingestor.decode import Decoded, decode_incoming
from ingestor.images import check_jpeg


def wire(message) -> bytes:
    return bytes(AMQPMessage(body=encode_body(message), application_properties=application_properties(message)))


def run(applier, messages, start=None):
    """Apply ``messages`` at consecutive offsets: after the last ones applied, or from ``start`` (a replay)."""
    if start is None:
        start = getattr(applier, "next_offset", 0)
    batch = [decode_incoming(start + i, wire(m)) for i, m in enumerate(messages)]
    applier.next_offset = max(getattr(applier, "next_offset", 0), start + len(messages))
    return applier.apply_batch(batch)


@pytest.fixture
def root(tmp_path):
    return DataRoot(tmp_path).ensure()


def test_routing_by_role_edit_validate_delete(root):
    applier = Applier(root)
    out = run(
        applier,
        [
            annotation("op", 1, "Operator"),
            annotation("val", 2, "Validator"),
            annotation("adm", 3, "ADMIN"),
            annotation("pilot", 4, "Pilot"),
        ],
    )
    assert out.applied == 4 and out.rejected == 0
    assert sorted(root.seed.names()) == ["op", "pilot"] and sorted(root.data.names()) == ["adm", "val"]
    assert [(t.name, t.action) for t in out.tasks] == [("val", "upsert"), ("adm", "upsert")]
    edit = annotation("op", 5, "Admin", AnnotationStatus.EDITED)
    run(applier, [edit])
    assert root.seed.image("op").read_bytes() == edit.image  # edited in place, not moved by the editor's role
    out = run(applier, [BulkAction(status=AnnotationStatus.VALIDATED, names=("op", "ghost"))])
    assert list(root.data.names()) == ["adm", "op", "val"] and [t.name for t in out.tasks] == ["op"]
    out = run(applier, [BulkAction(status=AnnotationStatus.DELETED, names=("op", "pilot"))])
    assert sorted(root.deleted.names()) == ["op", "pilot"]
    assert "op" not in set(root.data.names()) and "pilot" not in set(root.seed.names())
    assert [(t.name, t.action) for t in out.tasks] == [("op", "delete"), ("pilot", "delete")]


def test_recreated_by_a_validator_leaves_one_copy(root):
    applier = Applier(root)
    run(applier, [annotation("a", 1, "Operator"), annotation("a", 2, "Validator")])
    assert list(root.seed.names()) == [] and list(root.data.names()) == ["a"]


@pytest.mark.parametrize("start", [0, 1, 17, 40, 79])
def test_replaying_any_suffix_leaves_the_same_files(tmp_path, start):
    messages = random_workload(80, seed=start)
    once = DataRoot(tmp_path / "once").ensure()
    run(Applier(once), messages)
    twice = DataRoot(tmp_path / "twice").ensure()
    applier = Applier(twice)
    run(applier, messages)
    run(applier, messages[start:], start)  # a crash before the checkpoint replays from there
    assert actual_files(twice.root) == actual_files(once.root)
    expected = Expected()
    for m in messages:
        expected.apply(m)
    assert actual_files(once.root) == expected.files()


@pytest.mark.parametrize("seed", range(6))
def test_crash_inside_a_batch_then_replay(tmp_path, seed):
    """Any prefix of a batch applied (the crash), then the whole batch again: same files as no crash."""
    rng = random.Random(seed)
    messages = random_workload(60, seed=100 + seed)
    clean = DataRoot(tmp_path / "clean").ensure()
    run(Applier(clean), messages)
    crashed = DataRoot(tmp_path / "crashed").ensure()
    applier = Applier(crashed)
    cut, crash_at = sorted(rng.sample(range(1, 60), 2))
    run(applier, messages[:cut], 0)  # committed batches
    run(applier, messages[cut:crash_at], cut)  # applied, crash before the checkpoint
    run(applier, messages[cut:], cut)  # restart: replay from the checkpoint
    assert actual_files(crashed.root) == actual_files(clean.root)


def test_a_kill_between_the_image_and_label_renames_is_finished_by_the_replay(root, monkeypatch):
    """Created(v1) -> Deleted -> Edited(v2, to data-seed/): killed after v2's image got its name and
    before its label did; replaying from the checkpoint must write the label (seen once in the kill -9
    flow test: the half-written pair counted as already applied)."""
    from ingestor import apply as apply_module

    messages = [
        annotation("a", 1, "Validator"),
        BulkAction(status=AnnotationStatus.DELETED, names=("a",)),
        annotation("a", 2, "Operator", AnnotationStatus.EDITED),
    ]
    run(Applier(root), messages[:2], 0)
    real_replace = os.replace

    def killed_before_the_label(src, dst, *args, **kwargs):
        if str(dst).endswith(".txt") and "data-seed" in str(dst):
            raise KeyboardInterrupt("killed")  # what SIGKILL leaves: the image renamed, the label not
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(apply_module.os, "replace", killed_before_the_label)
    with pytest.raises(KeyboardInterrupt):
        run(Applier(root), messages[2:], 2)
    monkeypatch.setattr(apply_module.os, "replace", real_replace)
    assert root.seed.image("a").exists() and not root.seed.label("a").exists()
    run(Applier(root), messages[2:], 2)  # the restart replays it
    expected = Expected()
    for message in messages:
        expected.apply(message)
    assert actual_files(root.root) == expected.files()


def test_boxes_clipped_and_tiny_ones_dropped(root):
    from azaion_shared.labels import Box, read_labels

    boxes = [Box(1, 0.95, 0.5, 0.2, 0.2), Box(2, 0.999, 0.5, 0.004, 0.1)]
    run(Applier(root, min_box_size=0.01), [annotation("a", 1, "Validator", boxes=boxes)])
    (kept,) = read_labels(root.data.label("a"))
    assert kept.class_id == 1 and kept.corners() == pytest.approx((0.85, 0.4, 1.0, 0.6))


def test_inapplicable_messages_rejected_and_batch_goes_on(root):
    from azaion_shared.labels import Box

    good = annotation("good", 1, "Validator")
    outside = annotation("outside", 2, "Validator", boxes=[Box(0, 3.0, 3.0, 0.5, 0.5)])
    png = annotation("png", 3, "Validator").model_copy(update={"image": _png()})
    truncated = annotation("trunc", 4, "Validator")
    truncated = truncated.model_copy(update={"image": truncated.image[: len(truncated.image) // 2]})
    garbage = annotation("garbage", 5, "Validator").model_copy(update={"image": b"\xff\xd8" + b"x" * 500})
    raw = [wire(m) for m in (outside, good, png, truncated, garbage)] + [b"not amqp", wire(good)[:-7]]
    out = Applier(root).apply_batch([decode_incoming(i, r) for i, r in enumerate(raw)])
    assert out.applied == 1 and out.rejected == 6
    assert list(root.data.names()) == ["good"]
    stems = {i: rejected_stem(0, i, raw[i]) for i in (0, 2, 3, 4, 5, 6)}
    reasons = {p.name: p.read_text() for p in root.rejected.glob("*.reason.txt")}
    assert sorted(reasons) == sorted(f"{stem}.reason.txt" for stem in stems.values())
    reason = {i: reasons[f"{stem}.reason.txt"] for i, stem in stems.items()}
    assert "outside the image" in reason[0]
    assert "expected JPEG" in reason[2]
    assert "does not decode" in reason[3] and "does not decode" in reason[4]
    assert "AMQP" in reason[5]
    for i, stem in stems.items():
        assert (root.rejected / f"{stem}.bin").read_bytes() == raw[i]  # the raw bytes are kept


def test_rejections_at_the_same_offset_in_two_epochs_are_both_kept(root):
    """A recreated stream starts its offsets over: a rejection at offset 0 of each epoch keeps both."""
    applier = Applier(root)
    first, second = b"not amqp, epoch 0", b"not amqp either, epoch 1"
    applier.apply_batch([decode_incoming(0, first)])
    applier.epoch = 1
    applier.apply_batch([decode_incoming(0, second)])
    applier.apply_batch([decode_incoming(0, second)])  # a replay of the same message rewrites, never adds
    kept = sorted(p.read_bytes() for p in root.rejected.glob("*.bin"))
    assert kept == sorted([first, second])
    assert len(list(root.rejected.glob("*.reason.txt"))) == 2
    assert (
        (root.rejected / f"{rejected_stem(1, 0, second)}.reason.txt")
        .read_text()
        .startswith("offset 0 (stream epoch 1): ")
    )


def test_header_check_catches_truncation():
    data = make_jpeg(1)
    assert check_jpeg(data, full=False) == (64, 48)
    with pytest.raises(Exception, match="truncated"):
        check_jpeg(data[:-40], full=False)


def test_decode_never_raises():
    rng = random.Random(1)
    for _ in range(300):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        item = decode_incoming(1, blob)
        assert isinstance(item, Decoded) and item.message is None and item.reason
    props = {"AnnotationStatus": "Deleted"}
    bad_body = bytes(AMQPMessage(body=msgpack.packb({"names": "x"}), application_properties=props))
    assert "invalid" in decode_incoming(2, bad_body).reason


def test_hostile_counts_are_refused_quickly():
    import time

    # Seen in fuzzing: 107 bytes that kept rstream's decoder busy for 15 s.
    slow = bytes.fromhex("ec2565d076157b727ccac26b") + bytes(95)
    valid = wire(annotation("a", 1, "Operator"))
    rng = random.Random(2)
    mutants = [slow, b"\x00\x53\x75\xd0\x00\x00\x00\x08\xff\xff\xff\xff" + bytes(8)]
    for _ in range(300):
        blob = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        mutants.append(bytes(blob[: rng.randrange(1, len(blob) + 1)]))
    started = time.perf_counter()
    for blob in mutants:
        decode_incoming(3, blob)  # never raises, whatever it is
    assert time.perf_counter() - started < 10


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    return out.getvalue()
