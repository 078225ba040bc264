import subprocess
import sys

import pytest

from api.__main__ import main
from api.settings import ApiSettings
from azaion_shared.errors import ConfigError
from azaion_shared.settings import load_settings


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "test")
    monkeypatch.setenv("AZAION_ROOT", str(tmp_path))
    return tmp_path


def test_users_add_list_remove(env, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-password\n"))
    assert main(["users", "add", "Dev@X.io", "--role", "device", "--password-stdin"]) == 0
    assert main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "added dev@x.io (Device)" in out and "dev@x.io\tDevice" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    assert main(["users", "add", "dev@x.io", "--role", "Admin", "--password-stdin"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "remove", "dev@x.io"]) == 0
    assert main(["users", "remove", "dev@x.io"]) == 2
    assert (env / "api" / "users.sqlite3").exists()


def test_unknown_role_and_short_password(env, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert main(["users", "add", "a@b.c", "--role", "Pilot", "--password-stdin"]) == 2
    assert "unknown role 'Pilot'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "a@b.c", "--role", "Admin", "--password-stdin"]) == 2
    assert "too short" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("changethis", "placeholder"),
        ("too-short", "at least 32"),
        (None, "is not set"),
        ("a" * 48, "too weak"),
        ("ab" * 24, "too weak"),
    ],
)
def test_serve_refuses_bad_jwt_secret(env, monkeypatch, secret, message):
    if secret is None:
        monkeypatch.delenv("AZAION_API__JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("AZAION_API__JWT_SECRET", secret)
    with pytest.raises(ConfigError, match=message):
        load_settings(ApiSettings).jwt_secret()


def test_help_runs():
    out = subprocess.run([sys.executable, "-m", "api", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "users" in out.stdout and "serve" in out.stdout
