"""Write the generated reference pages of the documentation from the code itself:

- docs/reference/configuration.md  every setting: variable, type, default, meaning (the settings classes)
- docs/reference/cli.md            every command line and subcommand: its --help (the argparse parsers)
- docs/reference/http-api.md       every route and JSON body of the api (its OpenAPI schema)

python scripts/docs_reference.py          write them
python scripts/docs_reference.py --check  exit 1 when a page is out of date (tests/test_docs.py runs this)
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import sys
import tempfile
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "docs" / "reference"
#: the command lines, in the order a reader meets them; each module has ``build_parser()``
PROGRAMS = ["api", "ingestor", "augmentor", "trainer", "inference", "console", "azaion_shared"]
HELP_COLUMNS = "100"


def services():
    from console.settings import ConsoleSettings

    from api.settings import ApiSettings
    from augmentor.settings import AugmentorSettings
    from inference.settings import InferenceSettings
    from ingestor.settings import IngestorSettings
    from trainer.settings import TrainerSettings

    return [
        ("api", ApiSettings),
        ("ingestor", IngestorSettings),
        ("augmentor", AugmentorSettings),
        ("trainer", TrainerSettings),
        ("inference", InferenceSettings),
        ("console", ConsoleSettings),
    ]


def type_name(annotation) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = str(annotation) if typing.get_args(annotation) else text
    for noise in ("typing.", "pathlib.", "pydantic.types."):
        text = text.replace(noise, "")
    return text.replace("NoneType", "None").replace("|", "or")


def default_of(field) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, SecretStr):
        return "(secret)" if value.get_secret_value() else "(empty)"
    return "(empty)" if value in (None, "") else f"`{value}`"


def rows(model: type[BaseModel], prefix: str = "AZAION_"):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{prefix}{name.upper()}__")
        else:
            description = (field.description or "").replace("|", "\\|")
            yield f"| `{prefix}{name.upper()}` | {type_name(annotation)} | {default_of(field)} | {description} |"


def configuration() -> str:
    lines = [
        "# Settings",
        "",
        "Generated from the settings classes by `python scripts/docs_reference.py` (a test keeps it current).",
        "",
        "Every setting is an environment variable with the `AZAION_` prefix; nested settings use `__`",
        "(`AZAION_RABBIT__HOST`). Every command line reads them from the environment and from `.env` in its",
        "working directory, as docker compose does: a variable set in the environment wins over the file",
        "(`AZAION_LOG_LEVEL=DEBUG` logs which file was read), and `AZAION_ENV_FILE` names another file, or",
        "none when set empty. An empty value means the default. `.env.example` (and `.env.edge.example` for",
        "a device) has the same variables with comments; a test checks that it names every one.",
        "",
        "Secrets are never in code. `AZAION_ENV` is `production` unless set, and outside `development` a",
        "secret left at a placeholder (`changethis`, `guest`, an empty value, ...) is refused at start with",
        'the variable\'s name. A list or a map is written as JSON (`["onnx", "rknn"]`); a list of plain',
        "words may also be written comma-separated (`onnx,rknn`), and a value that is neither is refused",
        "with the variable's name and the JSON to write.",
        "",
        "**The data root** (`AZAION_ROOT`, default `/azaion`): a service that owns it (`api serve`,",
        "`ingestor run`, `augmentor run`, a device's `inference run`) creates it when it is missing, with one",
        "INFO line; a hand-run command (`api users ...`, `trainer ...`, `augmentor process`, the console)",
        "creates a missing one only when `AZAION_ROOT` names it, and refuses the default `/azaion` when it is",
        "missing and nothing named it. Nothing is written outside the data root.",
        "",
    ]
    from azaion_shared.settings import AzaionSettings

    header = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    common = list(rows(AzaionSettings))
    lines += ["## Every service", "", *header, *common, ""]
    for service, cls in services():
        lines += [f"## {service}", "", *header, *(r for r in rows(cls) if r not in common), ""]
    return "\n".join(lines)


def subcommands(parser: argparse.ArgumentParser):
    """Every subparser below ``parser``, depth first, in the order they were added."""
    for action in parser._actions:  # argparse keeps no public list of subparsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases name the same parser
                yield sub
                yield from subcommands(sub)


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Each program's top-level parser, built by its own ``build_parser()``."""
    return {name: importlib.import_module(f"{name}.__main__").build_parser() for name in PROGRAMS}


