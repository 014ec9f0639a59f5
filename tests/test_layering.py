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


# infra/'s three rooms: a command may use the runtime and the benchmarks, a benchmark
# the runtime, the runtime neither
INFRA_ALLOWED = {"runtime": set(), "bench": {"runtime"}, "cli": {"runtime", "bench"}}


def _infra_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {m.split(".")[2] for m in modules
            if m.startswith("plumeline.infra.") and m.split(".")[2] in INFRA_ALLOWED}


@pytest.mark.parametrize("room", sorted(INFRA_ALLOWED))
def test_infra_rooms_import_one_way(room):
    wrong = {}
    for path in (ROOT / "infra" / room).rglob("*.py"):
        bad = _infra_rooms(path) - INFRA_ALLOWED[room] - {room}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"infra/{room}/ may import only {sorted(INFRA_ALLOWED[room])}: {wrong}"


def test_infra_holds_only_its_rooms():
    loose = sorted(p.name for p in (ROOT / "infra").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"infra/ modules belong in runtime/, cli/ or bench/: {loose}"


def test_only_infra_reads_the_environment():
    readers = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        if package != "infra"
        for path in (ROOT / package).rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert readers == []
