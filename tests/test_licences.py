"""The project's licence is stated everywhere it should be, and every image's third-party licence list is
current and holds only licences someone accepted or reviewed (scripts/licences.py)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from scripts import load

REPO = Path(__file__).resolve().parent.parent


def licences_module():
    return load("licences")


def test_the_project_is_agpl_in_the_licence_file_and_every_package():
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in (REPO / "LICENSE").read_text()[:200]
    projects = [REPO / "shared" / "pyproject.toml", *sorted((REPO / "services").glob("*/pyproject.toml"))]
    assert len(projects) == 7
    for path in projects:
        assert tomllib.loads(path.read_text())["project"]["license"] == "AGPL-3.0-or-later", path


def test_every_image_list_is_current_and_every_licence_is_accepted_or_reviewed():
    script = REPO / "scripts" / "licences.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_package_with_an_unknown_or_incompatible_licence_is_refused():
    licences = licences_module()
    package = {"Name": "newdep", "Version": "1.0", "URL": ""}
    assert licences.verdict({**package, "License": "MIT AND Apache-2.0 WITH LLVM-exception"}) is None
    assert licences.verdict({**package, "License": "BSD License; MIT License"}) is None
    assert "not reviewed" in licences.verdict({**package, "License": "UNKNOWN"})
    assert "not reviewed" in licences.verdict({**package, "License": "SSPL-1.0"})
    assert "not reviewed" in licences.verdict({**package, "License": "MIT AND LicenseRef-Proprietary"})
    # a reviewed one passes only by its own name
    assert licences.verdict({**package, "Name": "nvidia-cublas", "License": "LicenseRef-NVIDIA-Proprietary"}) is None


def test_an_image_list_names_every_package_the_image_installs():
    licences = licences_module()
    names = set(licences.closure("azaion-api"))
    assert {"azaion-api", "azaion-shared", "fastapi", "uvicorn", "pyjwt", "argon2-cffi"} <= names
    assert "torch" not in names  # only what the api's image installs
    listed = (REPO / "docs" / "licences" / "api.md").read_text()
    for name in ("fastapi", "uvicorn", "dumb-init"):
        assert f"| {name} |" in listed.lower()
