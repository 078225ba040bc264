import os
import time

import pytest

from azaion_shared import atomic
from azaion_shared.atomic import (
    TEMP_SUFFIX,
    atomic_move,
    atomic_write_bytes,
    atomic_write_text,
    clean_temp_files,
    move_pair,
)
from azaion_shared.errors import AtomicWriteError


def test_write_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_bytes(target, [b"tw", b"o"])
    assert target.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def chunks():
        yield b"partial"
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(target, chunks())
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_fsync_calls(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    atomic_write_text(tmp_path / "a", "x")
    assert len(synced) == 2  # the file, then its folder


def test_write_into_missing_folder_is_our_error(tmp_path):
    with pytest.raises(AtomicWriteError, match="cannot write"):
        atomic_write_text(tmp_path / "missing" / "a.txt", "x")


def test_move_pair_is_idempotent(tmp_path):
    src_i, src_l = tmp_path / "s/images/a.jpg", tmp_path / "s/labels/a.txt"
    dst_i, dst_l = tmp_path / "d/images/a.jpg", tmp_path / "d/labels/a.txt"
    for p, data in ((src_i, b"img"), (src_l, b"lbl")):
        p.parent.mkdir(parents=True)
        p.write_bytes(data)
    assert move_pair(src_i, src_l, dst_i, dst_l) is True
    assert dst_i.read_bytes() == b"img" and dst_l.read_bytes() == b"lbl"
    assert not src_i.exists() and not src_l.exists()
    assert move_pair(src_i, src_l, dst_i, dst_l) is False  # replay: nothing to do, nothing lost
    assert dst_i.read_bytes() == b"img"


def test_move_pair_finishes_half_done_move(tmp_path):
    src_i, src_l = tmp_path / "s/images/a.jpg", tmp_path / "s/labels/a.txt"
    dst_i, dst_l = tmp_path / "d/images/a.jpg", tmp_path / "d/labels/a.txt"
    src_l.parent.mkdir(parents=True)
    src_l.write_bytes(b"lbl")
    dst_i.parent.mkdir(parents=True)
    dst_i.write_bytes(b"img")  # a crash happened after the image moved
    assert move_pair(src_i, src_l, dst_i, dst_l) is True
    assert dst_l.read_bytes() == b"lbl" and dst_i.read_bytes() == b"img"


def test_move_across_filesystems(tmp_path, monkeypatch):
    import errno

    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"data")
    real_replace = os.replace
    calls = []

    def replace(a, b):
        calls.append((a, b))
        if len(calls) == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(a, b)

    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic_move(src, dst)
    assert dst.read_bytes() == b"data" and not src.exists()


def test_clean_temp_files_removes_own_and_untagged_stale_ones(tmp_path):
    (tmp_path / "sub").mkdir()
    ours = atomic.temp_path_for(tmp_path / "a.jpg")
    ours.write_bytes(b"")
    untagged = tmp_path / "sub" / f".b.txt.99{TEMP_SUFFIX}"  # the naming of earlier versions: no owner
    untagged.write_bytes(b"")
    (tmp_path / "keep.jpg").write_bytes(b"")
    cleaned = clean_temp_files(tmp_path)
    assert (cleaned.removed, cleaned.kept) == (1, 1)  # an untagged file is kept until it is old
    old = time.time() - 7200
    os.utime(untagged, (old, old))
    assert clean_temp_files(tmp_path).removed == 1
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["keep.jpg"]
    assert clean_temp_files(tmp_path / "missing").removed == 0
