"""Dependencies point one way (STYLE.md, layout rule 1), and configuration is read
only in infra/."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["events", "actors", "projections", "serve", "simulator", "infra"]
ALLOWED = {
    "events": set(),
    "actors": {"events"},
    "projections": {"events"},
    "simulator": {"events"},
    "serve": {"events", "projections"},
    "infra": set(PACKAGES),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {_package(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "plumeline":
                found |= {alias.name for alias in node.names}
            else:
                found.add(_package(node.module))
    return found


def _package(module: str) -> str:
    """`plumeline.events.domain` -> `events`; anything else -> its top-level name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "plumeline" and len(parts) > 1 else parts[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_lies_below_it(package):
    wrong = {}
    for path in (ROOT / package).rglob("*.py"):
        bad = (_imports(path) & set(PACKAGES)) - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"{package}/ may import only {sorted(ALLOWED[package])}: {wrong}"


def test_only_infra_reads_the_environment():
    readers = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        if package != "infra"
        for path in (ROOT / package).rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert readers == []
