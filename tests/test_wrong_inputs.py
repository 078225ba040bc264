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
    (
        "api-serve-on-a-port-in-use",
        ["api", "serve", "--host", "127.0.0.1", "--port", "{busy}"],
        {"AZAION_API__JWT_SECRET": TEST_JWT_SECRET},
        ["127.0.0.1:{busy}", "another process has the port", "--port"],
    ),
    (
        "console-on-a-port-in-use",
        ["console", "--port", "{busy}"],
        {"AZAION_CONSOLE__HOST": "127.0.0.1"},
        ["127.0.0.1:{busy}", "another process has the port", "AZAION_CONSOLE__PORT"],
    ),
    # no data root: a hand-run command does not make /azaion (None: the variable is not set at all)
    (
        "api-users-list-without-a-data-root",
        ["api", "users", "list"],
        {"AZAION_ROOT": None},
        ["no data root", "AZAION_ROOT is not set", "/azaion does not exist"],
    ),
    (
        "augmentor-process-without-a-data-root",
        ["augmentor", "process"],
        {"AZAION_ROOT": None, "AZAION_ENV": "development"},
        ["no data root", "AZAION_ROOT"],
    ),
    (
        "data-root-that-is-a-file",
        ["api", "users", "list"],
        {"AZAION_ROOT": "{tmp}/a-file"},
        ["AZAION_ROOT=", "a-file", "is not a folder"],
    ),
    (
        "trainer-convert-no-such-weights",
        ["trainer", "convert", "{tmp}/missing.pt", "--out", "{tmp}/m.onnx"],
        {},
        ["missing.pt", "no such .pt file"],
    ),
    (
        "trainer-convert-out-not-onnx",
        ["trainer", "convert", "{tmp}/missing.pt", "--out", "{tmp}/m.bin"],
        {},
        ["--out", "m.bin", ".onnx"],
    ),
    # settings that take a list or a map, typed as people type them into .env
    (
        "api-trusted-proxies-broken-json",
        ["api", "users", "list"],
        {"AZAION_API__TRUSTED_PROXIES": '["10.0.0.1"'},
        ["AZAION_API__TRUSTED_PROXIES", "not a JSON list", "write it plainly: a,b"],
    ),
    (
        "trainer-export-formats-broken-json",
        ["trainer", "release", "list"],
        {"AZAION_TRAINER__EXPORT_FORMATS": "[onnx, rknn]"},
        ["AZAION_TRAINER__EXPORT_FORMATS", "not a JSON list", "a,b"],
    ),
    (
        "inference-lines-not-json",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl"],
        {"AZAION_ENV": "development", "AZAION_INFERENCE__LINES": "garbage"},
        ["AZAION_INFERENCE__LINES", "not JSON"],
    ),
    (
        "console-metrics-neither-json-nor-pairs",
        ["console"],
        {"AZAION_CONSOLE__METRICS": "http://ingestor:9100/metrics"},
        ["AZAION_CONSOLE__METRICS", "neither JSON nor NAME=VALUE pairs"],
    ),
    # silent success on nonsense
    ("synth-flyover-without-mp4", ["trainer", "synth", "flyover", "--out", "flyover"], {}, ["--out", ".mp4"]),
    ("synth-flyover-into-a-folder", ["trainer", "synth", "flyover", "--out", "{tmp}"], {}, ["--out", ".mp4"]),
    (
        "synth-dataset-negative-count",
        ["trainer", "synth", "dataset", "--out", "d", "--count", "-3"],
        {},
        ["--count", "'-3'", "at least 1"],
    ),
    (
        "augmentor-process-unknown-name",
        ["augmentor", "process", "nope"],
        {"AZAION_ENV": "development"},
        ["'nope'", "no annotation"],
    ),
    (
        "inference-max-frames-zero",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--max-frames", "0"],
        {},
        ["--max-frames", "'0'", "at least 1"],
    ),
    (
        "ingestor-publish-unknown-role",
        ["ingestor", "publish", "created", "x.jpg", "--role", "Boss"],
        {},
        ["--role", "'Boss'", "no role", "Validator"],
    ),
    (
        "inference-tiles-a-bare-number",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--tiles", "3"],
        {"AZAION_ENV": "development"},
        ["--tiles", "'3'", "ROWSxCOLUMNS such as 2x3"],
    ),
]


@pytest.mark.parametrize(("argv", "env", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_input_gets_one_clear_line_and_exit_2(tmp_path: Path, argv, env, words):
    import socket

    busy = socket.socket()  # a port another process listens on
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    fill = {"tmp": tmp_path, "busy": busy.getsockname()[1]}
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AZAION_") or k == "AZAION_ENV_FILE"}
    environment |= {"AZAION_ENV": "test", "AZAION_ROOT": str(tmp_path / "root")}
    environment |= {k: v.format(**fill) for k, v in env.items() if v is not None}
    environment = {k: v for k, v in environment.items() if env.get(k, "") is not None}
    (tmp_path / "a-file").write_text("not a folder")
    words = [w.format(**fill) if "{" in w and "}" in w and not w.startswith("[") else w for w in words]
    done = subprocess.run(
        [sys.executable, "-m", *(a.format(**fill) for a in argv)],
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
    busy.close()
    assert all(word in errors[0] for word in words), errors[0]


@pytest.mark.parametrize("module", ["api", "ingestor", "augmentor", "trainer", "inference", "console", "azaion_shared"])
def test_every_command_line_says_its_version(module):
    done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("azaion-") and "0.1.0" in done.stdout, done.stderr


def test_command_lines_agree_on_their_flags():
    """--tiny after the subcommand as before it; --output wherever --out is taken (inference's spelling)."""
    from augmentor.__main__ import build_parser as augmentor
    from trainer.__main__ import build_parser as trainer

    assert trainer().parse_args(["run", "--tiny"]).tiny is True
    assert trainer().parse_args(["--tiny", "run"]).tiny is True
    assert trainer().parse_args(["run"]).tiny is False
    assert str(trainer().parse_args(["synth", "flyover", "--output", "f.mp4"]).out) == "f.mp4"
    assert str(trainer().parse_args(["visualise", "data", "--output", "g.png"]).out) == "g.png"
    assert str(augmentor().parse_args(["contact-sheet", "x.jpg", "--output", "s.png"]).out) == "s.png"
    assert "(required)" in trainer()._subparsers._group_actions[0].choices["dataset"].format_help()
