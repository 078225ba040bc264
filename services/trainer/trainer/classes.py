"""The class list kept in the repository, padded to a fixed head size for data.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from trainer.errors import DatasetError

HEAD_SIZE = 80


def load_classes(path: Path | None = None) -> dict[int, str]:
    text = path.read_text() if path else resources.files("trainer").joinpath("classes.yaml").read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not all(isinstance(k, int) and isinstance(v, str) for k, v in data.items()):
        raise DatasetError(f"classes file {path or 'trainer/classes.yaml'} must map integer ids to names")
    if any(not 0 <= k < HEAD_SIZE for k in data):
        raise DatasetError(f"class ids must be within 0..{HEAD_SIZE - 1}")
    return dict(sorted(data.items()))


def padded_names(classes: dict[int, str]) -> dict[int, str]:
    """Exactly HEAD_SIZE names: the known ones, and ``unused_{id}`` for the others."""
    return {i: classes.get(i, f"unused_{i}") for i in range(HEAD_SIZE)}
