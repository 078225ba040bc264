"""The house rules a newcomer relies on, read from the code itself (docs/architecture.md):

- only the inference backends and the trainer's export import the vendor SDK modules;
- no service spells a shared agreement's literal (run-file names, part suffixes, backend and format
  names, role names, variant names) outside its one definition in ``azaion_shared``;
- no product function is longer than 80 lines;
- no import circle between modules;
- no exception of ours is caught and re-raised as another of ours (foreign errors are translated once,
  at the module that meets them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "shared" / "azaion_shared"
SERVICES = sorted(p / p.name for p in (ROOT / "services").iterdir() if (p / p.name).is_dir())

#: the literals of the shared agreements, and where each is defined
CONTRACT_LITERALS = {
    **dict.fromkeys(("results.csv", "gate.json", "best.pt", "last.pt"), "paths.RunDir"),
    **dict.fromkeys(("data.yaml", "manifest.json", "histogram.json", "histogram.txt"), "paths.DatasetDir"),
    **dict.fromkeys(("azaion.pt", "azaion.pt.json"), "paths.CURRENT_MODEL / CURRENT_RUN"),
    **dict.fromkeys(("onnx", "onnxruntime", "tensorrt", "rknn", "auto"), "model_formats"),
    **dict.fromkeys(("Admin", "ResourceUploader", "Operator", "Validator", "Device"), "roles.Role"),
}
PART_SUFFIXES = (".small", ".big")  # distribution.small_name / big_name

#: (module, literal): why that module may spell it
ALLOWED = {
    ("inference/release_cache.py", "manifest.json"): "the edge cache's own copy of a signed manifest",
    ("trainer/export.py", "onnx"): "ultralytics' own format argument, and the RKNN converter's request key",
    ("trainer/rknn_convert.py", "onnx"): "the converter runs in its own virtualenv and imports nothing of ours",
    ("inference/tiles.py", "auto"): "the --tiles choice auto, not a backend",
    ("inference/settings.py", "auto"): "the --tiles default auto, not a backend",
}


def product_modules() -> list[Path]:
    files = [*SHARED.rglob("*.py")]
    for package in SERVICES:
        files += package.rglob("*.py")
    return sorted(p for p in files if "tests" not in p.relative_to(ROOT).parts)


def service_modules() -> list[Path]:
    return [p for p in product_modules() if SHARED not in p.parents]


def package_of(path: Path) -> Path:
    return next(p for p in (SHARED, *SERVICES) if p in path.parents or p == path.parent)


def where(path: Path) -> str:
    """``inference/backends/onnx.py``: a module's path from its package's parent."""
    return path.relative_to(package_of(path).parent).as_posix()


def docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_backends_and_the_trainer_export_import_vendor_sdk_modules():
    allowed = {"inference/backends", "trainer/export.py"}
    offenders = []
    for path in service_modules():
        name = where(path)
        if any(name.startswith(a) for a in allowed):
            continue
        vendors = sorted(m for m in imported_modules(ast.parse(path.read_text())) if "azaion_shared.vendors" in m)
        if vendors:
            offenders.append(f"{name}: {vendors}")
    assert offenders == []


def test_no_service_module_spells_a_shared_agreement():
    offenders = []
    for path in service_modules():
        tree = ast.parse(path.read_text())
        skip = docstring_nodes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in skip:
                continue
            value, name = node.value, where(path)
            if value in CONTRACT_LITERALS and (name, value) not in ALLOWED:
                offenders.append(f"{name}:{node.lineno}: {value!r} (use azaion_shared.{CONTRACT_LITERALS[value]})")
            elif value.endswith(PART_SUFFIXES) and value.startswith("."):
                offenders.append(f"{name}:{node.lineno}: {value!r} (use azaion_shared.distribution)")
    assert offenders == []


def test_no_service_builds_variant_names_itself():
    """``{name}+{i}`` is paths.variant_stem's to build: no f-string of a service joins a value and '+'."""
    offenders = []
    for path in service_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                parts = node.values
                for before, text, after in zip(parts, parts[1:], parts[2:], strict=False):
                    if (
                        isinstance(before, ast.FormattedValue)
                        and isinstance(text, ast.Constant)
                        and text.value in ("+", "_")
                        and isinstance(after, ast.FormattedValue)
                    ):
                        offenders.append(f"{where(path)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("limit", [80])
def test_no_product_function_is_longer_than_80_lines(limit):
    long = []
    for path in product_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    long.append(f"{where(path)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(package_of(path).parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circle():
    graph = {module_name(p): imported_modules(ast.parse(p.read_text())) for p in product_modules()}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    circles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                circles.append(" -> ".join([*trail[trail.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert "inference.edge" in graph and "azaion_shared.http_contract" in graph  # the walk saw the house
    assert circles == []


def our_exceptions() -> set[str]:
    names = {"AzaionError"}
    for path in [SHARED / "errors.py", *(package / "errors.py" for package in SERVICES)]:
        if path.exists():
            tree = ast.parse(path.read_text())
            names.update(n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
            assigned = (t for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets)
            names.update(t.id for t in assigned if isinstance(t, ast.Name))
    return names


def test_no_exception_of_ours_is_reraised_as_another_of_ours():
    ours, offenders = our_exceptions(), []
    for path in product_modules():
        for handler in ast.walk(ast.parse(path.read_text())):
            if not isinstance(handler, ast.ExceptHandler) or handler.type is None:
                continue
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught = {getattr(t, "id", None) or getattr(t, "attr", None) for t in types} & ours
            if not caught:
                continue
            for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    made = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                    name = getattr(made, "id", None) or getattr(made, "attr", None)
                    if name in ours and name not in caught and name != "type":
                        offenders.append(f"{where(path)}:{node.lineno}: {sorted(caught)} re-raised as {name}")
    assert offenders == []
