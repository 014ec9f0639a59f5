"""constraints.txt pins what the tests run on, and pyproject.toml's ranges admit it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _lock_tool():
    spec = importlib.util.spec_from_file_location("lock", ROOT / ".ci" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _lock_tool()


def _locked() -> dict[str, str]:
    lines = lock.LOCK.read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pins}


def test_every_requirement_is_locked_at_a_version_its_range_admits():
    locked = _locked()
    for line in lock.roots():
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in constraints.txt: run `just lock`"
        assert requirement.specifier.contains(locked[name]), (
            f"pyproject.toml asks {line!r}, constraints.txt pins {locked[name]}")


def test_the_environment_is_the_locked_one():
    """The tests ran on exactly the locked versions (what `just bootstrap` installs);
    after an upgrade, `just lock` records the new ones."""
    assert lock.LOCK.read_text() == lock.render(lock.closure(lock.roots()))


def test_bootstrap_installs_from_the_lock_and_reinstalls_when_it_changes():
    recipe = (ROOT / "justfile").read_text().split("\nbootstrap:")[1].split("\n\n")[0]
    assert "-c constraints.txt -e '.[dev]'" in recipe
    assert "constraints.txt | sha256sum" in recipe  # the stamp's hash covers the lock
