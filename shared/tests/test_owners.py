"""Temporary files carry their owner; clean-up removes only what provably nobody is writing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from azaion_shared.atomic import clean_temp_files, is_abandoned, temp_owner, temp_path_for
from azaion_shared.owners import Owner, current_owner, machine_id, process_start

WRITER = """
import sys, time
from pathlib import Path
from azaion_shared.atomic import temp_path_for
tmp = temp_path_for(Path(sys.argv[1]))
tmp.write_bytes(b"half")
print(tmp, flush=True)
if sys.argv[2] == "wait":
    sys.stdin.readline()
"""


def start_writer(target, wait: bool) -> tuple[subprocess.Popen, object]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), "wait" if wait else "exit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    path = proc.stdout.readline().strip()
    from pathlib import Path

    return proc, Path(path)


def test_tag_round_trip_and_fits_beside_a_long_name(tmp_path):
    owner = current_owner()
    assert owner.pid == os.getpid() and owner.start == process_start(os.getpid()) and owner.machine == machine_id()
    assert Owner.parse(owner.tag) == owner
    tmp = temp_path_for(tmp_path / ("n" * 200 + ".jpg"))
    assert temp_owner(tmp) == owner
    assert len(tmp.name) <= 255
    tmp.write_bytes(b"")  # the filesystem accepts it
    assert Owner.parse("not-a-tag") is None and Owner.parse("zzzzzzzz-1-2") is None


def test_live_writer_kept_then_removed_once_it_exits(tmp_path):
    proc, tmp = start_writer(tmp_path / "a.jpg", wait=True)
    try:
        assert temp_owner(tmp).pid == proc.pid
        cleaned = clean_temp_files(tmp_path)
        assert (cleaned.removed, cleaned.kept) == (0, 1) and tmp.exists()
    finally:
        proc.communicate("\n", timeout=20)
    cleaned = clean_temp_files(tmp_path)
    assert (cleaned.removed, cleaned.kept) == (1, 0) and not tmp.exists()


def test_dead_writer_removed_at_once(tmp_path):
    proc, tmp = start_writer(tmp_path / "b.jpg", wait=False)
    proc.wait(20)
    assert is_abandoned(tmp)
    assert clean_temp_files(tmp_path).removed == 1


def test_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    """A SIGKILLed writer whose parent has not waited for it is a zombie: same pid, same start time, and
    it writes nothing more (CI's container never reaps orphaned pool workers)."""
    import signal

    proc, tmp = start_writer(tmp_path / "z.jpg", wait=True)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the writer did not become a zombie"
            time.sleep(0.01)
        assert is_abandoned(tmp)  # not reaped yet: still the zombie
        assert clean_temp_files(tmp_path).removed == 1
    finally:
        proc.wait(10)


def test_reused_pid_counts_as_gone(tmp_path):
    me = current_owner()
    assert not me.is_gone()
    assert Owner(me.machine, me.pid, me.start + 1).is_gone()  # same pid, a later process


def test_other_machine_kept_until_older_than_the_bound(tmp_path):
    foreign = Owner("0badf00d" if machine_id() != "0badf00d" else "0badf00e", os.getpid(), 1)
    tmp = tmp_path / f".c.jpg.{foreign.tag}.abcdef.azaion-tmp"
    tmp.write_bytes(b"")
    assert not foreign.is_gone()  # another host or container: its pids are not ours to judge
    assert clean_temp_files(tmp_path, max_age=60).kept == 1
    old = time.time() - 120
    os.utime(tmp, (old, old))
    assert clean_temp_files(tmp_path, max_age=60).removed == 1


def test_abandoned_temporary_folder_removed_whole(tmp_path):
    proc, tmp = start_writer(tmp_path / "run-1", wait=False)
    proc.wait(20)
    tmp.unlink()
    tmp.mkdir()
    (tmp / "train").mkdir()
    (tmp / "train" / "x.jpg").write_bytes(b"")
    (tmp / "train" / f".y.jpg.{current_owner().tag}.aaaaaa.azaion-tmp").write_bytes(b"")
    assert clean_temp_files(tmp_path).removed == 1
    assert list(tmp_path.iterdir()) == []
