"""Write docs/configuration.md from the settings classes: every variable, its type, default and meaning.

python scripts/config_reference.py          write it
python scripts/config_reference.py --check  exit 1 when the file is out of date (a test runs this)
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "configuration.md"


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


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the settings classes by `python scripts/config_reference.py` (a test keeps it current).",
        "Every service reads environment variables with the `AZAION_` prefix, and `.env` in its working",
        "directory (the environment wins); nested settings use `__`.",
        "An empty value means the default. `.env.example` has the same variables with comments.",
        "",
    ]
    from azaion_shared.settings import AzaionSettings

    header = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    common = list(rows(AzaionSettings))
    lines += ["## every service", "", *header, *common, ""]
    for service, cls in services():
        lines += [f"## {service}", "", *header, *(r for r in rows(cls) if r not in common), ""]
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