def cli() -> str:
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse wraps help to the terminal: fix it for a stable page
    lines = [
        "# Command lines",
        "",
        "Generated from the argparse parsers by `python scripts/docs_reference.py` (a test keeps it current):",
        "each command's `--help`, as it prints it. Run them inside the development virtualenv",
        "(`.venv/bin/python -m ...`, or `. .venv/bin/activate`) or in a service's container",
        "(`docker compose exec api python -m api ...`). Every command also answers `--version`, and ends",
        "with the statuses of [exit codes](exit-codes.md).",
        "",
    ]
    for parser in parsers().values():
        lines += [f"## `{parser.prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
        for sub in subcommands(parser):
            lines += [f"### `{sub.prog}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def openapi() -> dict:
    """The api's OpenAPI schema, from an app built on a throw-away data root."""
    from api.app import create_app
    from api.settings import ApiSettings

    with tempfile.TemporaryDirectory() as root:
        settings = ApiSettings(root=root, env="development", api={"jwt_secret": secrets.token_urlsafe(48)})
        return create_app(settings).openapi()


def schema_type(schema: dict | bool) -> str:
    if not isinstance(schema, dict):  # JSON Schema's `true`: anything
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(schema_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {schema_type(schema.get('items', {}))}"
    if schema.get("type") == "object" and "additionalProperties" in schema:
        return f"map of {schema_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    return schema.get("type", "any")


def http_api() -> str:
    spec = openapi()
    lines = [
        "# HTTP api",
        "",
        "Generated from the api's OpenAPI schema by `python scripts/docs_reference.py` (a test keeps it",
        "current); the routes and bodies are defined once, in `azaion_shared.http_contract`, which the api",
        "serves and the clients parse with. With `AZAION_API__DOCS=true` (or outside production) the api",
        "serves the same schema at `/openapi.json` and an interactive page at `/docs`.",
        "",
        "Every route but `/healthz` and `/login` needs `Authorization: Bearer TOKEN` (the token from",
        '`POST /login`). Errors answer `{"detail": "..."}` with one sentence saying what was wrong:',
        "",
        "| status | when |",
        "|---|---|",
        "| 400 | a name or body that is refused (a resource name outside the naming rule, a malformed manifest) |",
        "| 401 | no token, or one that is malformed, expired or not signed by this api; log in again |",
        "| 403 | the account's role may not do this (a Device storing anything, a non-Admin listing devices) |",
        "| 404 | no such resource, part, metadata or target |",
        "| 409 | a release that exists with other content, a channel pointer that is not newer |",
        "| 413 | an upload over the size limit |",
        "| 422 | a body or parameter of the wrong shape (which field, and why) |",
        "| 429 | too many failed logins for this account or address; `Retry-After` says when to try again |",
        "| 503 | every password-hash slot is busy; `Retry-After` says when to try again |",
        "",
        "Clients log in again once on 401 and retry with back-off on 5xx and connection errors",
        "(`azaion_shared.api_client`).",
        "",
        "## Routes",
        "",
    ]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            lines += [f"### {method.upper()} `{path}`", ""]
            text = (op.get("description") or op.get("summary") or "").replace("``", "`").strip()
            lines += [text, ""]
            lines += ["Authentication: " + ("Bearer token." if op.get("security") else "none."), ""]
            for parameter in op.get("parameters", []):
                where = parameter["in"]
                lines.append(f"- {where} parameter `{parameter['name']}`: {schema_type(parameter.get('schema', {}))}")
            if op.get("parameters"):
                lines.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [f"Body ({media}): {schema_type(content.get('schema', {}))}", ""]
            answer = op["responses"].get("200", {}).get("content", {})
            for media, content in answer.items():
                lines += [f"Answer 200 ({media}): {schema_type(content.get('schema', {}))}", ""]
    lines += ["## Bodies", ""]
    for name, schema in spec["components"]["schemas"].items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        lines += [f"### {name}", ""]
        if schema.get("description"):
            lines += [schema["description"].replace("``", "`").strip(), ""]
        lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
        required = set(schema.get("required", []))
        for field, spec_ in schema.get("properties", {}).items():
            meaning = (spec_.get("description") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{field}` | {schema_type(spec_)} | {'yes' if field in required else 'no'} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


PAGES = {"configuration.md": configuration, "cli.md": cli, "http-api.md": http_api}


def main() -> int:
    stale = []
    for name, render in PAGES.items():
        path = REFERENCE / name
        text = render().rstrip() + "\n"
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/docs_reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
