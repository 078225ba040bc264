"""Every setting of every service appears in .env.example (DESIGN.md, "Configuration")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def variables(model: type[BaseModel], prefix: str = "AZAION_") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def settings_classes():
    from console.settings import ConsoleSettings

    from api.settings import ApiSettings
    from augmentor.settings import AugmentorSettings
    from inference.settings import InferenceSettings
    from ingestor.settings import IngestorSettings
    from trainer.settings import TrainerSettings

    return [ApiSettings, IngestorSettings, AugmentorSettings, TrainerSettings, InferenceSettings, ConsoleSettings]


@pytest.mark.parametrize("cls", settings_classes(), ids=lambda c: c.__name__)
def test_every_setting_is_in_env_example(cls):
    lines = ENV_EXAMPLE.read_text().splitlines()
    present = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_0-9]+=", line)}
    missing = sorted(variables(cls) - present - {"AZAION_MODEL_KEY"})
    assert not missing, f"{cls.__name__}: add these to .env.example with a comment: {missing}"


def test_every_variable_has_a_comment_above_it():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_0-9]+=", line):
            j = i - 1
            while j >= 0 and re.match(r"^[A-Z_0-9]+=", lines[j]):
                j -= 1  # a group of variables under one comment
            assert j >= 0 and lines[j].startswith("#"), f".env.example line {i + 1} ({line}) has no comment"


def test_an_edge_device_env_holds_no_cdn_credentials_and_every_fleet_setting():
    """Least privilege (issue 17): a device's .env and its compose file name no CDN credentials."""
    edge = ENV_EXAMPLE.with_name(".env.edge.example").read_text()
    names = {line.split("=", 1)[0] for line in edge.splitlines() if re.match(r"^[A-Z_0-9]+=", line)}
    assert not [n for n in names if n.startswith("AZAION_CDN__") or n.startswith("MINIO_")]
    assert "AZAION_TRAINER__SIGNING_KEY" not in names
    fleet = {"TRUSTED_ROOT", "CHANNEL", "POLL_SECONDS", "HEARTBEAT_SECONDS", "DEVICE_NAME"}
    assert {f"AZAION_INFERENCE__{n}" for n in fleet} <= names
    compose = ENV_EXAMPLE.with_name("docker-compose.edge.yml").read_text()
    assert "AZAION_CDN__" not in compose and "MINIO" not in compose and "root.json" in compose
    assert ".key" not in compose  # no private key of any role on a device
