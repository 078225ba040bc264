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
from scripts import load

#: a model key that is well formed (base64 of 32 zero bytes): for rows about something else
ZERO_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
REPO = Path(__file__).resolve().parent.parent

#: (id, argv after `python -m`, extra environment, words the error line holds); {tmp} is the test's folder,
#: {repo} the repository
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
    # every service, subcommand and kind of setting (the rows below were tried by hand first)
    (
        "api-users-add-unknown-role",
        ["api", "users", "add", "a@b.c", "--role", "Boss", "--password-stdin"],
        {},
        ["unknown role 'Boss'", "Validator"],
    ),
    (
        "api-users-add-not-an-email",
        ["api", "users", "add", "nobody", "--role", "Admin", "--password-stdin"],
        {},
        ["invalid email", "'nobody'"],
    ),
    ("api-users-remove-unknown", ["api", "users", "remove", "nobody@x.io"], {}, ["no user nobody@x.io"]),
    ("api-users-role-unknown-user", ["api", "users", "role", "nobody@x.io", "Admin"], {}, ["no user nobody@x.io"]),
    ("api-users-role-unknown-role", ["api", "users", "role", "nobody@x.io", "Boss"], {}, ["unknown role 'Boss'"]),
    (
        "api-users-passwd-unknown-user-before-asking",
        ["api", "users", "passwd", "nobody@x.io", "--password-stdin"],
        {},
        ["no user nobody@x.io"],
    ),
    (
        "api-devices-forget-unknown",
        ["api", "devices", "forget", "jetson-404"],
        {},
        ["no device 'jetson-404'", "devices list"],
    ),
    (
        "api-trust-root-missing-file",
        ["api", "trust", "root", "{tmp}/nope.json"],
        {},
        ["no such file or directory", "nope.json"],
    ),
    ("api-trust-root-not-json", ["api", "trust", "root", "{tmp}/a-file"], {}, ["not TUF metadata"]),
    (
        "api-weak-jwt-secret",
        ["api", "serve"],
        {"AZAION_API__JWT_SECRET": "abcabcabcabcabcabcabcabcabcabcabcabc"},
        ["AZAION_API__JWT_SECRET", "too weak", "secrets.token_urlsafe"],
    ),
    (
        "api-placeholder-jwt-secret",
        ["api", "serve"],
        {"AZAION_API__JWT_SECRET": "changethis", "AZAION_ENV": "production"},
        ["AZAION_API__JWT_SECRET", "placeholder"],
    ),
    (
        "api-missing-certificate",
        ["api", "serve"],
        {
            "AZAION_API__JWT_SECRET": TEST_JWT_SECRET,
            "AZAION_API__TLS_CERT": "{tmp}/nope.pem",
            "AZAION_API__TLS_KEY": "{tmp}/nope.key",
        },
        ["AZAION_API__TLS_CERT=", "nope.pem", "azaion_shared tls"],
    ),
    (
        "api-token-minutes-zero",
        ["api", "users", "list"],
        {"AZAION_API__TOKEN_MINUTES": "0"},
        ["AZAION_API__TOKEN_MINUTES", "greater than or equal to 1"],
    ),
    (
        "api-port-setting-not-a-number",
        ["api", "users", "list"],
        {"AZAION_API__PORT": "http"},
        ["AZAION_API__PORT", "valid integer"],
    ),
    (
        "unknown-log-level",
        ["api", "users", "list"],
        {"AZAION_LOG_LEVEL": "LOUD"},
        ["AZAION_LOG_LEVEL", "'LOUD'", "DEBUG, INFO, WARNING, ERROR"],
    ),
    (
        "unknown-environment",
        ["api", "users", "list"],
        {"AZAION_ENV": "staging"},
        ["AZAION_ENV", "'development', 'test' or 'production'"],
    ),
    (
        "ingestor-placeholder-broker-password",
        ["ingestor", "run"],
        {"AZAION_RABBIT__PASSWORD": "guest", "AZAION_ENV": "production"},
        ["AZAION_RABBIT__PASSWORD", "placeholder"],
    ),
    (
        "ingestor-stream-port-too-big",
        ["ingestor", "run"],
        {"AZAION_RABBIT__STREAM_PORT": "70000", "AZAION_ENV": "development"},
        ["AZAION_RABBIT__STREAM_PORT", "65535"],
    ),
    (
        "ingestor-image-check-unknown",
        ["ingestor", "run"],
        {"AZAION_INGESTOR__IMAGE_CHECK": "pixels", "AZAION_ENV": "development"},
        ["AZAION_INGESTOR__IMAGE_CHECK", "'full' or 'header'"],
    ),
    (
        "ingestor-publish-missing-image",
        ["ingestor", "publish", "created", "{tmp}/nope.jpg", "--role", "Validator"],
        {"AZAION_ENV": "development"},
        ["nope.jpg", "no such image or folder"],
    ),
    (
        "ingestor-publish-folder-without-images",
        ["ingestor", "publish", "created", "{tmp}", "--role", "Validator"],
        {"AZAION_ENV": "development"},
        ["a folder with no .jpg image"],
    ),
    (
        "ingestor-publish-labels-dir-missing",
        ["ingestor", "publish", "created", "{tmp}", "--labels-dir", "{tmp}/nope"],
        {"AZAION_ENV": "development"},
        ["--labels-dir", "nope", "not a folder"],
    ),
    ("ingestor-publish-validated-no-names", ["ingestor", "publish", "validated"], {}, ["required: names"]),
    (
        "ingestor-publish-bad-name",
        ["ingestor", "publish", "deleted", "../etc/passwd"],
        {},
        ["'../etc/passwd'", "no annotation name"],
    ),
    (
        "augmentor-contact-sheet-missing-image",
        ["augmentor", "contact-sheet", "{tmp}/nope.jpg", "--out", "{tmp}/s.png"],
        {"AZAION_ENV": "development"},
        ["nope.jpg", "does not decode"],
    ),
    (
        "augmentor-workers-zero",
        ["augmentor", "process"],
        {"AZAION_AUGMENTOR__WORKERS": "0", "AZAION_ENV": "development"},
        ["AZAION_AUGMENTOR__WORKERS", "greater than or equal to 1"],
    ),
    (
        "augmentor-process-bad-name",
        ["augmentor", "process", "../etc"],
        {"AZAION_ENV": "development"},
        ["'../etc'", "no annotation"],
    ),
    (
        "trainer-export-unknown-format",
        ["trainer", "export", "--run", "r", "--format", "onnx2"],
        {},
        ["--format", "'onnx2'", "'rknn'"],
    ),
    (
        "trainer-export-size-not-multiple-of-32",
        ["trainer", "export", "--run", "r", "--format", "onnx", "--imgsz", "100"],
        {},
        ["multiple of 32", "100"],
    ),
    (
        "trainer-export-unknown-chip",
        ["trainer", "export", "--run", "r", "--format", "rknn", "--target", "rk9999"],
        {},
        ["'rk9999'", "rk3588"],
    ),
    (
        "trainer-export-fp16-onnx",
        ["trainer", "export", "--run", "r", "--format", "onnx", "--precision", "fp16"],
        {},
        ["'fp16'", "fp32"],
    ),
    (
        "trainer-export-without-a-model",
        ["trainer", "export", "--run", "nope", "--format", "onnx"],
        {},
        ["nothing to export", "azaion.pt"],
    ),
    (
        "trainer-gate-without-a-dataset",
        ["trainer", "gate", "--run", "nope"],
        {},
        ["run 'nope' has no dataset", "trainer dataset --run nope"],
    ),
    (
        "trainer-dataset-without-augmented-data",
        ["trainer", "dataset", "--run", "r"],
        {},
        ["no complete annotations", "augmentor"],
    ),
    ("trainer-bad-run-name", ["trainer", "dataset", "--run", "../x"], {}, ["--run", "'../x'", "no run name"]),
    (
        "trainer-visualise-missing-folder",
        ["trainer", "visualise", "{tmp}/nope", "--out", "{tmp}/g.png"],
        {},
        ["nope", "is not a folder"],
    ),
    (
        "trainer-synth-flyover-zero-frames",
        ["trainer", "synth", "flyover", "--out", "{tmp}/f.mp4", "--frames", "0"],
        {},
        ["--frames", "'0'", "at least 1"],
    ),
    ("trainer-set-without-equals", ["trainer", "run", "--set", "lr0"], {}, ["--set", "'lr0'", "NAME=VALUE"]),
    ("trainer-release-promote-not-a-number", ["trainer", "release", "promote", "abc"], {}, ["version", "'abc'"]),
    (
        "trainer-convert-size-not-multiple-of-32",
        ["trainer", "convert", "{repo}/models/starter/yolo11n-synth.pt", "--out", "{tmp}/m.onnx", "--imgsz", "100"],
        {},
        ["--imgsz", "100", "multiple of 32"],
    ),
    (
        "trainer-epochs-negative",
        ["trainer", "dataset", "--run", "r"],
        {"AZAION_TRAINER__EPOCHS": "-1"},
        ["AZAION_TRAINER__EPOCHS", "greater than or equal to 1"],
    ),
    (
        "trainer-overrides-not-json",
        ["trainer", "dataset", "--run", "r"],
        {"AZAION_TRAINER__OVERRIDES": "lr0=0.1"},
        ["AZAION_TRAINER__OVERRIDES", "not JSON", "map"],
    ),
    (
        "trainer-export-formats-unknown",
        ["trainer", "dataset", "--run", "r"],
        {"AZAION_TRAINER__EXPORT_FORMATS": "onnx,tflite"},
        ["AZAION_TRAINER__EXPORT_FORMATS", "'tflite'", "onnx, tensorrt, rknn"],
    ),
    (
        "trainer-profile-unknown",
        ["trainer", "dataset", "--run", "r"],
        {"AZAION_TRAINER__PROFILE": "huge"},
        ["AZAION_TRAINER__PROFILE", "'production' or 'tiny'", "(got 'huge')"],
    ),
    (
        "trainer-model-key-not-base64",
        ["trainer", "release", "list"],
        {"AZAION_MODEL_KEY": "not-a-key"},
        ["AZAION_MODEL_KEY", "not valid base64", "keygen"],
    ),
    (
        "inference-model-not-a-model",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--model", "{tmp}/a-file"],
        {"AZAION_ENV": "development"},
        ["a-file", "not a model file"],
    ),
    (
        "inference-model-missing",
        ["inference", "run", "--model", "{tmp}/nope.onnx", "--source", "x.mp4", "--json", "o.jsonl"],
        {"AZAION_ENV": "development"},
        ["no such model file", "nope.onnx"],
    ),
    (
        "inference-source-missing",
        ["inference", "run", "--source", "{tmp}/nope.mp4", "--json", "o.jsonl"],
        {"AZAION_ENV": "development"},
        ["no such file, folder or camera", "nope.mp4"],
    ),
    (
        "inference-conf-above-1",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--conf", "1.5"],
        {"AZAION_ENV": "development"},
        ["--conf 1.5", "less than 1"],
    ),
    (
        "inference-every-zero",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--every", "0"],
        {},
        ["--every", "'0'", "at least 1"],
    ),
    (
        "inference-tile-overlap-too-big",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--tile-overlap", "0.95"],
        {"AZAION_ENV": "development"},
        ["--tile-overlap 0.95", "less than 0.9"],
    ),
    (
        "inference-backend-unknown",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl", "--backend", "cuda"],
        {},
        ["--backend", "'cuda'", "'onnxruntime'"],
    ),
    (
        "inference-zones-not-json",
        ["inference", "run", "--source", "x.mp4", "--json", "o.jsonl"],
        {"AZAION_INFERENCE__ZONES": "gate", "AZAION_ENV": "development"},
        ["AZAION_INFERENCE__ZONES", "not JSON"],
    ),
    (
        "inference-no-output",
        ["inference", "run", "--source", "x.mp4"],
        {"AZAION_ENV": "development"},
        ["choose at least one output", "--json"],
    ),
    (
        "console-refresh-zero",
        ["console"],
        {"AZAION_CONSOLE__REFRESH_SECONDS": "0"},
        ["AZAION_CONSOLE__REFRESH_SECONDS", "greater than 0"],
    ),
    (
        "console-api-url-not-http",
        ["console"],
        {"AZAION_CONSOLE__API_URL": "ftp://api:8000"},
        ["AZAION_CONSOLE__API_URL", "http:// or https://"],
    ),
    (
        "console-plain-http-to-another-host",
        ["console", "--port", "18997"],
        {"AZAION_CONSOLE__API_URL": "http://10.0.0.1:8000"},
        ["AZAION_CONSOLE__API_URL", "plain HTTP to another host"],
    ),
    (
        "shared-keygen-into-missing-folder",
        ["azaion_shared", "keygen", "--out", "{tmp}/nope/dir/model.key"],
        {},
        ["no such file or directory", "model.key"],
    ),
    (
        "shared-encrypt-missing-file",
        ["azaion_shared", "encrypt", "{tmp}/nope.bin", "{tmp}/out.bin"],
        {"AZAION_MODEL_KEY": ZERO_KEY},
        ["no such file or directory", "nope.bin"],
    ),
    (
        "shared-encrypt-without-key",
        ["azaion_shared", "encrypt", "{tmp}/a-file", "{tmp}/out.bin"],
        {},
        ["no model key", "AZAION_MODEL_KEY"],
    ),
    (
        "shared-decrypt-not-encrypted",
        ["azaion_shared", "decrypt", "{tmp}/a-file", "{tmp}/out.bin"],
        {"AZAION_MODEL_KEY": ZERO_KEY},
        ["too short"],
    ),
    (
        "shared-root-verify-missing",
        ["azaion_shared", "root", "verify", "{tmp}/nope.json"],
        {},
        ["no such file or directory", "nope.json"],
    ),
    (
        "shared-root-new-without-keys",
        ["azaion_shared", "root", "new", "--out", "{tmp}/root.json"],
        {},
        ["required", "--root-key"],
    ),
    (
        "shared-tls-server-without-hosts",
        ["azaion_shared", "tls", "--out", "{tmp}/certs", "--server", "api"],
        {},
        ["--server 'api'", "NAME=HOST"],
    ),
    (
        "shared-tls-zero-days",
        ["azaion_shared", "tls", "--out", "{tmp}/certs", "--days", "0"],
        {},
        ["--days", "'0'", "at least 1"],
    ),
    (
        "shared-join-missing-part",
        ["azaion_shared", "join", "{tmp}/nope.small", "{tmp}/nope.big", "{tmp}/out"],
        {},
        ["no such file or directory", "nope.small"],
    ),
]


@pytest.mark.parametrize(("argv", "env", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wrong_input_gets_one_clear_line_and_exit_2(tmp_path: Path, argv, env, words):
    import socket

    busy = socket.socket()  # a port another process listens on
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    fill = {"tmp": tmp_path, "busy": busy.getsockname()[1], "repo": REPO}
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


@pytest.mark.parametrize("module", load("docs_reference").PROGRAMS)
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


def test_every_option_with_a_default_says_it_in_its_help():
    """`--help` shows every default a person would otherwise have to guess (flags and lists aside)."""
    import argparse

    reference = load("docs_reference")
    silent = []
    for top in reference.parsers().values():
        for parser in [top, *reference.subcommands(top)]:
            for action in parser._actions:
                if not action.option_strings or action.nargs == 0 or action.default in (None, [], argparse.SUPPRESS):
                    continue
                if "default" not in (action.help or "").lower():
                    silent.append(f"{parser.prog} {action.option_strings[0]} (default {action.default!r})")
    assert not silent, "\n".join(silent)
