"""One error tree: every exception class the project defines lives in an errors module and derives
from AzaionError (shared errors in azaion_shared/errors.py, each service's in <service>/errors.py)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = [
    REPO / "shared" / "azaion_shared",
    *sorted(p for p in (REPO / "services").glob("*/*") if (p / "__init__.py").exists()),
]


def exception_classes() -> list[tuple[Path, str]]:
    """(file, class name) of every class whose base looks like an exception, outside tests."""
    found = []
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    bases = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
                    if any(b.endswith(("Error", "Exception", "Unavailable", "Ended")) for b in bases):
                        found.append((path, node.name))
    return found


def test_every_exception_is_defined_in_an_errors_module():
    classes = exception_classes()
    assert len(classes) > 20  # the scan found the tree
    stray = [f"{path.relative_to(REPO)}: {name}" for path, name in classes if path.name != "errors.py"]
    assert stray == []


def test_every_exception_derives_from_azaion_error():
    from azaion_shared.errors import AzaionError

    for path, name in exception_classes():
        package = path.parent.name
        module = importlib.import_module(f"{package}.errors")
        assert issubclass(getattr(module, name), AzaionError), f"{package}.errors.{name}"
