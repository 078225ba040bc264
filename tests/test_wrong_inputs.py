"""Wrong input at a door a person opens: one line that names the culprit, exit 2, no traceback.

Table-driven: each row is a command line (with its environment) and the words its one error line
must hold. Add a row whenever a new flag or setting appears.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEST_JWT_SECRET

#: (id, argv after `python -m`, extra environment, words the error line holds); {tmp} is the test's folder
CASES = [
    ("api-port-too-big", ["api", "serve", "--port", "99999"], {}, ["--port", "99999", "1 to 65535"]),
    ("api-port-not-a-number", ["api", "serve", "--port", "http"], {}, ["--port", "'http'", "1 to 65535"]),
    ("console-port-zero", ["console", "--port", "0"], {}, ["--port", "'0'", "1 to 65535"]),
    (
        "inference-live-port-too-big",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--live", "70000"],
        {},
        ["--live", "70000", "1 to 65535"],
    ),
    (
        "api-users-add-without-a-terminal",
        ["api", "users", "add", "a@b.c", "--role", "Admin"],
        {},
        ["no terminal", "--password-stdin"],
    ),
    (
        "api-serve-on-a-database-it-cannot-use",
        ["api", "serve", "--port", "18999"],
        {"AZAION_API__DB_PATH": "{tmp}", "AZAION_API__JWT_SECRET": TEST_JWT_SECRET},
        ["database", "cannot be used", "AZAION_API__DB_PATH"],
    ),
]


@pytest.mark.parametrize(("argv", "env", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_input_gets_one_clear_line_and_exit_2(tmp_path: Path, argv, env, words):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_")}
    environment |= {"AZAION_ENV": "test", "AZAION_ROOT": str(tmp_path / "root")}
    environment |= {k: v.format(tmp=tmp_path) for k, v in env.items()}
    done = subprocess.run(
        [sys.executable, "-m", *argv],
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,  # as from a script or `docker compose exec -T`
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    assert all(word in errors[0] for word in words), errors[0]
