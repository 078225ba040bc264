"""Every command line reads ./.env as docker compose does (the environment wins), and nothing a
hand-run command does lands outside the data root (issue 30)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PASSWORD = "correct-horse-battery-staple-9"


def run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def clean_environment(home: Path) -> dict[str, str]:
    """No AZAION_ variable at all, and a HOME of the test's own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AZAION_")} | {"HOME": str(home)}


def everything_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_a_cli_reads_dotenv_from_its_working_directory_and_the_environment_wins(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    root = tmp_path / "root-from-dotenv"
    (work / ".env").write_text(f"AZAION_ROOT={root}\nAZAION_ENV=test\nAZAION_LOG_LEVEL=DEBUG\n")
    env = clean_environment(home)
    add = ["api", "users", "add", "pilot@x.io", "--role", "Admin", "--password-stdin"]
    done = run(add, work, env, PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert (root / "api" / "users.sqlite3").is_file()
    assert f"settings from the environment and {work / '.env'}" in done.stderr  # said at DEBUG
    assert f"created the data root {root}" in done.stderr  # named by AZAION_ROOT in .env: made, and said

    listed = run(["api", "users", "list"], work, env)
    assert listed.returncode == 0 and "pilot@x.io" in listed.stdout, listed.stderr
    other = tmp_path / "root-from-the-environment"
    other.mkdir()
    elsewhere = run(["api", "users", "list"], work, env | {"AZAION_ROOT": str(other)})
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert "pilot@x.io" not in elsewhere.stdout and (other / "api" / "users.sqlite3").is_file()


def test_nothing_is_created_outside_the_data_root(tmp_path):
    home, work, root = tmp_path / "home", tmp_path / "work", tmp_path / "root"
    for folder in (home, work, root):
        folder.mkdir()
    env = clean_environment(home) | {"AZAION_ENV": "development", "AZAION_ROOT": str(root)}
    before = everything_under(tmp_path)
    commands = [
        (["api", "users", "add", "ops@x.io", "--role", "Operator", "--password-stdin"], PASSWORD + "\n"),
        (["api", "users", "list"], None),
        (["api", "devices", "list"], None),
        (["augmentor", "process"], None),
    ]
    for argv, stdin in commands:
        done = run(argv, work, env, stdin)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    made = everything_under(tmp_path) - before
    assert made and all(path.is_relative_to(root) for path in made), sorted(map(str, made))

    # with no data root named and the default one missing, a hand-run command refuses and makes nothing
    default_existed = Path("/azaion").exists()
    unset = {k: v for k, v in env.items() if k != "AZAION_ROOT"}
    before = everything_under(tmp_path)
    refused = run(["api", "users", "list"], work, unset)
    assert refused.returncode == 2 and "AZAION_ROOT is not set" in refused.stderr, refused.stderr
    assert everything_under(tmp_path) == before
    assert Path("/azaion").exists() == default_existed


def test_azaion_env_file_names_another_file_or_none(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    (work / ".env").write_text(f"AZAION_ROOT={tmp_path / 'from-dotenv'}\nAZAION_ENV=development\n")
    site = tmp_path / "site.env"
    site.write_text(f"AZAION_ROOT={tmp_path / 'from-site-env'}\nAZAION_ENV=development\n")
    add = ["api", "users", "add", "a@x.io", "--role", "Admin", "--password-stdin"]
    done = run(add, work, clean_environment(home) | {"AZAION_ENV_FILE": str(site)}, PASSWORD + "\n")
    assert done.returncode == 0 and (tmp_path / "from-site-env" / "api" / "users.sqlite3").is_file(), done.stderr
    none = run(["api", "users", "list"], work, clean_environment(home) | {"AZAION_ENV_FILE": ""})
    assert none.returncode == 2 and "AZAION_ROOT is not set" in none.stderr  # no file read: the default root
    assert not (tmp_path / "from-dotenv").exists()
