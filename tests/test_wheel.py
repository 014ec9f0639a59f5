"""The wheel a user installs: everything under `plumeline`, nothing else at the top of
site-packages (generic names like `events` would shadow or be shadowed by other
distributions), and the dashboard's static files inside it.

The wheel is installed without dependencies into a venv of its own; `plumeline.events`
needs only msgspec and cryptography, which are copied in from this environment's
installed distributions (offline, no index), so the check takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
EVENTS_NEEDS = ["msgspec", "cryptography"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources: setuptools builds in the source tree's build/,
    which a build in the checkout would leave behind, and whose stale files (a module
    since deleted) a later build there would put into its wheel."""
    out = tmp_path_factory.mktemp("wheel")
    sources = tmp_path_factory.mktemp("sources") / "plumeline"
    shutil.copytree(ROOT, sources, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
        ".plumeline"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out),
         str(sources)],
        check=True, cwd=out,
    )
    (built,) = out.glob("plumeline-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv holding the wheel and the dependencies of `plumeline.events`."""
    env = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    for dist in _closure(EVENTS_NEEDS):
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if source.is_file() and not str(file).startswith(".."):
                (site / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, site / file)
    return python


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `names` need at run time, recursively."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower()
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def _run(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    # -I: no user site, no PYTHONPATH, no current directory on sys.path
    return subprocess.run([str(python), "-I", "-c", code], cwd=cwd, capture_output=True,
                          text=True)


def test_the_wheel_holds_plumeline_and_nothing_else_at_the_top(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    dist, version = wheel.name.split("-")[:2]
    assert {name.split("/")[0] for name in names} == {"plumeline", f"{dist}-{version}.dist-info"}
    assert "plumeline/__init__.py" not in names  # a namespace package (PEP 420)
    packages = {name.split("/")[1] for name in names if name.startswith("plumeline/")}
    assert packages == {"events", "actors", "projections", "serve", "simulator", "infra"}


def test_the_wheel_carries_the_dashboards_static_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    static = ROOT / "serve" / "static"
    expected = {
        f"plumeline/serve/static/{path.relative_to(static).as_posix()}"
        for path in static.rglob("*") if path.is_file()
    }
    assert "plumeline/serve/static/index.html" in expected
    assert expected <= names, sorted(expected - names)


def test_installed_from_the_wheel_events_imports_as_plumeline_events(venv, tmp_path):
    done = _run(venv, "import plumeline.events as e, sys; print(e.__file__)", tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(venv.parents[1]) in done.stdout  # the venv's copy, not the repository's
    assert str(ROOT) not in done.stdout


def test_installed_from_the_wheel_there_is_no_top_level_events(venv, tmp_path):
    done = _run(venv, "import events; print(events.__file__)", tmp_path)
    # absent, or another distribution's: never Plumeline's folder
    if done.returncode != 0:
        assert "ModuleNotFoundError: No module named 'events'" in done.stderr
    else:
        assert "TreeHead" not in _run(venv, "import events; print(dir(events))", tmp_path).stdout
